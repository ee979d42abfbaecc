import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_anomaly_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(csm, other_csm, make_customer):
    today = timezone.localdate()
    acme = make_customer(name="Acme", csm=csm)
    zeta = make_customer(name="Zeta", csm=csm)
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    return {
        "acme_drop": make_anomaly_of(acme, severity="warning", start_date=today - dt.timedelta(3)),
        "zeta_spike": make_anomaly_of(
            zeta,
            anomaly_type="spike",
            severity="info",
            metric_type="logins",
            deviation_percent=Decimal("150"),
            start_date=today - dt.timedelta(20),
        ),
        "zeta_drop": make_anomaly_of(
            zeta, severity="critical", start_date=today - dt.timedelta(10)
        ),
        "theirs": make_anomaly_of(theirs),
    }


def _table(client, **params):
    response = client.get(reverse("anomaly-table"), params)
    assert response.status_code == 200
    return response


def _names(response):
    return [(a.customer.name, a.anomaly_type) for a in response.context["page"].object_list]


def test_table_shows_only_visible_anomalies(client, csm, rows):
    client.force_login(csm)
    response = _table(client)
    assert len(_names(response)) == 3
    assert b"Theirs Inc" not in response.content


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"severity": "critical"}, [("Zeta", "drop")]),
        ({"anomaly_type": "spike"}, [("Zeta", "spike")]),
        ({"metric": "logins"}, [("Zeta", "spike")]),
        ({"q": "acm"}, [("Acme", "drop")]),
        ({"status": "dismissed"}, []),
    ],
)
def test_table_filters(client, csm, rows, params, expected):
    client.force_login(csm)
    assert _names(_table(client, **params)) == expected


def test_table_filters_by_start_date(client, csm, rows):
    client.force_login(csm)
    today = timezone.localdate()
    since = _table(client, since=(today - dt.timedelta(5)).isoformat())
    assert _names(since) == [("Acme", "drop")]
    until = _table(client, until=(today - dt.timedelta(15)).isoformat())
    assert _names(until) == [("Zeta", "spike")]


def test_table_empty_filter_fields_mean_any(client, csm, rows):
    client.force_login(csm)
    response = _table(client, severity="", anomaly_type="", status="", since="", q="")
    assert len(_names(response)) == 3


@pytest.mark.parametrize(
    "params, field",
    [
        ({"severity": "apocalyptic"}, "severity"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_table_shows_errors_for_invalid_filters(client, csm, rows, params, field):
    client.force_login(csm)
    response = _table(client, **params)
    assert field in response.context["errors"]
    assert b'id="filter-errors"' in response.content
    assert _names(response) == []


def test_table_sorts(client, csm, rows):
    client.force_login(csm)
    assert _names(_table(client, sort="severity")) == [
        ("Zeta", "drop"),
        ("Acme", "drop"),
        ("Zeta", "spike"),
    ]
    assert _names(_table(client, sort="start_date"))[0] == ("Zeta", "spike")
    assert [n for n, _ in _names(_table(client, sort="-customer"))] == ["Zeta", "Zeta", "Acme"]


def test_table_refuses_an_unknown_sort_as_any_bad_filter(client, csm, rows):
    client.force_login(csm)
    response = _table(client, sort="customer__csm__password")
    assert "sort" in response.context["errors"]
    assert b'id="filter-errors"' in response.content
    assert _names(response) == []
    # The form falls back to the default order.
    assert response.context["sort"] == "status"


def test_table_filters_by_customer(client, csm, rows):
    client.force_login(csm)
    zeta = rows["zeta_drop"].customer
    response = _table(client, customer=str(zeta.pk), sort="start_date")
    assert _names(response) == [("Zeta", "spike"), ("Zeta", "drop")]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"severity": "critical"},
        {"sort": "severity"},
        {"sort": "-customer", "status": "open"},
        {"q": "zet", "sort": "start_date"},
        {"metric": "api_calls", "sort": "-start_date"},
    ],
)
def test_the_api_the_table_and_the_export_agree_on_a_query(client, csm, rows, params):
    client.force_login(csm)  # a session: the API takes it too
    table = [(a.customer.name, a.anomaly_type) for a in _table(client, **params).context["page"]]
    exported = [(row[0], row[4]) for row in _csv(client.get(reverse("anomaly-export"), params))[1:]]
    api = client.get("/api/analytics/anomalies", params)
    assert api.status_code == 200
    listed = [(row["customer"]["name"], row["anomaly_type"]) for row in api.json()["results"]]
    assert table == exported == listed
    assert table


def test_table_paginates_by_50(client, csm, make_customer):
    today = timezone.localdate()
    for n in range(55):
        customer = make_customer(name=f"Account {n:02}", csm=csm)
        make_anomaly_of(customer, start_date=today - dt.timedelta(n))
    client.force_login(csm)
    first = _table(client, sort="customer")
    assert len(first.context["page"].object_list) == 50
    assert b"Page 1 of 2" in first.content
    second = _table(client, sort="customer", page="2")
    assert [n for n, _ in _names(second)] == [f"Account {n}" for n in range(50, 55)]
    assert len(_names(_table(client, page="nonsense"))) == 50


