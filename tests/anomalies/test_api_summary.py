import datetime as dt
import uuid

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/analytics/anomalies/summary"

DATAFLOW_LINE = (
    "67% drop in API calls for 5 days, baseline 45,000/day, now 15,000/day; "
    "possible cause: Integration issue or migration"
)


@pytest.fixture
def dataflow_drop(mine, make_anomaly, today):
    return make_anomaly(
        mine,
        start_date=today - dt.timedelta(days=4),
        end_date=today,
        status="resolved",
        possible_cause="Integration issue or migration",
    )


def test_a_customer_with_no_anomalies_reads_so(csm_api, mine):
    response = csm_api.get(URL, {"customer": "Dataflow Inc"})

    assert response.status_code == 200
    assert response.json() == {
        "customer": {"id": str(mine.id), "name": "Dataflow Inc"},
        "accounts": [{"id": str(mine.id), "name": "Dataflow Inc", "anomaly_count": 0}],
        "period_days": 30,
        "counts": {"critical": 0, "warning": 0, "info": 0},
        "anomalies": [],
        "text": "No usage anomalies for Dataflow Inc in the last 30 days.",
    }


def test_each_anomaly_reads_as_one_line(csm_api, mine, dataflow_drop):
    response = csm_api.get(URL, {"customer": "Dataflow Inc"})

    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"critical": 1, "warning": 0, "info": 0}
    assert body["anomalies"] == [
        {
            "id": str(dataflow_drop.id),
            "severity": "critical",
            "anomaly_type": "drop",
            "line": DATAFLOW_LINE,
        }
    ]
    assert "Dataflow Inc" in body["text"]
    assert DATAFLOW_LINE in body["text"]
    assert not body["text"].startswith("No usage anomalies")


def test_a_suppressed_anomaly_says_so_in_its_line(csm_api, mine, make_anomaly, today):
    make_anomaly(
        mine,
        start_date=today - dt.timedelta(days=4),
        status="suppressed_by_settings",
        suppressed_at=dt.datetime(2025, 5, 20, 12, tzinfo=dt.UTC),
    )

    [row] = csm_api.get(URL, {"customer": "Dataflow Inc"}).json()["anomalies"]

    assert row["line"].endswith("; suppressed by a settings change on May 20, 2025")


def test_counts_are_by_severity(csm_api, mine, make_anomaly, today):
    make_anomaly(mine, severity="critical")
    make_anomaly(mine, metric_type="logins", severity="warning")
    make_anomaly(
        mine,
        metric_type="logins",
        anomaly_type="spike",
        severity="warning",
        deviation_percent=150,
    )
    make_anomaly(mine, metric_type="active_users", severity="info")

    body = csm_api.get(URL, {"customer": "Dataflow Inc"}).json()

    assert body["counts"] == {"critical": 1, "warning": 2, "info": 1}
    assert len(body["anomalies"]) == 4
    spike = next(a for a in body["anomalies"] if a["anomaly_type"] == "spike")
    assert spike["line"].startswith("150% increase in logins for ")


def test_anomalies_older_than_the_period_are_left_out(csm_api, mine, make_anomaly, today):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    make_anomaly(
        mine,
        start_date=today - dt.timedelta(days=60),
        end_date=today - dt.timedelta(days=55),
        status="resolved",
        detected_at=long_ago,
    )

    body = csm_api.get(URL, {"customer": "Dataflow Inc"}).json()

    assert body["anomalies"] == []
    assert body["text"] == "No usage anomalies for Dataflow Inc in the last 30 days."


def test_another_customers_anomalies_are_left_out(csm_api, csm, make_customer, mine, make_anomaly):
    make_anomaly(make_customer(name="Acme", csm=csm))

    body = csm_api.get(URL, {"customer": "Dataflow Inc"}).json()

    assert body["counts"] == {"critical": 0, "warning": 0, "info": 0}


@pytest.mark.parametrize("key", ["name", "id", "external_id"])
def test_the_customer_is_found_by_name_id_or_external_id(csm_api, mine, dataflow_drop, key):
    query = {"name": "Dataflow Inc", "id": str(mine.id), "external_id": "dataflow-001"}[key]

    response = csm_api.get(URL, {"customer": query})

    assert response.status_code == 200
    assert response.json()["customer"] == {"id": str(mine.id), "name": "Dataflow Inc"}
    assert response.json()["anomalies"][0]["line"] == DATAFLOW_LINE


