"""A CSM's morning in a real browser: Debian's Chromium driven by Playwright against the live
server, over the demo portfolio and a real scan.

Maya logs in, sees her three stories in order of urgency, asks about DataFlow, opens its page
(the anomaly first, then its chart, whose days show their values on hover), dismisses
CloudFirst's anomaly as a false positive, exports the report; Leo cannot open Maya's account.
Every run saves portfolio.png and customer.png in the `screenshots` directory
(var/screenshots; `make screenshots` refreshes docs/screenshots).

The pages say what is recent relative to today (the assistant's answer covers the last 30
days), so the demo ends on a recent day, not a fixed one: the latest day at most two weeks back
whose last fortnight holds no US public holiday (holidays damp drops), else today.

The journey runs a second time on a demo that ends on 2026-11-30, when DataFlow's five-day
drop began on Thanksgiving (Nov 26): the engine reports it from the holiday, and the card and
the chart must say so (that run leaves the screenshots alone).
"""

import csv
import datetime as dt
import re

import holidays
import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
STORIES = ("DataFlow Systems", "CloudFirst Inc", "Nexus Corp")  # critical, warning, positive
CUSTOMER_PATH = re.compile(r"/customers/[0-9a-f-]{36}/$")
# DataFlow's drop is the demo's last five days: from Thanksgiving 2026 when it ends on Nov 30.
THANKSGIVING = dt.date(2026, 11, 26)
THANKSGIVING_AS_OF = dt.date(2026, 11, 30)


def _quiet_as_of(today: dt.date) -> dt.date:
    us = holidays.country_holidays("US", years=range(today.year - 1, today.year + 1))
    for back in range(15):
        day = today - dt.timedelta(days=back)
        if not any(day - dt.timedelta(days=n) in us for n in range(15)):
            return day
    return today


@pytest.fixture
def demo(request, transactional_db, settings, monkeypatch):
    """The demo portfolio, scanned, ending on the day given as the fixture's parameter (by
    default a recent quiet day); cookies that work over the live server's plain HTTP.
    Returns the demo's last day."""
    from anomalies.services.scans import scan_run_sync, scan_start

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    # Playwright's sync API keeps an event loop on this thread; the fixtures' own database
    # work (flush at teardown) must not be refused as "async".
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    as_of = getattr(request, "param", None) or _quiet_as_of(timezone.localdate())
    call_command(
        "seed_demo", "--accounts", "8", "--days", "200", "--as-of", as_of.isoformat(), verbosity=0
    )
    run = scan_run_sync(run=scan_start(trigger="shell", enqueue=False, as_of=as_of))
    assert run.status == "succeeded", run.status
    return as_of


@pytest.fixture
def browser(demo, chromium):
    return chromium


def _login(browser, base_url, username):
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    server_errors = []
    page.on("response", lambda r: r.status >= 500 and server_errors.append(f"{r.status} {r.url}"))
    # Chromium reports what the Content-Security-Policy blocked on the console: a page that
    # needs more than the policy allows is broken for real users, like a 500.
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and server_errors.append(f"CSP: {m.text}"),
    )
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page, server_errors


def _main_text(page) -> str:
    return page.locator("main").inner_text()


def _story_link(page, name):
    """The link of an account's card on the portfolio."""
    return page.locator("main").get_by_role("link", name=re.compile(re.escape(name))).first


def _follows(page, first, second) -> bool:
    """Whether element `second` comes after element `first` in the document."""
    return page.evaluate(
        "([a, b]) => Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)",
        [first.element_handle(), second.element_handle()],
    )


