"""A CSM on the sensitivity page in a real browser: it opens on her own first account (never
the staff-only global scope, never another CSM's account), the metric is picked from her
accounts' metrics, the empty thresholds say what the chosen preset means (the page's script
refreshes them when she picks another sensitivity), and an override she saves she can remove
with its button. Nothing the Content-Security-Policy blocks, no server error. Saves
settings.png in the `screenshots` directory."""

import pytest
from django.utils import timezone

from customers.demo import DEMO_USERS
from customers.models import UsageMetric
from tests.browser.test_csm_journey import _login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def accounts(transactional_db, settings, monkeypatch, django_user_model, make_customer):
    """Maya's two accounts (Beta uses the reports feature) and Leo's, first by name;
    cookies that work over the live server's plain HTTP."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    # Playwright's sync API keeps an event loop on this thread (see test_csm_journey).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    users = {
        spec.username: django_user_model.objects.create_user(
            username=spec.username,
            password=spec.password,
            first_name=spec.first_name,
            last_name=spec.last_name,
        )
        for spec in DEMO_USERS
        if spec.username in ("maya", "leo")
    }
    acme = make_customer(name="Acme", csm=users["maya"])
    beta = make_customer(name="Beta", csm=users["maya"])
    make_customer(name="Aaa Leo's", csm=users["leo"])
    UsageMetric.objects.create(
        customer=beta, metric="feature:reports", date=timezone.localdate(), value=5
    )
    return {"acme": acme, "beta": beta}


def test_a_csm_tunes_and_resets_her_own_scope(accounts, chromium, live_server, screenshots):
    from playwright.sync_api import expect

    page, server_errors = _login(chromium, live_server.url, "maya")
    page.goto("/settings/")
    customer = page.locator("#id_customer")
    # Her own first account by name, chosen; no global scope, nobody else's account.
    expect(customer).to_have_value(str(accounts["acme"].pk))
    assert customer.locator("option").all_inner_texts() == ["Acme", "Beta"]
    metric = page.locator("#id_metric")
    assert "Reports feature" in metric.locator("option").all_inner_texts()

    drop = page.locator("#id_drop_percent")
    expect(drop).to_have_attribute("placeholder", "preset 'medium': 30")
    page.select_option("#id_sensitivity", "high")
    # The script asks the server what an empty drop threshold means at the high preset.
    expect(drop).to_have_attribute("placeholder", "preset 'high': 20")
    expect(page.locator("#id_drop_percent_help")).to_have_text("Empty: preset 'high': 20")

    page.select_option("#id_metric", label="Reports feature")
    page.fill("#id_min_duration_days", "4")
    page.get_by_role("button", name="Save").click()
    main = page.locator("main")
    expect(main.locator(".messages")).to_contain_text("Settings saved.")
    row = main.locator("#settings-in-force tr", has_text="Reports feature")
    expect(row).to_contain_text("Acme")
    expect(row).to_contain_text("High")
    page.screenshot(path=str(screenshots / "settings.png"), full_page=True)

    row.get_by_role("button", name="Remove").click()
    expect(main.locator(".messages")).to_contain_text(
        "Removed the override of Acme, Reports feature"
    )
    expect(main.locator("#settings-in-force tr", has_text="Reports feature")).to_have_count(0)
    assert server_errors == []
