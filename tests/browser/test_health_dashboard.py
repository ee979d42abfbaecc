"""The health dashboard in a real browser, over the scanned demo: Maya orders her portfolio by
health and by renewal date, opens DataFlow and reads its health panel (score, chart, the drop
that moved it, its risk signals). Reuses the journey's demo, browser and login."""

import re

import pytest

from tests.browser.test_csm_journey import _follows, _login, browser, demo  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_health_dashboard(demo, browser, live_server):  # noqa: F811
    from playwright.sync_api import expect

    from customers.models import Customer

    dataflow = Customer.objects.get(name="DataFlow Systems")
    score = dataflow.health_scores.get(date=demo).score
    page, server_errors = _login(browser, live_server.url, "maya")

    # Order by health: the lowest first, and each card says its score.
    page.locator("nav.sort").get_by_role("link", name="Health").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=health"))
    healths = [
        int(h)
        for h in page.locator("[data-health]").evaluate_all(
            "nodes => nodes.map(n => n.dataset.health)"
        )
    ]
    assert healths == sorted(healths) and len(healths) >= 3
    card = page.locator('section.card[data-customer="DataFlow Systems"]')
    expect(card.locator("[data-health]")).to_have_attribute("data-health", str(score))
    expect(card).to_contain_text("Renews ")

    # Order by renewal: DataFlow (45 days) before CloudFirst (130).
    page.locator("nav.sort").get_by_role("link", name="Renewal date").click()
    first = page.locator('section.card[data-customer="DataFlow Systems"]')
    second = page.locator('section.card[data-customer="CloudFirst Inc"]')
    assert _follows(page, first, second)

    # DataFlow's page: the panel near the top, its drop flagged with its points.
    first.get_by_role("link", name="DataFlow Systems").click()
    panel = page.locator("#health")
    expect(panel.locator("[data-score]")).to_have_text(f"{score}/100")
    expect(panel.locator("svg.health-chart")).to_be_visible()
    moves = panel.locator("ul.moves li")
    expect(moves.first).to_contain_text("Flagged")
    expect(moves.first).to_contain_text("drop in API calls")
    expect(moves.first).to_contain_text("-25 points")
    signal = panel.locator('tr[data-signal="usage_drop"]')
    expect(signal).to_contain_text("Open")
    # The flagged anomaly links to its card (above the panel since the cards open the page).
    moves.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"#anomaly-"))
    card = page.locator(page.url[page.url.index("#") :])
    expect(card).to_be_in_viewport()
    expect(card).to_contain_text("API calls")
    assert not server_errors, server_errors
