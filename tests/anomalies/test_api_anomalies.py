import datetime as dt
import uuid

import pytest

from customers.models import UsageMetric
from tests.api_clients import result_ids

pytestmark = pytest.mark.django_db

LIST = "/api/analytics/anomalies"


def detail(anomaly_id) -> str:
    return f"/api/analytics/anomalies/{anomaly_id}"


# --- the portfolio list -------------------------------------------------------------------


@pytest.fixture
def portfolio(csm, make_customer, mine, theirs, make_anomaly):
    sibling = make_customer(name="Acme", csm=csm)
    now = dt.datetime.now(dt.UTC)
    return {
        "mine_old": make_anomaly(mine, detected_at=now - dt.timedelta(days=3)),
        "sibling": make_anomaly(
            sibling,
            metric_type="logins",
            anomaly_type="spike",
            severity="warning",
            deviation_percent=150,
            detected_at=now - dt.timedelta(days=1),
        ),
        "mine_new": make_anomaly(mine, metric_type="logins", severity="info", detected_at=now),
        "theirs": make_anomaly(theirs, detected_at=now - dt.timedelta(days=2)),
    }


def test_a_csm_sees_their_whole_portfolio_worst_first(csm_api, portfolio):
    response = csm_api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["previous"] is None
    # The default order: open first, then by severity, then the latest start.
    assert result_ids(response) == [
        str(portfolio[k].id) for k in ("mine_old", "sibling", "mine_new")
    ]
    newest = csm_api.get(LIST, {"sort": "-detected_at"})
    assert result_ids(newest) == [str(portfolio[k].id) for k in ("mine_new", "sibling", "mine_old")]


def test_another_csm_sees_only_their_own_portfolio(other_api, portfolio):
    response = other_api.get(LIST)

    assert response.status_code == 200
    assert result_ids(response) == [str(portfolio["theirs"].id)]


def test_staff_see_every_anomaly(staff_api, portfolio):
    response = staff_api.get(LIST)

    assert response.status_code == 200
    assert set(result_ids(response)) == {str(a.id) for a in portfolio.values()}


def test_the_portfolio_list_filters_by_customer(csm_api, mine, portfolio):
    response = csm_api.get(LIST, {"customer": str(mine.id)})

    assert response.status_code == 200
    # The critical one before the info one: the default order.
    assert result_ids(response) == [str(portfolio["mine_old"].id), str(portfolio["mine_new"].id)]


def test_filtering_by_another_csms_customer_reveals_nothing(csm_api, theirs, portfolio):
    response = csm_api.get(LIST, {"customer": str(theirs.id)})

    # Either "no such customer" or an empty page; never their anomalies.
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert response.json()["results"] == []
    assert str(portfolio["theirs"].id) not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "info"}, {"mine_new"}),
        ({"anomaly_type": "spike"}, {"sibling"}),
        ({"metric": "logins"}, {"mine_new", "sibling"}),
        ({"status": "open", "severity": "critical"}, {"mine_old"}),
        ({"status": "dismissed"}, set()),
    ],
)
def test_the_portfolio_list_filters(csm_api, portfolio, params, expected):
    response = csm_api.get(LIST, params)

    assert response.status_code == 200
    assert set(result_ids(response)) == {str(portfolio[k].id) for k in expected}