def _assert_drop_since_thanksgiving(page):
    """DataFlow's card on the portfolio and its page say the drop began on Thanksgiving and
    lasts five days; the API-call chart shades Nov 26 to Nov 30."""
    from playwright.sync_api import expect

    from anomalies.charts import MARGIN_LEFT, MARGIN_RIGHT, WIDTH
    from anomalies.views.customer import CHART_DAYS

    main = page.locator("main")
    card = main.locator("section.card", has_text="DataFlow Systems").first
    # A running drop's card counts its days up to today: five on the demo's last day.
    days = (timezone.localdate() - THANKSGIVING).days + 1
    expect(card).to_contain_text(
        re.compile(
            rf"{days} days, since Nov 26 \(Thanksgiving Day\)"
            r"|weeks ago, on Nov 26(, 2026)? \(Thanksgiving Day\)"
        )
    )
    expect(card).to_contain_text("drop in API calls")

    _story_link(page, "DataFlow Systems").click()
    expect(page).to_have_url(CUSTOMER_PATH)
    drop = main.locator("section.anomaly", has_text="drop in API calls")
    expect(drop).to_contain_text("Nov 26, 2026 (Thanksgiving Day) – ongoing")

    chart = main.locator("#metric-api_calls svg")
    shading = chart.locator("rect.anomaly")
    expect(shading).to_have_count(1)
    # The chart's own days, not today's: its window ends on the demo's last day.
    expect(shading.locator("title")).to_have_text(
        "critical anomaly Nov 26 – Nov 30, ongoing (5 days)"
    )
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / CHART_DAYS
    first_day = THANKSGIVING_AS_OF - dt.timedelta(days=CHART_DAYS - 1)
    x, width = (float(shading.get_attribute(name)) for name in ("x", "width"))
    assert first_day + dt.timedelta(days=round((x - MARGIN_LEFT) / slot)) == THANKSGIVING
    assert round(width / slot) == 5
    holidays = chart.locator("path.holiday title").all_text_contents()
    assert {"holiday Nov 26", "holiday Nov 27"} <= set(holidays), holidays


def _assert_anomaly_first_with_hover_values(page, as_of: dt.date):
    """DataFlow's page opens on its open anomaly, above the health panel and the charts; the
    API-call chart comes first, and hovering its last day shows that day's date and value
    (the day's SVG <title>, the browser's tooltip) and highlights its column."""
    from playwright.sync_api import expect

    from customers.models import UsageMetric

    main = page.locator("main")
    first_card = main.locator("section.anomaly").first
    expect(first_card).to_contain_text("drop in API calls")
    expect(first_card.locator(".badge").first).to_have_text("Critical")
    first_chart = main.locator("figure.chart[id^='metric-']").first
    expect(first_chart).to_have_attribute("id", "metric-api_calls")
    assert _follows(page, first_card, page.locator("#health")), "the anomaly comes first"
    assert _follows(page, first_card, first_chart), "the anomaly comes before the charts"

    value = UsageMetric.objects.get(
        customer__name="DataFlow Systems", metric="api_calls", date=as_of
    ).value
    last_day = first_chart.locator("g.days rect").last
    title = last_day.locator("title").text_content() or ""
    assert title.startswith(f"{as_of:%a %b} {as_of.day}, {as_of.year}"), title
    assert f"actual {float(value):,.1f}".removesuffix(".0") in title, (title, value)
    assert "critical anomaly" in title, title
    last_day.hover()
    opacity = last_day.evaluate("r => getComputedStyle(r).fillOpacity")
    assert float(opacity) > 0, "the hovered day's column is not highlighted"


