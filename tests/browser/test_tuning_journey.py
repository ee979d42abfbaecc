"""The ops user accepts a tuning proposal in a real browser, and the next scan runs with it.

Over the hand-checked portfolio of tests/anomalies/tuning_data.py (feature:* drops mostly
dismissed as false positives), the weekly run has left one proposal: "feature:* drops:
minimum duration 2 → 3 days, drop threshold 30 % → 40 %". Olu (ops) follows the link from
/insights/ to /insights/tuning/, reads the backtest (one hidden churn, in red), accepts
with a reason; the sensitivity page shows the new feature:* row by him; a scan then no
longer reports Quiet's two-day drop, which the backtest said would disappear. Maya (a CSM)
sees no link and is refused.
"""

import re

import pytest

from anomalies.detection_settings import detection_config_for_series
from anomalies.models import TuningProposal, UsageAnomaly
from anomalies.services.tuning import proposals_create
from customers.demo import DEMO_USERS
from tests.anomalies.scan_data import scan
from tests.anomalies.tuning_data import AS_OF, PROPOSAL_TEXT, tuning_portfolio
from tests.browser.test_csm_journey import _login, _main_text

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REASON = "Feature blips are noise: 22 of 23 were dismissed."


@pytest.fixture
def portfolio(transactional_db, settings, monkeypatch, django_user_model, make_customer):
    """The demo's ops and Maya logins, the tuning portfolio (Maya's accounts) and its
    waiting proposal; cookies that work over the live server's plain HTTP."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    # Playwright's sync API keeps an event loop on this thread (see test_csm_journey).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    users = {}
    for spec in DEMO_USERS:
        if spec.username in ("ops", "maya"):
            users[spec.username] = django_user_model.objects.create_user(
                username=spec.username,
                password=spec.password,
                first_name=spec.first_name,
                last_name=spec.last_name,
                is_staff=spec.is_staff,
            )
    data = tuning_portfolio(make_customer, users["maya"])
    (proposal,) = proposals_create(as_of=AS_OF)
    assert proposal.text == PROPOSAL_TEXT
    return data | {"proposal": proposal}


def test_ops_accepts_a_proposal_and_the_next_scan_uses_it(portfolio, chromium, live_server):
    from playwright.sync_api import expect

    quiet = portfolio["accounts"]["Quiet"]
    # The scan decides Quiet's drop afresh: the stored row is what an older scan wrote.
    UsageAnomaly.objects.filter(customer=quiet).delete()

    page, server_errors = _login(chromium, live_server.url, "ops")
    page.goto("/insights/")
    page.locator("main").get_by_role("link", name="Tuning proposals").click()
    page.wait_for_url(re.compile(r"/insights/tuning/$"))
    card = page.locator("section.proposal", has_text=PROPOSAL_TEXT)
    expect(card).to_contain_text("96 % false positives (target 20 %)")
    expect(card.locator("[data-hides-churn]")).to_contain_text(
        "would have hidden 1 anomaly that preceded a churn"
    )
    expect(card.locator("td.churn")).to_have_text("1")
    card.get_by_label("Why").fill(REASON)
    card.get_by_role("button", name="Accept").click()

    page.wait_for_url(re.compile(r"/insights/tuning/$"))
    main = page.locator("main")
    expect(main.locator(".messages")).to_contain_text(f"Accepted: {PROPOSAL_TEXT}.")
    expect(main.locator("tr", has_text=PROPOSAL_TEXT)).to_contain_text("by Olu Okafor")
    expect(main.locator("tr", has_text=PROPOSAL_TEXT)).to_contain_text(REASON)
    assert "No proposal is waiting" in _main_text(page)

    page.goto("/settings/")
    row = page.locator("main tr", has_text="All features")
    expect(row).to_contain_text("Olu Okafor")
    # Drop, spike, z, min days: the proposal's own values, the rest the preset's.
    cells = [" ".join(c.split()) for c in row.locator("td.num").all_inner_texts()[:4]]
    assert cells == ["40", "50 preset 'medium'", "3.5 preset 'medium'", "3"]

    proposal = TuningProposal.objects.get()
    assert (proposal.status, proposal.decided_by.username, proposal.reason) == (
        "accepted",
        "ops",
        REASON,
    )

    # The next scan: the config in force for Quiet's feature says 3 days and 40 %, and the
    # two-day drop of May 6 the backtest listed as disappearing is not reported.
    (resolved,) = detection_config_for_series(series=[(quiet.pk, "feature:reports")])
    assert (resolved.config.min_duration_days, resolved.config.drop_percent) == (3, 40)
    run = scan(as_of=AS_OF, customer_ids=[quiet.pk])
    assert run.status == "succeeded"
    assert not UsageAnomaly.objects.filter(customer=quiet).exists()

    maya, maya_errors = _login(chromium, live_server.url, "maya")
    maya.goto("/insights/")
    expect(maya.locator("main").get_by_role("link", name="Tuning proposals")).to_have_count(0)
    response = maya.goto("/insights/tuning/")
    assert response.status == 403
    assert server_errors == maya_errors == []
