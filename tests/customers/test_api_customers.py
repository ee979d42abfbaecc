import datetime as dt
import uuid

import pytest

from customers.models import UsageMetric
from tests.api_clients import result_ids

pytestmark = pytest.mark.django_db

LIST = "/api/customers"


def detail(customer_id) -> str:
    return f"/api/customers/{customer_id}"


def anomalies_of(customer_id) -> str:
    return f"/api/customers/{customer_id}/usage/anomalies"


# --- list ---------------------------------------------------------------------------------


def test_the_list_shows_a_csm_their_customers_with_every_field(
    csm_api, csm, mine, theirs, make_anomaly
):
    make_anomaly(mine, metric_type="api_calls")
    make_anomaly(mine, metric_type="logins")
    make_anomaly(mine, metric_type="active_users", status="resolved", end_date=dt.date.today())
    make_anomaly(
        mine, metric_type="feature:reports", anomaly_type="feature_abandonment", status="dismissed"
    )
    make_anomaly(theirs)

    response = csm_api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["next"] is None
    assert body["previous"] is None
    assert body["results"] == [
        {
            "id": str(mine.id),
            "name": "Dataflow Inc",
            "external_id": "dataflow-001",
            "csm": {"id": csm.id, "username": "alice", "name": "Alice Owner"},
            "tier": "enterprise",
            "arr": "120000.50",
            "status": "active",
            "holiday_calendar": "",
            "region": "",
            "segment": "",
            # Only open ones count: resolved and dismissed anomalies need no attention.
            "open_anomalies": 2,
        }
    ]


def test_another_csm_sees_none_of_my_customers(other_api, mine, theirs):
    response = other_api.get(LIST)

    assert response.status_code == 200
    assert result_ids(response) == [str(theirs.id)]


def test_staff_see_every_customer_including_unassigned_ones(staff_api, make_customer, mine, theirs):
    nobody = make_customer(name="Alpha Unassigned", csm=None)

    response = staff_api.get(LIST)

    assert response.status_code == 200
    assert result_ids(response) == [str(nobody.id), str(mine.id), str(theirs.id)]
    assert response.json()["results"][0]["csm"] is None


def test_the_list_is_ordered_by_name(csm_api, make_customer, csm):
    for name in ["Zeta", "Beta", "Alpha", "Mu"]:
        make_customer(name=name, csm=csm)

    response = csm_api.get(LIST)

    assert [row["name"] for row in response.json()["results"]] == ["Alpha", "Beta", "Mu", "Zeta"]


def test_the_list_is_paginated(csm_api, make_customer, csm):
    for n in range(52):
        make_customer(name=f"Customer {n:02d}", csm=csm)

    first = csm_api.get(LIST).json()
    assert first["count"] == 52
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"] is not None

    second = csm_api.get(first["next"]).json()
    assert [row["name"] for row in second["results"]] == ["Customer 50", "Customer 51"]
    assert second["next"] is None


@pytest.mark.parametrize("search", ["dataflow", "DATAFLOW", "flow in", "-001"])
def test_search_matches_name_or_external_id_ignoring_case(
    csm_api, make_customer, csm, mine, search
):
    make_customer(name="Umbrella", external_id="umb-9", csm=csm)

    response = csm_api.get(LIST, {"search": search})

    assert response.status_code == 200
    assert result_ids(response) == [str(mine.id)]


def test_search_never_finds_another_csms_customer(csm_api, mine, theirs):
    response = csm_api.get(LIST, {"search": "globex"})

    assert response.status_code == 200
    assert response.json()["count"] == 0


# --- detail -------------------------------------------------------------------------------


def test_the_owner_sees_a_customer_with_its_metrics(csm_api, csm, mine, make_anomaly):
    make_anomaly(mine)
    UsageMetric.objects.bulk_create(
        [
            UsageMetric(customer=mine, metric="api_calls", date=dt.date(2025, 5, 1), value=10),
            UsageMetric(customer=mine, metric="api_calls", date=dt.date(2025, 5, 3), value=12),
            UsageMetric(customer=mine, metric="logins", date=dt.date(2025, 4, 30), value=3),
        ]
    )

    response = csm_api.get(detail(mine.id))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(mine.id)
    assert body["name"] == "Dataflow Inc"
    assert body["external_id"] == "dataflow-001"
    assert body["csm"] == {"id": csm.id, "username": "alice", "name": "Alice Owner"}
    assert body["tier"] == "enterprise"
    assert body["arr"] == "120000.50"
    assert body["status"] == "active"
    assert body["open_anomalies"] == 1
    assert (body["holiday_calendar"], body["region"], body["segment"]) == ("", "", "")
    assert sorted(body["metrics"], key=lambda m: m["metric"]) == [
        {"metric": "api_calls", "last_date": "2025-05-03"},
        {"metric": "logins", "last_date": "2025-04-30"},
    ]


