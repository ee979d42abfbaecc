"""The insights page in a real browser (Debian's Chromium via Playwright) over a year of
generated history: the table fits its frame, every type has its chart, the CSV downloads,
and nothing the Content-Security-Policy blocks. Saves insights.png in the `screenshots`
directory (var/screenshots; `make screenshots` refreshes docs/screenshots)."""

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
# (type, severity, metric, direction, count, P(loss after), P(expansion after), P(dismissed FP))
PATTERNS = [
    ("drop", "critical", "api_calls", "negative", 40, 0.35, 0.0, 0.1),
    ("drop", "warning", "logins", "negative", 30, 0.12, 0.02, 0.3),
    ("drop", "warning", "feature:reports", "negative", 60, 0.05, 0.02, 0.6),
    ("feature_abandonment", "warning", "feature:export", "negative", 12, 0.2, 0.0, 0.2),
    ("spike", "info", "active_users", "positive", 35, 0.02, 0.3, 0.05),
    ("gradual_decline", "critical", "logins", "negative", 8, 0.5, 0.0, 0.0),
]


def _history(users):
    from anomalies.models import UsageAnomaly
    from customers.models import Customer, LifecycleEvent

    rng = random.Random(13)
    customers = Customer.objects.bulk_create(
        Customer(name=f"Account {i:03d}", external_id=f"acct-{i}", csm=users[i % 2])
        for i in range(120)
    )
    anomalies, events = [], {}
    now = timezone.now()
    for kind, severity, metric, direction, count, p_loss, p_gain, p_fp in PATTERNS:
        for _ in range(count):
            customer = rng.choice(customers)
            start = START + dt.timedelta(days=rng.randrange(365))
            dismissed = rng.random() < p_fp
            anomaly = UsageAnomaly(
                customer=customer,
                metric_type=metric,
                anomaly_type=kind,
                severity=severity,
                direction=direction,
                baseline_value=Decimal(100),
                actual_value=Decimal(40),
                deviation_percent=Decimal(-60),
                detected_at=now,
                start_date=start,
                end_date=start + dt.timedelta(days=5),
                status="dismissed" if dismissed else "resolved",
                dismiss_reason="false_positive" if dismissed else "",
                dismissed_at=now if dismissed else None,
            )
            for outcome, p in (("contracted", p_loss), ("expanded", p_gain)):
                if rng.random() < p:
                    date = start + dt.timedelta(days=rng.randrange(1, 80))
                    events[(customer.pk, outcome, date)] = customer
                    anomaly.outcome = outcome  # as the CSM recorded it
            anomalies.append(anomaly)
    for customer in rng.sample(customers, 12):  # the base rate's own losses and expansions
        kind = rng.choice(["churned", "contracted", "expanded"])
        events[(customer.pk, kind, START + dt.timedelta(days=rng.randrange(365)))] = customer
    UsageAnomaly.objects.bulk_create(anomalies)
    LifecycleEvent.objects.bulk_create(
        LifecycleEvent(customer=customer, kind=kind, date=date)
        for (_, kind, date), customer in events.items()
    )


def test_the_insights_page_reads_well(
    live_server, django_user_model, settings, monkeypatch, screenshots
):
    from playwright.sync_api import sync_playwright

    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ops = django_user_model.objects.create_user("ops", password="ops-pass-123", is_staff=True)
    maya = django_user_model.objects.create_user("maya", password="m", first_name="Maya")
    _history([maya, ops])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                base_url=live_server.url,
                viewport={"width": 1280, "height": 900},
                accept_downloads=True,
            )
            page = context.new_page()
            problems = []
            page.on("response", lambda r: r.status >= 500 and problems.append(r.url))
            page.on(
                "console",
                lambda m: "Content Security Policy" in m.text and problems.append(m.text),
            )
            page.goto("/accounts/login/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", "ops-pass-123")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(lambda url: "/accounts/login/" not in url)

            page.get_by_role("link", name="Insights").click()
            page.fill("#q-start", START.isoformat())
            page.fill("#q-end", END.isoformat())
            page.get_by_role("button", name="Show").click()
            page.wait_for_url(lambda url: "start=2025-01-01" in url)

            table = page.locator("#effectiveness")
            assert table.locator("tbody tr[data-type]").count() == len(PATTERNS)
            assert page.locator("svg.insights-chart").count() == len({p[0] for p in PATTERNS})
            # Nothing sticks out of the page: the table fits main's width.
            main_box = page.locator("main").bounding_box()
            table_box = table.bounding_box()
            assert table_box["x"] + table_box["width"] <= main_box["x"] + main_box["width"] + 1
            for chart in page.locator("svg.insights-chart").all():
                box = chart.bounding_box()
                assert box["x"] + box["width"] <= main_box["x"] + main_box["width"] + 1
            assert page.locator("#precision svg.sparkline").count() == len({p[0] for p in PATTERNS})
            page.screenshot(path=str(screenshots / "insights.png"), full_page=True)

            with page.expect_download() as download:
                page.locator("#csv-link").click()
            lines = Path(download.value.path()).read_text().splitlines()
            assert lines[0].startswith("anomaly_type,severity,metric_family,anomalies")
            assert len(lines) == 1 + len(PATTERNS)
        finally:
            browser.close()
    assert not problems, problems