@pytest.mark.parametrize(
    ("demo", "since_thanksgiving"),
    [(None, False), (THANKSGIVING_AS_OF, True)],
    ids=["recent", "thanksgiving"],
    indirect=["demo"],
)
def test_csm_journey(demo, since_thanksgiving, browser, live_server, screenshots):
    from playwright.sync_api import expect

    # The screenshots in the README show the recent demo.
    shoot = not since_thanksgiving
    page, server_errors = _login(browser, live_server.url, "maya")

    # The portfolio: the three stories, most urgent first.
    expect(page).to_have_url(re.compile(r"/$"))
    main = page.locator("main")
    for name in STORIES:
        expect(main.get_by_text(name).first).to_be_visible()
    cards = [main.get_by_text(name).first for name in STORIES]
    assert _follows(page, cards[0], cards[1]), "DataFlow (critical) must come before CloudFirst"
    assert _follows(page, cards[1], cards[2]), "CloudFirst (warning) must come before Nexus"
    if shoot:
        page.screenshot(path=str(screenshots / "portfolio.png"), full_page=True)
    if since_thanksgiving:
        _assert_drop_since_thanksgiving(page)
        page.goto("/")

    # The ask box: "Are there any usage anomalies for DataFlow?"
    before = _main_text(page)
    expect(main).to_contain_text("Are there any usage anomalies for")
    ask = page.locator('input[name="customer"]')
    ask.fill("DataFlow")
    ask.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]customer=DataFlow"))
    expect(main).to_contain_text("drop in API calls")
    after = _main_text(page)
    assert after.count("drop in API calls") > before.count("drop in API calls") or (
        "CloudFirst Inc" not in after
    ), "the answer must say something about DataFlow's drop in API calls"

    # DataFlow's page, from its card: a chart per metric.
    page.goto("/")
    _story_link(page, "DataFlow Systems").click()
    expect(page).to_have_url(CUSTOMER_PATH)
    dataflow_url = page.url
    expect(main).to_contain_text("DataFlow Systems")
    expect(main.locator("svg").first).to_be_visible()
    _assert_anomaly_first_with_hover_values(page, demo)
    if shoot:
        page.screenshot(path=str(screenshots / "customer.png"), full_page=True)

    # Dismiss CloudFirst's anomaly as a false positive: it leaves the portfolio.
    page.goto("/")
    _story_link(page, "CloudFirst Inc").click()
    expect(page).to_have_url(CUSTOMER_PATH)
    # The reason field carries a per-anomaly prefix ("<id>-reason").
    forms = main.locator("form").filter(has=page.locator('select[name$="reason"]'))
    expect(forms).not_to_have_count(0)
    for remaining in range(forms.count(), 0, -1):
        form = forms.first
        if not form.is_visible():  # folded away in a <details>: unfold it as a person would
            form.locator("xpath=ancestor::details[1]/summary").click()
        expect(form).to_be_visible()
        reason = form.locator('select[name$="reason"]')
        value = reason.evaluate(
            """s => [...s.options].find(o => /false.?positive/i.test(o.text + ' ' + o.value))
                    ?.value ?? null"""
        )
        assert value is not None, "no 'false positive' reason to choose"
        reason.select_option(value)
        form.locator('[type="submit"], button:not([type])').first.click()
        expect(forms).to_have_count(remaining - 1)
    page.goto("/")
    expect(main.get_by_text("DataFlow Systems").first).to_be_visible()
    expect(main).not_to_contain_text("CloudFirst Inc")

    # The full table.
    main.get_by_role("link", name="View all anomalies").click()
    expect(page).to_have_url(re.compile(r"/anomalies/"))
    expect(main).to_contain_text("DataFlow Systems")

    # The report: a CSV download with a header and DataFlow's anomaly.
    page.goto("/")
    with page.expect_download() as download_info:
        main.get_by_role("link", name="Export report").click()
    download = download_info.value
    with open(download.path(), newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows, "the export is empty"
    header = [h.strip().lower() for h in rows[0]]
    assert len(header) >= 3 and any("customer" in h for h in header), header
    assert not any("DataFlow Systems" in cell for cell in rows[0])
    assert any("DataFlow Systems" in cell for row in rows[1:] for cell in row), rows[:5]

    assert server_errors == []

    # Another CSM cannot open Maya's account.
    leo, leo_errors = _login(browser, live_server.url, "leo")
    response = leo.goto(dataflow_url)
    assert response is not None and response.status == 404
    assert "DataFlow Systems" not in leo.content()
    assert leo_errors == []


def test_pages_keep_to_the_content_security_policy(browser, live_server):
    from playwright.sync_api import expect

    page, errors = _login(browser, live_server.url, "maya")
    documents = []
    page.on("response", lambda r: r.request.resource_type == "document" and documents.append(r))
    main = page.locator("main")

    # The portfolio, its ask box's suggestions (a script file and a fetch) and staff's switch.
    page.goto("/")
    expect(main.get_by_text("DataFlow Systems").first).to_be_visible()
    page.locator("#ask-customer").press_sequentially("Data")
    expect(page.locator("#ask-customers option").first).to_be_attached()

    # A customer's page with its server-rendered SVG charts.
    _story_link(page, "DataFlow Systems").click()
    expect(page).to_have_url(CUSTOMER_PATH)
    expect(main.locator("svg").first).to_be_visible()

    # Swagger UI renders the operations list (its start-up script is a file, not inline).
    page.goto("/api/docs/")
    expect(page.locator(".opblock-summary-path", has_text="/api/customers").first).to_be_visible()

    # Staff's portfolio switch and the admin pages.
    ops, ops_errors = _login(browser, live_server.url, "ops")
    ops.on("response", lambda r: r.request.resource_type == "document" and documents.append(r))
    ops.locator("#csm-switch").select_option("maya")
    expect(ops).to_have_url(re.compile(r"[?&]csm=maya"))
    for path in ("/admin/", "/admin/anomalies/usageanomaly/", "/admin/accounts/apitoken/add/"):
        assert ops.goto(path).status == 200, path

    assert documents, "no page was loaded"
    for response in documents:
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, f"{response.url}: {policy!r}"
    assert errors == [] and ops_errors == []