def test_a_customer_without_usage_has_no_metrics(csm_api, mine):
    response = csm_api.get(detail(mine.id))

    assert response.status_code == 200
    assert response.json()["metrics"] == []


def test_another_csms_customer_reads_as_missing(other_api, mine):
    response = other_api.get(detail(mine.id))

    assert response.status_code == 404
    assert "Dataflow" not in response.content.decode()


def test_staff_see_any_customer(staff_api, mine):
    response = staff_api.get(detail(mine.id))

    assert response.status_code == 200
    assert response.json()["name"] == "Dataflow Inc"


@pytest.mark.parametrize("path_id", [str(uuid.uuid4()), "not-a-uuid", "123", "dataflow-001"])
def test_an_unknown_or_malformed_id_is_404(csm_api, mine, path_id):
    assert csm_api.get(detail(path_id)).status_code == 404


# --- calendar and cohorts -----------------------------------------------------------------


def test_the_list_and_the_detail_show_calendar_region_and_segment(csm_api, make_customer, csm):
    customer = make_customer(
        name="Munich Metrics", csm=csm, holiday_calendar="DE-BY", region="emea", segment="smb"
    )

    row = csm_api.get(LIST).json()["results"][0]
    body = csm_api.get(detail(customer.id)).json()

    for shown in (row, body):
        assert shown["holiday_calendar"] == "DE-BY"
        assert shown["region"] == "emea"
        assert shown["segment"] == "smb"