@pytest.mark.parametrize("query", ["Globex", "globex-002", "theirs-id"])
def test_another_csms_customer_is_404(csm_api, theirs, make_anomaly, query):
    make_anomaly(theirs)
    query = str(theirs.id) if query == "theirs-id" else query

    response = csm_api.get(URL, {"customer": query})

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


def test_staff_get_any_customers_summary(staff_api, theirs):
    response = staff_api.get(URL, {"customer": "Globex"})

    assert response.status_code == 200
    assert response.json()["customer"]["name"] == "Globex"


@pytest.mark.parametrize("query", ["Nobody Ltd", str(uuid.uuid4()), "acct-404"])
def test_an_unknown_customer_is_404(csm_api, mine, query):
    assert csm_api.get(URL, {"customer": query}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"customer": ""},
        {"customer": "Are there any usage anomalies for my accounts?"},
        {"customer": "my portfolio"},
        {"customer": "All accounts"},
    ],
)
def test_no_customer_answers_the_portfolio_most_severe_first(
    csm_api, csm, make_customer, mine, theirs, make_anomaly, params
):
    acme = make_customer(name="Acme", csm=csm)
    make_anomaly(acme, severity="warning")
    drop = make_anomaly(mine, severity="critical", possible_cause="Integration issue or migration")
    make_anomaly(theirs, severity="critical")
    make_customer(name="Quiet", csm=csm)

    response = csm_api.get(URL, params)

    assert response.status_code == 200
    body = response.json()
    assert body["customer"] is None
    # Only the CSM's accounts with open anomalies; the critical one first.
    assert body["accounts"] == [
        {"id": str(mine.id), "name": "Dataflow Inc", "anomaly_count": 1},
        {"id": str(acme.id), "name": "Acme", "anomaly_count": 1},
    ]
    assert body["counts"] == {"critical": 1, "warning": 1, "info": 0}
    assert body["anomalies"][0]["id"] == str(drop.id)
    assert body["text"].startswith("Open usage anomalies in your accounts (2), most severe first:")
    assert body["text"].index("Dataflow Inc") < body["text"].index("Acme")
    assert "Globex" not in body["text"]


def test_the_portfolio_without_open_anomalies_reads_so(csm_api, mine):
    body = csm_api.get(URL).json()

    assert body["accounts"] == []
    assert body["text"] == "No open usage anomalies in your accounts."


def test_staff_portfolio_covers_every_account(staff_api, mine, theirs, make_anomaly):
    make_anomaly(mine)
    make_anomaly(theirs)

    body = staff_api.get(URL).json()

    assert {a["name"] for a in body["accounts"]} == {"Dataflow Inc", "Globex"}


def test_the_schema_documents_the_portfolio_summary(csm_api):
    schema = csm_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"][URL]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "customer"]

    assert not param.get("required", False)
    assert "portfolio summary" in param["description"]
    assert "portfolio summary" in operation["description"]


@pytest.mark.parametrize("query", ["x" * 5000, "   ", "%", "_", "Dataflow Inc\x00"])
def test_odd_customer_queries_never_crash(csm_api, mine, query):
    response = csm_api.get(URL, {"customer": query})

    assert response.status_code in (200, 400, 404)


def test_an_ambiguous_name_never_crashes(csm_api, csm, make_customer):
    make_customer(name="Twin", csm=csm)
    make_customer(name="Twin", csm=csm)

    response = csm_api.get(URL, {"customer": "Twin"})

    assert response.status_code in (200, 400, 404, 409)


def test_the_portfolio_summary_reads_in_bounded_queries(
    csm_api, csm, make_customer, make_anomaly, django_assert_max_num_queries
):
    def ask():
        return csm_api.get(URL).json()

    make_anomaly(make_customer(csm=csm))
    with django_assert_max_num_queries(10) as few:
        ask()
    for _ in range(10):
        make_anomaly(make_customer(csm=csm))
    with django_assert_max_num_queries(len(few)):
        body = ask()
    assert len(body["accounts"]) == 11