def _csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_has_header_and_visible_rows(client, csm, rows):
    client.force_login(csm)
    table = _csv(client.get(reverse("anomaly-export")))
    assert table[0] == [
        "customer",
        "external_id",
        "metric",
        "metric_slug",
        "type",
        "severity",
        "direction",
        "status",
        "start_date",
        "end_date",
        "baseline",
        "actual",
        "deviation_percent",
        "possible_cause",
        "detected_at",
    ]
    assert len(table) == 4
    assert all(row[0] != "Theirs Inc" for row in table[1:])
    spike = next(row for row in table if row[4] == "spike")
    assert spike[:9] == [
        "Zeta",
        rows["zeta_spike"].customer.external_id,
        "Logins",
        "logins",
        "spike",
        "info",
        "positive",
        "open",
        rows["zeta_spike"].start_date.isoformat(),
    ]
    assert spike[12] == "150.00"


def test_export_follows_the_filter(client, csm, rows):
    client.force_login(csm)
    table = _csv(client.get(reverse("anomaly-export"), {"severity": "warning"}))
    assert [row[0] for row in table[1:]] == ["Acme"]


def test_export_refuses_invalid_filter(client, csm, rows):
    client.force_login(csm)
    response = client.get(reverse("anomaly-export"), {"since": "nope"})
    assert response.status_code == 400


def test_export_neutralises_formulas(client, csm, make_customer):
    customer = make_customer(name='=HYPERLINK("http://x")', external_id="@evil", csm=csm)
    make_anomaly_of(customer, possible_cause="+cmd|' /C calc'!A0")
    client.force_login(csm)
    row = _csv(client.get(reverse("anomaly-export")))[1]
    assert row[0] == '\'=HYPERLINK("http://x")'
    assert row[1] == "'@evil"
    assert row[13] == "'+cmd|' /C calc'!A0"
    # Numbers keep their sign.
    assert row[12] == "-66.67"


def test_table_links_to_export_with_the_current_filter(client, csm, rows):
    client.force_login(csm)
    content = _table(client, severity="warning", page="1").content.decode()
    assert reverse("anomaly-export") + "?severity=warning" in content


def test_table_default_order_is_open_then_worst_then_latest_start(client, csm, make_customer):
    """One scan detects everything at the same instant: the order must not hang on it."""
    today = timezone.localdate()
    scan = timezone.now()
    customer = make_customer(name="Acme", csm=csm)

    def anomaly(severity, status, days_ago):
        return make_anomaly_of(
            customer,
            severity=severity,
            status=status,
            start_date=today - dt.timedelta(days_ago),
            detected_at=scan,
            metric_type=f"m{severity}{status}{days_ago}",
        )

    expected = [
        anomaly("critical", "open", 2),
        anomaly("critical", "open", 9),
        anomaly("warning", "open", 1),
        anomaly("info", "open", 1),
        anomaly("critical", "resolved", 5),
        anomaly("warning", "resolved", 3),
        anomaly("critical", "dismissed", 1),
    ]
    client.force_login(csm)
    for params in ({}, {"sort": "status"}):
        listed = [a.pk for a in _table(client, **params).context["page"].object_list]
        assert listed == [a.pk for a in expected]
    api = client.get("/api/analytics/anomalies").json()["results"]
    assert [row["id"] for row in api] == [str(a.pk) for a in expected]


def test_table_uses_display_names_and_the_cards_word_for_a_gain(client, csm, rows):
    client.force_login(csm)
    content = _table(client).content.decode()
    assert '<td title="logins">Logins</td>' in content
    # The spike is a gain: "Positive" as on the cards, never "Info".
    assert '<span class="badge positive">Positive</span>' in content
    assert '<span class="badge critical">Critical</span>' in content
    assert ">Info<" not in content.split("<tbody>")[1]


def test_table_shows_when_a_backfilled_anomaly_was_first_detectable(client, csm, make_customer):
    today = timezone.localdate()
    customer = make_customer(name="Acme", csm=csm)
    make_anomaly_of(customer, start_date=today - dt.timedelta(12), detected_at=timezone.now())
    make_anomaly_of(
        customer,
        metric_type="logins",
        start_date=today - dt.timedelta(1),
        detected_at=timezone.now(),
    )
    client.force_login(csm)
    content = _table(client).content.decode()
    late = (today - dt.timedelta(12)).isoformat()
    assert f"first detectable {late}" in content
    # The one reported the day after it began shows its report time alone.
    assert content.count("data-first-detectable") == 1
    assert content.count("first reported") == 1


def test_the_table_filters_and_explains_suppressed_by_settings(client, csm, rows):
    acme = rows["acme_drop"].customer
    suppressed = make_anomaly_of(
        acme,
        metric_type="logins",
        status="suppressed_by_settings",
        suppressed_at=timezone.make_aware(dt.datetime(2025, 5, 20, 9)),
    )
    client.force_login(csm)

    response = _table(client, status="suppressed_by_settings")

    assert [a.pk for a in response.context["page"].object_list] == [suppressed.pk]
    page = response.content.decode()
    assert "Suppressed by settings" in page
    assert 'after a settings change on <span class="date">2025-05-20</span>' in page