def test_the_owner_sets_calendar_region_and_segment(csm_api, mine):
    response = csm_api.patch(
        detail(mine.id),
        {"holiday_calendar": "DE-BY", "region": "emea", "segment": "enterprise"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["holiday_calendar"], body["region"], body["segment"]) == (
        "DE-BY",
        "emea",
        "enterprise",
    )
    # The answer is the account as GET shows it.
    assert body == csm_api.get(detail(mine.id)).json()
    mine.refresh_from_db()
    assert (mine.holiday_calendar, mine.region, mine.segment) == ("DE-BY", "emea", "enterprise")


def test_a_patch_changes_only_the_fields_it_names(csm_api, make_customer, csm):
    customer = make_customer(csm=csm, holiday_calendar="GB", region="emea", segment="smb")

    response = csm_api.patch(detail(customer.id), {"segment": "mid-market"}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.holiday_calendar, customer.region, customer.segment) == (
        "GB",
        "emea",
        "mid-market",
    )


def test_an_empty_value_goes_back_to_the_default(csm_api, make_customer, csm):
    customer = make_customer(csm=csm, holiday_calendar="GB", region="emea")

    response = csm_api.patch(
        detail(customer.id), {"holiday_calendar": "", "region": ""}, format="json"
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.holiday_calendar, customer.region) == ("", "")


def test_staff_set_any_customers_calendar(staff_api, theirs):
    response = staff_api.patch(detail(theirs.id), {"holiday_calendar": "US-CA"}, format="json")

    assert response.status_code == 200
    theirs.refresh_from_db()
    assert theirs.holiday_calendar == "US-CA"


def test_another_csm_cannot_set_my_customers_calendar(other_api, mine):
    response = other_api.patch(detail(mine.id), {"holiday_calendar": "GB"}, format="json")

    assert response.status_code == 404
    assert "Dataflow" not in response.content.decode()
    mine.refresh_from_db()
    assert mine.holiday_calendar == ""


def test_another_csm_gets_404_before_their_input_is_checked(other_api, mine):
    # A 400 here would confirm that the customer exists.
    response = other_api.patch(detail(mine.id), {"holiday_calendar": "XX"}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"holiday_calendar": "XX"}, "holiday_calendar", "not a country the holidays package"),
        ({"holiday_calendar": "de-by"}, "holiday_calendar", "codes are upper case: DE-BY"),
        ({"holiday_calendar": "DE-ZZ"}, "holiday_calendar", "no subdivision 'ZZ' of DE"),
        ({"holiday_calendar": "US-CALIFORNIA"}, "holiday_calendar", "no more than 12 characters"),
        ({"region": "emea|apac"}, "region", '"|"'),
        ({"segment": "x" * 51}, "segment", "no more than 50 characters"),
        ({"region": None}, "region", "may not be null"),
        ({"name": "Renamed"}, "name", "cannot be changed here"),
    ],
)
def test_a_bad_value_is_a_400_naming_the_field(csm_api, mine, body, field, message):
    response = csm_api.patch(detail(mine.id), body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    mine.refresh_from_db()
    assert (mine.name, mine.holiday_calendar, mine.region) == ("Dataflow Inc", "", "")


def test_a_body_that_is_not_an_object_is_a_400(csm_api, mine):
    response = csm_api.patch(detail(mine.id), ["DE-BY"], format="json")

    assert response.status_code == 400


# --- a customer's anomalies ---------------------------------------------------------------


def test_a_customers_anomalies_come_open_first_or_newest_first_with_every_field(
    csm_api, mine, make_anomaly, today
):
    now = dt.datetime.now(dt.UTC)
    older = make_anomaly(
        mine,
        metric_type="logins",
        anomaly_type="spike",
        severity="warning",
        baseline_value=100,
        actual_value=250,
        deviation_percent=150,
        detected_at=now - dt.timedelta(days=2),
    )
    newer = make_anomaly(
        mine,
        detected_at=now,
        start_date=today - dt.timedelta(days=4),
        end_date=today,
        status="resolved",
        score=-7.5,
        expected_low=40000,
        expected_high=50000,
        confidence="low",
        data_completeness=0.9,
        possible_cause="Integration issue or migration",
    )

    # By default the open one comes first, whatever was detected last.
    assert result_ids(csm_api.get(anomalies_of(mine.id))) == [str(older.id), str(newer.id)]
    response = csm_api.get(anomalies_of(mine.id), {"sort": "-detected_at"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert result_ids(response) == [str(newer.id), str(older.id)]
    row = body["results"][0]
    assert row["customer"] == {"id": str(mine.id), "name": "Dataflow Inc"}
    assert row["metric_type"] == "api_calls"
    assert row["anomaly_type"] == "drop"
    assert row["severity"] == "critical"
    assert row["direction"] == "negative"
    assert row["status"] == "resolved"
    # Numbers are JSON numbers, not the strings DRF makes of decimals by default.
    for field, value in [
        ("baseline_value", 45000),
        ("actual_value", 15000),
        ("deviation_percent", -66.67),
        ("expected_low", 40000),
        ("expected_high", 50000),
        ("score", -7.5),
        ("data_completeness", 0.9),
    ]:
        assert isinstance(row[field], int | float), field
        assert row[field] == pytest.approx(value), field
    assert row["start_date"] == (today - dt.timedelta(days=4)).isoformat()
    assert row["end_date"] == today.isoformat()
    assert row["duration_days"] == 5
    assert row["detected_at"]
    assert row["confidence"] == "low"
    assert row["possible_cause"] == "Integration issue or migration"
    assert row["summary"] == "67% drop in API calls"
    assert row["dismissed_at"] is None
    assert row["dismissed_by"] is None
    assert row["dismiss_reason"] == ""
    assert row["dismiss_note"] == ""
    assert row["dismissed_until"] is None
    assert body["results"][1]["summary"] == "150% increase in logins"


def test_a_customers_anomalies_exclude_other_customers(
    csm_api, csm, make_customer, mine, make_anomaly
):
    sibling = make_customer(name="Sibling", csm=csm)
    own = make_anomaly(mine)
    make_anomaly(sibling)

    response = csm_api.get(anomalies_of(mine.id))

    assert result_ids(response) == [str(own.id)]


def test_a_dismissed_anomaly_names_who_dismissed_it(csm_api, csm, mine, make_anomaly):
    make_anomaly(
        mine,
        status="dismissed",
        dismissed_by=csm,
        dismiss_reason="expected",
        dismiss_note="Planned migration",
        dismissed_until=dt.date(2030, 1, 1),
    )

    row = csm_api.get(anomalies_of(mine.id)).json()["results"][0]

    assert row["status"] == "dismissed"
    assert row["dismissed_by"] == "alice"
    assert row["dismiss_reason"] == "expected"
    assert row["dismiss_note"] == "Planned migration"
    assert row["dismissed_until"] == "2030-01-01"
    assert row["dismissed_at"] is not None


def test_another_csm_cannot_list_my_customers_anomalies(other_api, mine, make_anomaly):
    make_anomaly(mine)

    response = other_api.get(anomalies_of(mine.id))

    assert response.status_code == 404
    assert "results" not in response.json()


def test_another_csm_gets_404_before_their_filters_are_checked(other_api, mine):
    # A 400 here would confirm that the customer exists.
    response = other_api.get(anomalies_of(mine.id), {"severity": "nope"})

    assert response.status_code == 404


def test_staff_can_list_any_customers_anomalies(staff_api, mine, make_anomaly):
    anomaly = make_anomaly(mine)

    response = staff_api.get(anomalies_of(mine.id))

    assert response.status_code == 200
    assert result_ids(response) == [str(anomaly.id)]


def test_anomalies_of_a_malformed_customer_id_is_404(csm_api):
    assert csm_api.get(anomalies_of("nope")).status_code == 404


@pytest.fixture
def varied(mine, make_anomaly, today):
    """Four anomalies of one customer that each filter tells apart."""
    return {
        "drop": make_anomaly(mine, start_date=today - dt.timedelta(days=20), severity="critical"),
        "spike": make_anomaly(
            mine,
            metric_type="logins",
            anomaly_type="spike",
            severity="warning",
            deviation_percent=150,
            start_date=today - dt.timedelta(days=10),
        ),
        "resolved": make_anomaly(
            mine,
            metric_type="active_users",
            severity="info",
            start_date=today - dt.timedelta(days=5),
            end_date=today - dt.timedelta(days=3),
            status="resolved",
        ),
        "dismissed": make_anomaly(
            mine,
            metric_type="feature:reports",
            anomaly_type="feature_abandonment",
            severity="warning",
            start_date=today - dt.timedelta(days=1),
            status="dismissed",
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, {"drop", "spike"}),
        ({"status": "resolved"}, {"resolved"}),
        ({"status": "dismissed"}, {"dismissed"}),
        ({"severity": "warning"}, {"spike", "dismissed"}),
        ({"severity": "info"}, {"resolved"}),
        ({"anomaly_type": "spike"}, {"spike"}),
        ({"anomaly_type": "feature_abandonment"}, {"dismissed"}),
        ({"metric": "logins"}, {"spike"}),
        ({"metric": "feature:reports"}, {"dismissed"}),
        ({"severity": "warning", "status": "open"}, {"spike"}),
        ({}, {"drop", "spike", "resolved", "dismissed"}),
    ],
)
def test_a_customers_anomalies_filter(csm_api, mine, varied, params, expected):
    response = csm_api.get(anomalies_of(mine.id), params)

    assert response.status_code == 200
    assert set(result_ids(response)) == {str(varied[k].id) for k in expected}


def test_since_and_until_bound_the_start_date_inclusively(csm_api, mine, varied, today):
    since = (today - dt.timedelta(days=10)).isoformat()
    until = (today - dt.timedelta(days=5)).isoformat()

    response = csm_api.get(anomalies_of(mine.id), {"since": since, "until": until})

    assert response.status_code == 200
    assert set(result_ids(response)) == {str(varied["spike"].id), str(varied["resolved"].id)}
    only_since = csm_api.get(anomalies_of(mine.id), {"since": since})
    assert set(result_ids(only_since)) == {
        str(varied[k].id) for k in ("spike", "resolved", "dismissed")
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"severity": "nope"}, "severity"),
        ({"status": "closed"}, "status"),
        ({"anomaly_type": "dip"}, "anomaly_type"),
        ({"since": "notadate"}, "since"),
        ({"until": "2025-13-01"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_field(csm_api, mine, params, field):
    response = csm_api.get(anomalies_of(mine.id), params)

    assert response.status_code == 400
    assert field in response.json()


def test_a_customer_filter_cannot_pick_another_account(csm_api, mine, theirs, make_anomaly):
    # The account is the path's; the portfolio list's `customer` filter is not offered here.
    own = make_anomaly(mine)
    make_anomaly(theirs)

    response = csm_api.get(anomalies_of(mine.id), {"customer": str(theirs.id)})

    assert response.status_code == 200
    assert result_ids(response) == [str(own.id)]


@pytest.mark.parametrize(
    "params",
    [
        {"search": "\x00"},
        {"search": "x" * 5000},
        {"search": "%_"},
        {"page": "0"},
        {"page": "x"},
        {"page": "999"},
        {"page_size": "-1"},
    ],
)
def test_odd_list_queries_never_crash(csm_api, mine, params):
    response = csm_api.get(LIST, params)

    assert response.status_code in (200, 400, 404)


@pytest.mark.parametrize("params", [{"metric": "api\x00calls"}, {"metric": "x" * 500}])
def test_odd_anomaly_filters_never_crash(csm_api, mine, make_anomaly, params):
    make_anomaly(mine)

    response = csm_api.get(anomalies_of(mine.id), params)

    assert response.status_code in (200, 400)
