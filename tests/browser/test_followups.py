"""Follow-ups in a real browser: Maya clicks "Schedule training" on CloudFirst's card, follows
the message's link to "My follow-ups", where an older follow-up reads "Overdue by 3 days",
and closes the new one as done with an outcome, which becomes the anomaly's outcome."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from anomalies.models import FollowUp, Outcome
from customers.demo import DEMO_USERS
from tests.browser.test_csm_journey import _login
from tests.factories import FollowUpFactory, make_anomaly_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portfolio(transactional_db, settings, monkeypatch, django_user_model, make_customer):
    """Maya (the demo's login) with CloudFirst's abandoned feature and an overdue follow-up
    on another account; cookies that work over the live server's plain HTTP."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    # Playwright's sync API keeps an event loop on this thread (see test_csm_journey).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    spec = next(u for u in DEMO_USERS if u.username == "maya")
    maya = django_user_model.objects.create_user(
        username=spec.username,
        password=spec.password,
        first_name=spec.first_name,
        last_name=spec.last_name,
    )
    abandonment = make_anomaly_of(
        make_customer(name="CloudFirst Inc", csm=maya),
        metric_type="feature:reports",
        anomaly_type="feature_abandonment",
        severity="warning",
    )
    late = FollowUpFactory(
        anomaly=make_anomaly_of(make_customer(name="Nexus Corp", csm=maya), positive=True),
        kind="explore_expansion",
        title="Explore expansion: Nexus Corp",
        overdue=True,
    )
    return {"anomaly": abandonment, "late": late}


def test_a_card_action_opens_a_follow_up_closed_with_an_outcome(
    portfolio, chromium, live_server, screenshots
):
    from playwright.sync_api import expect

    page, server_errors = _login(chromium, live_server.url, "maya")
    page.goto("/")
    card = page.locator("section.card", has_text="CloudFirst Inc")
    card.get_by_role("button", name="Schedule training").click()

    message = page.locator(".messages")
    expect(message).to_contain_text("Follow-up opened: Schedule training: CloudFirst Inc")
    due = timezone.localdate() + dt.timedelta(days=7)
    expect(message).to_contain_text(f"due {due:%b} {due.day}, {due.year}")
    # The card now names the follow-up planned on it.
    expect(card.locator(".card-followup")).to_contain_text("Follow-up: Schedule training, due")
    message.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/followups/(#followup-[0-9a-f-]+)?$"))

    followup = FollowUp.objects.get(anomaly=portfolio["anomaly"])
    row = page.locator(f"#followup-{followup.pk}")
    late_row = page.locator(f"#followup-{portfolio['late'].pk}")
    expect(late_row).to_contain_text("Overdue by 3 days")
    expect(row).not_to_contain_text("Overdue")
    page.screenshot(path=str(screenshots / "followups.png"), full_page=True)

    row.locator("summary", has_text="Close").click()
    row.get_by_label("What did it lead to?").select_option("no_impact")
    row.get_by_label("Note").fill("Training booked; usage back within a week")
    row.get_by_role("button", name="Mark done").click()

    expect(page.locator(".messages")).to_contain_text(
        "Done: Schedule training: CloudFirst Inc (Feature abandonment: Reports module -67%). "
        "Outcome: No impact."
    )
    # The open list no longer has it; the overdue one is still there.
    expect(page.locator(f"#followup-{followup.pk}")).to_have_count(0)
    expect(late_row).to_be_visible()
    anomaly = portfolio["anomaly"]
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_note) == (
        Outcome.NO_IMPACT,
        "Training booked; usage back within a week",
    )
    # The account's page lists it, done, with what it led to.
    page.goto(f"/customers/{anomaly.customer_id}/")
    done_row = page.locator(f"#followup-{followup.pk}")
    expect(done_row).to_contain_text("Done")
    expect(done_row).to_contain_text("No impact")
    done_row.scroll_into_view_if_needed()
    assert not server_errors, server_errors