def test_the_portfolio_list_filters_on_start_date(csm_api, mine, make_anomaly, today):
    early = make_anomaly(
        mine,
        start_date=today - dt.timedelta(days=30),
        end_date=today - dt.timedelta(days=25),
        status="resolved",
    )
    late = make_anomaly(mine, start_date=today - dt.timedelta(days=2))

    since = csm_api.get(LIST, {"since": (today - dt.timedelta(days=2)).isoformat()})
    until = csm_api.get(LIST, {"until": (today - dt.timedelta(days=3)).isoformat()})

    assert result_ids(since) == [str(late.id)]
    assert result_ids(until) == [str(early.id)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "severity"}, ["mine_old", "sibling", "mine_new"]),
        ({"sort": "-severity"}, ["mine_new", "sibling", "mine_old"]),
        # Ties by newest detected.
        ({"sort": "customer"}, ["sibling", "mine_new", "mine_old"]),
        ({"sort": "detected_at"}, ["mine_old", "sibling", "mine_new"]),
        ({"q": "acm"}, ["sibling"]),
        ({"q": "DATAFLOW", "sort": "-detected_at"}, ["mine_new", "mine_old"]),
    ],
)
def test_the_portfolio_list_sorts_and_searches_as_the_table_does(
    csm_api, portfolio, params, expected
):
    response = csm_api.get(LIST, params)

    assert response.status_code == 200
    assert result_ids(response) == [str(portfolio[k].id) for k in expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"severity": "nope"}, "severity"),
        ({"status": "closed"}, "status"),
        ({"anomaly_type": "dip"}, "anomaly_type"),
        ({"since": "notadate"}, "since"),
        ({"until": "31/12/2025"}, "until"),
        ({"customer": "not-a-uuid"}, "customer"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"metric": "x" * 500}, "metric"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "customer__csm__password"}, "sort"),
    ],
)
def test_an_invalid_portfolio_filter_is_a_400_naming_the_field(csm_api, params, field):
    response = csm_api.get(LIST, params)

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "999"},
        {"page": "x"},
        {"metric": "x" * 500},
        {"metric": "Robert'); DROP TABLE"},
        {"since": "9999-12-31", "until": "0001-01-01"},
        {"customer": str(uuid.uuid4())},
        {"severity": ""},
        {"search": "\x00"},
    ],
)
def test_odd_query_strings_never_crash(csm_api, portfolio, params):
    response = csm_api.get(LIST, params)

    assert response.status_code in (200, 400, 404)


# --- one anomaly --------------------------------------------------------------------------


def test_the_owner_sees_an_anomaly_with_its_series(csm_api, mine, make_anomaly, today):
    first = today - dt.timedelta(days=60)
    days = [first + dt.timedelta(days=i) for i in range(61)]
    gap = today - dt.timedelta(days=2)
    UsageMetric.objects.bulk_create(
        [
            UsageMetric(
                customer=mine,
                metric="api_calls",
                date=d,
                value=15000.0 if d >= today - dt.timedelta(days=4) else 45000.0,
            )
            for d in days
            if d != gap
        ]
    )
    anomaly = make_anomaly(mine, start_date=today - dt.timedelta(days=4))

    response = csm_api.get(detail(anomaly.id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(anomaly.id)
    assert body["customer"] == {"id": str(mine.id), "name": "Dataflow Inc"}
    assert body["summary"] == "67% drop in API calls"
    assert body["baseline_value"] == 45000
    series = body["series"]
    assert series["metric"] == "api_calls"
    n = len(series["dates"])
    assert n > 0
    for key in ("actual", "expected", "expected_low", "expected_high"):
        assert len(series[key]) == n, key
    # Every day of the anomaly is covered, with what was measured; a day without data is null.
    by_date = dict(zip(series["dates"], series["actual"], strict=True))
    for offset in range(5):
        assert (today - dt.timedelta(days=offset)).isoformat() in by_date
    assert by_date[gap.isoformat()] is None
    assert by_date[(today - dt.timedelta(days=4)).isoformat()] == pytest.approx(15000)
    assert by_date[(today - dt.timedelta(days=10)).isoformat()] == pytest.approx(45000)
    assert series["dates"] == sorted(series["dates"])


def test_an_anomaly_without_usage_has_an_empty_or_consistent_series(csm_api, mine, make_anomaly):
    anomaly = make_anomaly(mine)

    response = csm_api.get(detail(anomaly.id))

    assert response.status_code == 200
    series = response.json()["series"]
    assert series["metric"] == "api_calls"
    n = len(series["dates"])
    for key in ("actual", "expected", "expected_low", "expected_high"):
        assert len(series[key]) == n
    assert all(value is None for value in series["actual"])


def test_another_csm_cannot_see_my_anomaly(other_api, mine, make_anomaly):
    anomaly = make_anomaly(mine)

    response = other_api.get(detail(anomaly.id))

    assert response.status_code == 404
    assert "Dataflow" not in response.content.decode()


def test_staff_see_any_anomaly(staff_api, theirs, make_anomaly):
    anomaly = make_anomaly(theirs)

    response = staff_api.get(detail(anomaly.id))

    assert response.status_code == 200
    assert response.json()["customer"]["name"] == "Globex"


@pytest.mark.parametrize("path_id", [str(uuid.uuid4()), "nope", "1"])
def test_an_unknown_or_malformed_anomaly_id_is_404(csm_api, path_id):
    assert csm_api.get(detail(path_id)).status_code == 404
