"""The account page: charts and anomalies, dismiss, reopen and rescan, as the owner, as
another CSM and as staff."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anomalies.models import AnomalyAction, DetectionSettings, ScanRun, UsageAnomaly
from tests.anomalies.scan_data import AS_OF, N_DAYS, day, scaled, usage, usage_store
from tests.factories import CustomerFactory, make_anomaly_of

pytestmark = pytest.mark.django_db

# ~120 days of history up to AS_OF, the last 6 of them down 65 %.
HISTORY = 120
FIRST_INDEX = N_DAYS - HISTORY


@pytest.fixture
def account(make_customer, csm):
    customer = make_customer(name="Acme Corp", csm=csm, arr=120000)
    usage_store(customer, "api_calls", usage(HISTORY, seed=1), first_index=FIRST_INDEX)
    usage_store(customer, "logins", usage(HISTORY, seed=2, level=80), first_index=FIRST_INDEX)
    return customer


@pytest.fixture
def anomaly(account, make_anomaly):
    return make_anomaly(
        account,
        metric_type="logins",
        baseline_value=80,
        actual_value=28,
        deviation_percent=-65,
        start_date=day(N_DAYS - 6),
        possible_cause="Seat reduction",
    )


def _page(customer, **query):
    url = reverse("customer-detail", args=[customer.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _dismiss(client, anomaly, **data):
    prefix = str(anomaly.pk)
    return client.post(
        reverse("anomaly-dismiss", args=[anomaly.pk]),
        {f"{prefix}-{key}": value for key, value in data.items()},
    )


def test_it_requires_login(client, account):
    response = client.get(_page(account))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_owner_sees_one_chart_per_metric_and_the_anomaly(client, csm, account, anomaly):
    client.force_login(csm)
    response = client.get(_page(account))
    assert response.status_code == 200
    body = response.content.decode()
    # The charts: the SVGs of the page's main part (the header's bell is one too).
    assert body.split("<main>")[1].count("<svg") == 2
    assert "Acme Corp" in body
    assert "65% drop in logins" in body
    assert "Seat reduction" in body
    assert 'class="anomaly"' in body  # the open anomaly is shaded on its chart
    assert "API calls per day" in body


def test_another_csm_gets_404(client, other_csm, account):
    client.force_login(other_csm)
    assert client.get(_page(account)).status_code == 404


def test_staff_see_any_account(client, staff, account):
    client.force_login(staff)
    assert client.get(_page(account)).status_code == 200


def test_the_metric_in_the_query_comes_first_and_is_highlighted(client, csm, account):
    client.force_login(csm)
    default = client.get(_page(account)).content.decode()
    assert default.index('id="metric-api_calls"') < default.index('id="metric-logins"')

    chosen = client.get(_page(account, metric="logins")).content.decode()
    assert chosen.index('id="metric-logins"') < chosen.index('id="metric-api_calls"')
    assert 'chart-selected" id="metric-logins"' in chosen


def test_an_account_without_usage_has_no_charts(client, csm, make_customer):
    customer = make_customer(csm=csm)
    client.force_login(csm)
    response = client.get(_page(customer))
    assert response.status_code == 200
    assert "<svg" not in response.content.decode().split("<main>")[1]


def test_dismiss_records_the_reason_and_the_action(client, csm, anomaly):
    client.force_login(csm)
    response = _dismiss(client, anomaly, reason="expected", until="2025-06-30", note="Migration")

    assert response.status_code == 302
    assert response["Location"].startswith(_page(anomaly.customer))
    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.dismiss_reason, str(anomaly.dismissed_until)) == (
        "dismissed",
        "expected",
        "2025-06-30",
    )
    assert anomaly.dismissed_by == csm
    action = AnomalyAction.objects.get()
    assert (action.kind, action.user, action.note) == ("dismiss", csm, "Migration")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Dismissed: 65% drop in logins."
    ]
    page = client.get(response["Location"]).content.decode()
    assert "Dismissed: 65% drop in logins." in page
    assert "Reopen" in page


def test_acting_on_an_anomaly_keeps_the_charts_range_the_csm_was_looking_at(client, csm, anomaly):
    client.force_login(csm)
    page = client.get(_page(anomaly.customer, days=365)).content.decode()
    # Every form of the card carries the range it was sent from.
    assert page.count('<input type="hidden" name="days" value="365">') == 2  # dismiss, outcome

    prefix = str(anomaly.pk)
    dismissed = client.post(
        reverse("anomaly-dismiss", args=[anomaly.pk]),
        {"days": "365", f"{prefix}-reason": "expected"},
    )
    reopened = client.post(reverse("anomaly-reopen", args=[anomaly.pk]), {"days": "30"})
    default = client.post(reverse("anomaly-reopen", args=[anomaly.pk]), {"days": "90"})
    odd = client.post(reverse("anomaly-reopen", args=[anomaly.pk]), {"days": "9999"})

    assert "days=365" in dismissed["Location"]
    assert "days=30" in reopened["Location"]
    assert "days=" not in default["Location"] and "days=" not in odd["Location"]
    assert client.get(dismissed["Location"]).context["chart_days"] == 365


def test_dismissing_again_differently_says_so_and_keeps_the_dismissal(client, csm, anomaly):
    client.force_login(csm)
    client.get(_dismiss(client, anomaly, reason="expected", note="Migration")["Location"])

    response = _dismiss(client, anomaly, reason="false_positive", note="noise")

    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Not changed: 65% drop in logins. Already dismissed as 'Expected")
    assert "by alice: reopen it first" in message
    page = client.get(response["Location"]).content.decode()
    assert "Not changed: 65% drop in logins." in page
    anomaly.refresh_from_db()
    assert (anomaly.dismiss_reason, anomaly.dismiss_note) == ("expected", "Migration")
    assert AnomalyAction.objects.filter(kind="dismiss").count() == 1


def test_submitting_the_same_dismissal_twice_changes_nothing(client, csm, anomaly):
    client.force_login(csm)
    client.get(_dismiss(client, anomaly, reason="new_normal", note="Fewer seats")["Location"])

    response = _dismiss(client, anomaly, reason="new_normal", note="Fewer seats")

    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Already dismissed: 65% drop in logins."
    ]
    assert AnomalyAction.objects.filter(kind="dismiss").count() == 1


@pytest.mark.parametrize(
    "data, field",
    [
        ({"reason": "bogus"}, "reason"),
        ({"reason": "false_positive", "until": "2025-06-30"}, "until"),
        ({"reason": "expected", "until": "not-a-date"}, "until"),
        ({}, "reason"),
    ],
)
def test_an_invalid_dismissal_rerenders_with_errors_and_changes_nothing(
    client, csm, anomaly, data, field
):
    client.force_login(csm)
    response = _dismiss(client, anomaly, **data)

    assert response.status_code == 400
    form = response.context["anomalies"][0].dismiss_form
    assert field in form.errors
    assert b'class="errors"' in response.content
    anomaly.refresh_from_db()
    assert anomaly.status == "open"
    assert not AnomalyAction.objects.exists()


def test_dismiss_needs_a_csrf_token(csm, anomaly):
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    response = _dismiss(client, anomaly, reason="false_positive")
    assert response.status_code == 403
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


def test_the_page_carries_csrf_tokens_in_its_forms(client, csm, anomaly):
    client.force_login(csm)
    body = client.get(_page(anomaly.customer)).content.decode()
    assert body.count("csrfmiddlewaretoken") >= 2  # rescan and dismiss


def test_another_csm_cannot_dismiss(client, other_csm, anomaly):
    client.force_login(other_csm)
    assert _dismiss(client, anomaly, reason="false_positive").status_code == 404
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


def test_dismiss_and_reopen_only_accept_post(client, csm, anomaly):
    client.force_login(csm)
    assert client.get(reverse("anomaly-dismiss", args=[anomaly.pk])).status_code == 405
    assert client.get(reverse("anomaly-reopen", args=[anomaly.pk])).status_code == 405


def test_reopen_undoes_the_dismissal(client, csm, anomaly):
    client.force_login(csm)
    _dismiss(client, anomaly, reason="false_positive")

    response = client.post(reverse("anomaly-reopen", args=[anomaly.pk]))

    assert response.status_code == 302
    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.dismiss_reason) == ("open", "")
    assert list(
        AnomalyAction.objects.order_by("created_at", "pk").values_list("kind", flat=True)
    ) == [
        "dismiss",
        "reopen",
    ]


def test_another_csm_cannot_reopen(client, other_csm, csm, anomaly):
    client.force_login(csm)
    _dismiss(client, anomaly, reason="false_positive")
    client.force_login(other_csm)
    assert client.post(reverse("anomaly-reopen", args=[anomaly.pk])).status_code == 404


@pytest.mark.usefixtures("tasks_run_eagerly")
def test_rescan_runs_on_the_workers_and_the_page_shows_its_result(
    client, csm, make_customer, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: AS_OF)
    customer = make_customer(csm=csm)
    values = scaled(usage(HISTORY, seed=1), slice(HISTORY - 6, HISTORY), 0.35)
    usage_store(customer, "api_calls", values, first_index=FIRST_INDEX)
    client.force_login(csm)
    url = reverse("customer-rescan", args=[customer.pk])

    # The request only queues the scan: its chunk is sent when the transaction commits.
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(url)
    assert response.status_code == 302
    run = ScanRun.objects.get()
    assert (run.trigger, run.triggered_by, run.status) == ("user", csm, "queued")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Scan queued: this page shows the result when it is done."
    ]
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert "Scanning this account now" in page
    assert '<meta http-equiv="refresh" content="3">' in page

    for callback in sent:  # the commit: the worker (here, this thread) runs the chunk
        callback()

    run.refresh_from_db()
    assert (run.status, run.scope) == ("succeeded", {"customers": [str(customer.pk)]})
    anomaly = UsageAnomaly.objects.get(customer=customer)
    assert (anomaly.metric_type, anomaly.anomaly_type) == ("api_calls", "drop")
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert "Last rescan succeeded" in page
    assert "1 new, 0 updated, 0 resolved" in page
    assert 'http-equiv="refresh"' not in page
    assert not AnomalyAction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_rescan_with_the_broker_down_says_so_and_frees_the_account(
    client, csm, account, broker_down
):
    # No test transaction around the request: the chunk is sent at once, as in production,
    # to a broker that refuses the connection.
    client.force_login(csm)

    response = client.post(reverse("customer-rescan", args=[account.pk]), follow=True)

    assert response.status_code == 200
    assert "The scan could not be queued: the task queue is unavailable" in (
        response.content.decode()
    )
    assert ScanRun.objects.get().status == "failed"
    # Not "already running" on the next try: the broker is asked again.
    response = client.post(reverse("customer-rescan", args=[account.pk]), follow=True)
    assert "already running" not in response.content.decode()
    assert ScanRun.objects.filter(status="failed").count() == 2


def test_rescan_while_a_scan_is_running_says_so(client, csm, account):
    from anomalies.services.scans import scan_start

    scan_start(trigger="api", customer_ids=[account.pk], enqueue=False)
    client.force_login(csm)

    response = client.post(reverse("customer-rescan", args=[account.pk]), follow=True)

    assert b"A scan of this account is already running." in response.content
    assert ScanRun.objects.count() == 1


def test_another_csm_cannot_rescan(client, other_csm, account):
    client.force_login(other_csm)
    assert client.post(reverse("customer-rescan", args=[account.pk])).status_code == 404
    assert not ScanRun.objects.exists()


def test_a_lone_row_dated_in_year_one_does_not_break_the_page(client, csm, make_customer):
    import datetime as dt

    from customers.models import UsageMetric

    customer = make_customer(csm=csm)
    # Written before the ingest bounds existed (the database itself allows it).
    UsageMetric.objects.create(customer=customer, metric="logins", date=dt.date(1, 1, 5), value=3)
    client.force_login(csm)

    response = client.get(_page(customer))

    assert response.status_code == 200
    assert response.context["charts"][0]["metric"] == "logins"


def test_a_row_dated_in_the_future_does_not_move_the_charts(client, csm, account, monkeypatch):
    import datetime as dt

    from customers.models import UsageMetric

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: AS_OF)
    UsageMetric.objects.create(customer=account, metric="logins", date=dt.date(2030, 1, 1), value=9)
    client.force_login(csm)

    response = client.get(_page(account))

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 metric of this account has values dated after today: the charts end today." in body
    # Both charts end on AS_OF and have their data, instead of an empty window in 2030.
    for chart in response.context["charts"]:
        assert "No usage data" not in chart["svg"]
    assert AS_OF.strftime("%b %-d") in body or AS_OF.isoformat() in body


def test_the_charts_read_usage_and_settings_once_however_many_metrics(client, csm, account):
    DetectionSettings.objects.create(customer=account, metric="logins", sensitivity="high")
    client.force_login(csm)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_page(account)).status_code == 200
        return len(captured)

    two_metrics = queries()
    for seed, metric in enumerate(["active_users", "feature:reports", "feature:export"], start=3):
        usage_store(account, metric, usage(HISTORY, seed=seed), first_index=FIRST_INDEX)
    assert queries() == two_metrics


# The page's order, the charts' range and the badges' words (issue 14).


def _svg_days(svg: str) -> int:
    """How many days a chart draws: its hover columns."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    ns = "{http://www.w3.org/2000/svg}"
    (days,) = [g for g in root.iter(f"{ns}g") if g.get("class") == "days"]
    return len(list(days.iter(f"{ns}rect")))


def test_charts_lead_with_open_anomalies_then_core_metrics_then_features(
    client, csm, account, make_anomaly
):
    for seed, metric in enumerate(
        ["feature:reports", "active_users", "feature:alerts", "storage_gb"], start=3
    ):
        usage_store(account, metric, usage(HISTORY, seed=seed), first_index=FIRST_INDEX)
    recent = day(N_DAYS - 6)
    make_anomaly(account, metric_type="logins", severity="critical", start_date=recent)
    make_anomaly(
        account,
        metric_type="feature:reports",
        anomaly_type="feature_abandonment",
        severity="warning",
        start_date=recent,
    )
    # Not open: they change nothing in the order.
    make_anomaly(account, metric_type="feature:alerts", severity="critical", dismissed=True)
    make_anomaly(account, metric_type="storage_gb", severity="critical", resolved=True)
    client.force_login(csm)

    response = client.get(_page(account))

    order = [chart["metric"] for chart in response.context["charts"]]
    assert order == [
        "logins",  # critical, open
        "feature:reports",  # warning, open
        "active_users",  # core metrics by label: "Active users", "API calls"
        "api_calls",
        "storage_gb",  # another metric
        "feature:alerts",  # features last
    ]
    body = response.content.decode()
    positions = [body.index(f'id="{chart["anchor"]}"') for chart in response.context["charts"]]
    assert positions == sorted(positions)
    # A dismissal whose author is gone (or never recorded) still reads, instead of a 500.
    assert "by someone on" in body


def test_a_gain_is_charted_after_a_loss_of_higher_severity(client, csm, account, make_anomaly):
    recent = day(N_DAYS - 6)
    make_anomaly(account, metric_type="api_calls", severity="warning", start_date=recent)
    make_anomaly(account, metric_type="logins", positive=True, severity="info", start_date=recent)
    client.force_login(csm)
    charts = client.get(_page(account)).context["charts"]
    assert [chart["metric"] for chart in charts] == ["api_calls", "logins"]


def test_the_anomaly_details_come_before_the_health_panel_and_the_charts(client, csm, anomaly):
    client.force_login(csm)
    body = client.get(_page(anomaly.customer)).content.decode()
    card = body.index(f'id="anomaly-{anomaly.pk}"')
    assert card < body.index('id="health"')
    assert card < body.index('id="metric-logins"') < body.index('id="metric-api_calls"')


def test_earlier_anomalies_follow_the_open_ones_folded_away(
    client, csm, account, anomaly, make_anomaly
):
    earlier = make_anomaly(account, metric_type="api_calls", resolved=True)
    client.force_login(csm)
    body = client.get(_page(account)).content.decode()
    folded = body.index('<details class="earlier">')
    assert body.index(f'id="anomaly-{anomaly.pk}"') < folded
    assert folded < body.index(f'id="anomaly-{earlier.pk}"')
    assert "Earlier anomalies (1): resolved or dismissed" in body
    assert "Anomalies (2)" in body

    # A form of an earlier one that comes back with errors is shown unfolded.
    response = _dismiss(client, earlier, reason="bogus")
    assert response.status_code == 400
    assert '<details class="earlier" open>' in response.content.decode()


def test_a_gain_reads_positive_on_the_card_and_in_the_health_panel(
    client, csm, account, make_anomaly
):
    gain = make_anomaly(
        account, metric_type="logins", positive=True, severity="info", start_date=day(N_DAYS - 6)
    )
    client.force_login(csm)
    body = client.get(_page(account)).content.decode()
    card = body[body.index(f'id="anomaly-{gain.pk}"') :]
    assert '<span class="badge positive">Positive</span>' in card[: card.index("</h3>")]
    assert body.count('<span class="badge positive">Positive</span>') == 2  # card and panel
    assert ">Info<" not in body
    # Its chart is shaded as good news, and its legend says so.
    chart = body[body.index('id="metric-logins"') :]
    assert "positive anomaly" in chart and ">positive</text>" in chart


@pytest.mark.parametrize("days", [30, 180, 365])
def test_the_range_switch_shows_that_many_days(client, csm, account, anomaly, days):
    client.force_login(csm)

    response = client.get(_page(account, days=days, metric="logins"))

    assert response.status_code == 200
    assert [_svg_days(chart["svg"]) for chart in response.context["charts"]] == [days, days]
    body = response.content.decode()
    assert f"last {days} days" in body
    # The switch keeps the chosen metric, and marks the range shown.
    assert f'href="?days={days}&amp;metric=logins#usage" aria-current="true"' in body
    assert 'href="?days=90&amp;metric=logins#usage">' in body
    assert 'class="errors"' not in body


def test_the_default_range_is_90_days_and_links_without_a_metric(client, csm, account):
    client.force_login(csm)
    response = client.get(_page(account))
    assert [_svg_days(chart["svg"]) for chart in response.context["charts"]] == [90, 90]
    body = response.content.decode()
    assert 'href="?days=90#usage" aria-current="true"' in body
    assert 'href="?days=365#usage">' in body


@pytest.mark.parametrize(
    "value", ["7", "abc", "-90", "90.0", "1e9", "99999999999999999999999", "30%2030"]
)
def test_a_bad_range_shows_90_days_and_says_why(client, csm, account, value):
    client.force_login(csm)

    response = client.get(_page(account, days=value))

    assert response.status_code == 200
    assert response.context["chart_days"] == 90
    assert [_svg_days(chart["svg"]) for chart in response.context["charts"]] == [90, 90]
    assert "days must be one of 30, 90, 180, 365; showing 90 days." in response.content.decode()


def test_a_suppressed_anomaly_says_why_and_is_not_flagged(client, csm, account, make_anomaly):
    suppressed_at = timezone.make_aware(timezone.datetime(2025, 5, 20, 9))
    make_anomaly(
        account,
        status="suppressed_by_settings",
        suppressed_at=suppressed_at,
        start_date=day(N_DAYS - 6),
    )
    client.force_login(csm)

    page = client.get(_page(account)).content.decode()

    assert "Suppressed by settings" in page
    assert "Stopped qualifying after a settings change on May 20, 2025" in page
    assert "Flagged" not in page


# Every query the page makes, whatever the account holds: the session and the user, the
# account, its anomalies with their record, their actions, the account's metrics, the
# charts' calendar and settings (their usage is read with COPY, which Django does not
# count; on SQLite it is one more query), the latest rescan, the health panel's three, the
# account's follow-ups and the header's unread count.
PAGE_QUERIES = 14


def _account_with(csm, metrics: int, anomalies: int):
    """An account with `metrics` metrics of usage and `anomalies` anomalies of every kind the
    page shows (open, resolved with an outcome, dismissed), each with an action."""
    customer = CustomerFactory(csm=csm)
    names = ["api_calls", "logins", "active_users"] + [f"feature:f{k}" for k in range(7)]
    for seed, metric in enumerate(names[:metrics]):
        usage_store(customer, metric, usage(HISTORY, seed=seed), first_index=FIRST_INDEX)
    for k in range(anomalies):
        kind = ("open", "resolved", "dismissed")[k % 3]
        fields = {"metric_type": names[k % metrics], "start_date": day(N_DAYS - 10 - k)}
        if kind == "open":
            fields["metric_type"] = names[k // 3 % metrics]
            fields["anomaly_type"] = ("drop", "spike")[k // 3 // metrics % 2]
        if kind == "resolved":
            fields.update(
                resolved=True, outcome="churned", outcome_set_by=csm, outcome_set_at=timezone.now()
            )
        if kind == "dismissed":
            fields.update(dismissed=True, dismissed_by=csm)
        anomaly = make_anomaly_of(customer, **fields)
        AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="investigate")
    return customer


def test_the_page_makes_a_bounded_number_of_queries_however_many_metrics_and_anomalies(
    client, csm, django_assert_max_num_queries
):
    small = _account_with(csm, metrics=3, anomalies=4)
    large = _account_with(csm, metrics=10, anomalies=24)
    client.force_login(csm)

    counts = []
    for customer, charts, listed in ((small, 3, 4), (large, 10, 24)):
        usage_read = 0 if connection.vendor == "postgresql" else 1
        with django_assert_max_num_queries(PAGE_QUERIES + usage_read) as captured:
            response = client.get(_page(customer))
        assert response.status_code == 200
        assert len(response.context["charts"]) == charts
        assert len(response.context["anomalies"]) == listed
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_the_actions_taken_show_on_each_card_from_one_query(
    client, csm, account, make_anomaly, anomaly
):
    AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="contact_customer", note="call")
    client.force_login(csm)

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(_page(account))
        assert response.status_code == 200
        return len(captured), response.content.decode()

    one, body = queries()
    assert "Contact customer" in body and "“call”" in body
    later = make_anomaly(account, start_date=anomaly.start_date - dt.timedelta(days=40))
    AnomalyAction.objects.create(anomaly=later, user=csm, kind="investigate")
    two, body = queries()
    assert "Investigate" in body
    assert two == one
