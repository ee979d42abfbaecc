import uuid

import pytest

from anomalies.models import DetectionSettings

pytestmark = pytest.mark.django_db

URL = "/api/analytics/settings"

ROW_FIELDS = {
    "customer",
    "metric",
    "sensitivity",
    "drop_percent",
    "spike_percent",
    "z_threshold",
    "min_duration_days",
    "min_volume",
    "updated_by",
    "updated_at",
}
# GET's entries add the values in force to the row as saved (PUT answers the row).
ENTRY_FIELDS = ROW_FIELDS | {"saved", "in_force"}
# The sensitivity and every threshold a CSM tunes: the row's fields but its scope and history.
IN_FORCE_FIELDS = ROW_FIELDS - {"customer", "metric", "updated_by", "updated_at"}


@pytest.fixture
def scopes(mine, theirs, staff):
    return {
        "global": DetectionSettings.objects.create(sensitivity="low", updated_by=staff),
        "metric": DetectionSettings.objects.create(
            metric="logins", sensitivity="high", drop_percent=30
        ),
        "mine": DetectionSettings.objects.create(customer=mine, sensitivity="high"),
        "mine_logins": DetectionSettings.objects.create(
            customer=mine, metric="logins", sensitivity="medium", min_volume=10
        ),
        "theirs": DetectionSettings.objects.create(customer=theirs, sensitivity="low"),
    }


def in_force(entry) -> dict:
    """An entry's values in force as {field: (value, source label)}."""
    return {name: (v["value"], v["source_label"]) for name, v in entry["in_force"].items()}


def test_with_no_settings_global_shows_the_default_preset(csm_api):
    response = csm_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert (body["metrics"], body["customers"]) == ([], [])
    assert set(body["global"]) == ENTRY_FIELDS
    assert body["global"]["saved"] is False
    assert (body["global"]["customer"], body["global"]["metric"]) == (None, "")
    assert (body["global"]["updated_at"], body["global"]["updated_by"]) == (None, None)
    assert set(body["global"]["in_force"]) == IN_FORCE_FIELDS
    assert all(v["source"] is None for v in body["global"]["in_force"].values())
    # The medium preset (anomalies.detection.config): what every series gets.
    assert in_force(body["global"]) == {
        "sensitivity": ("medium", "default preset"),
        "z_threshold": (3.5, "preset 'medium'"),
        "drop_percent": (30.0, "preset 'medium'"),
        "spike_percent": (50.0, "preset 'medium'"),
        "min_duration_days": (2, "preset 'medium'"),
        "min_volume": (10.0, "preset 'medium'"),
    }


def test_values_in_force_merge_the_scopes_and_name_their_source(csm_api, mine, scopes):
    body = csm_api.get(URL).json()

    # Global: the low preset, saved without thresholds.
    assert body["global"]["saved"] is True
    assert in_force(body["global"])["sensitivity"] == ("low", "global")
    assert in_force(body["global"])["drop_percent"] == (50.0, "preset 'low'")
    # Logins for every customer: high, with its own drop.
    logins = in_force(body["metrics"][0])
    assert logins["sensitivity"] == ("high", "Logins")
    assert logins["drop_percent"] == (30.0, "Logins")
    assert logins["z_threshold"] == (3.0, "preset 'high'")
    by_metric = {c["metric"]: c for c in body["customers"]}
    # The customer: high; its drop comes from the high preset, not the global row's low one.
    assert in_force(by_metric[""])["sensitivity"] == ("high", "Dataflow Inc")
    assert in_force(by_metric[""])["drop_percent"] == (20.0, "preset 'high'")
    # The customer's logins: its own sensitivity and volume, the logins scope's drop.
    theirs_logins = by_metric["logins"]
    assert in_force(theirs_logins) == {
        "sensitivity": ("medium", "Dataflow Inc, Logins"),
        "min_volume": (10.0, "Dataflow Inc, Logins"),
        "drop_percent": (30.0, "Logins"),
        "spike_percent": (50.0, "preset 'medium'"),
        "z_threshold": (3.5, "preset 'medium'"),
        "min_duration_days": (2, "preset 'medium'"),
    }
    assert theirs_logins["in_force"]["drop_percent"]["source"] == {
        "customer": None,
        "metric": "logins",
    }
    assert theirs_logins["in_force"]["min_volume"]["source"] == {
        "customer": str(mine.id),
        "metric": "logins",
    }
    # The override as saved is unchanged: thresholds not set at the scope stay null.
    assert theirs_logins["drop_percent"] is None


def test_values_in_force_follow_the_feature_family(staff_api, mine):
    DetectionSettings.objects.create(metric="feature:*", sensitivity="low", drop_percent=60)
    DetectionSettings.objects.create(customer=mine, metric="feature:reports", sensitivity="high")

    body = staff_api.get(URL).json()

    entry = next(c for c in body["customers"] if c["metric"] == "feature:reports")
    assert in_force(entry)["sensitivity"] == ("high", "Dataflow Inc, Reports feature")
    assert in_force(entry)["drop_percent"] == (60.0, "All features")


def test_reading_the_settings_takes_a_bounded_number_of_queries(
    csm_api, mine, scopes, make_customer, csm, django_assert_max_num_queries
):
    for i in range(5):
        DetectionSettings.objects.create(
            customer=make_customer(name=f"Extra {i}", csm=csm), sensitivity="high"
        )
    # Session and user, the rows, the rows the merge reads.
    with django_assert_max_num_queries(5):
        assert len(csm_api.get(URL).json()["customers"]) == 7


def test_a_csm_sees_global_metric_and_their_customers_rows(csm_api, mine, scopes):
    response = csm_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body["global"]) == ENTRY_FIELDS
    assert body["global"]["customer"] is None
    assert body["global"]["metric"] == ""
    assert body["global"]["sensitivity"] == "low"
    assert body["global"]["updated_by"] == "olga"
    assert body["global"]["drop_percent"] is None
    assert [(m["metric"], m["sensitivity"], m["drop_percent"]) for m in body["metrics"]] == [
        ("logins", "high", 30)
    ]
    assert {(c["customer"], c["metric"]) for c in body["customers"]} == {
        (str(mine.id), ""),
        (str(mine.id), "logins"),
    }
    logins = next(c for c in body["customers"] if c["metric"] == "logins")
    assert logins["min_volume"] == 10


def test_another_csm_sees_only_their_own_customer_rows(other_api, theirs, scopes):
    body = other_api.get(URL).json()

    assert [c["customer"] for c in body["customers"]] == [str(theirs.id)]
    assert body["global"]["sensitivity"] == "low"


def test_staff_see_every_customers_rows(staff_api, mine, theirs, scopes):
    body = staff_api.get(URL).json()

    assert {c["customer"] for c in body["customers"]} == {str(mine.id), str(theirs.id)}
    assert len(body["customers"]) == 3


def test_the_owner_sets_a_customers_sensitivity(csm_api, mine):
    response = csm_api.put(
        URL,
        {
            "customer": str(mine.id),
            "sensitivity": "high",
            "drop_percent": 40,
            "spike_percent": 200,
            "z_threshold": 3.5,
            "min_duration_days": 2,
            "min_volume": 100,
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ENTRY_FIELDS
    assert body["saved"] is True
    # The answer says what the account's series now get, and from where.
    assert in_force(body)["drop_percent"] == (40.0, "Dataflow Inc")
    assert in_force(body)["sensitivity"] == ("high", "Dataflow Inc")
    assert body["customer"] == str(mine.id)
    assert body["metric"] == ""
    assert body["sensitivity"] == "high"
    assert body["drop_percent"] == 40
    assert body["spike_percent"] == 200
    assert body["z_threshold"] == 3.5
    assert body["min_duration_days"] == 2
    assert body["min_volume"] == 100
    assert body["updated_by"] == "alice"
    assert body["updated_at"]
    row = DetectionSettings.objects.get(customer=mine, metric="")
    assert (row.sensitivity, row.drop_percent, row.min_duration_days) == ("high", 40, 2)


def test_putting_the_same_scope_again_updates_it(csm_api, mine):
    csm_api.put(URL, {"customer": str(mine.id), "sensitivity": "high"}, format="json")

    response = csm_api.put(
        URL, {"customer": str(mine.id), "sensitivity": "low", "drop_percent": 50}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["sensitivity"] == "low"
    assert DetectionSettings.objects.filter(customer=mine).count() == 1
    assert DetectionSettings.objects.get(customer=mine).drop_percent == 50


def test_a_customer_and_metric_scope_is_its_own_row(csm_api, mine):
    csm_api.put(URL, {"customer": str(mine.id), "sensitivity": "high"}, format="json")

    response = csm_api.put(
        URL,
        {"customer": str(mine.id), "metric": "feature:reports", "sensitivity": "low"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["metric"] == "feature:reports"
    assert DetectionSettings.objects.filter(customer=mine).count() == 2
    listed = csm_api.get(URL).json()["customers"]
    assert {(c["metric"], c["sensitivity"]) for c in listed} == {
        ("", "high"),
        ("feature:reports", "low"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"sensitivity": "high"},
        {"customer": None, "sensitivity": "high"},
        {"metric": "logins", "sensitivity": "high"},
    ],
)
def test_a_csm_may_not_change_global_or_metric_settings(csm_api, mine, body):
    response = csm_api.put(URL, body, format="json")

    assert response.status_code == 403
    assert not DetectionSettings.objects.exists()


def test_staff_set_the_global_settings(staff_api, csm_api):
    response = staff_api.put(URL, {"sensitivity": "low", "z_threshold": 4}, format="json")

    assert response.status_code == 200
    assert response.json()["customer"] is None
    assert response.json()["metric"] == ""
    assert response.json()["updated_by"] == "olga"
    row = DetectionSettings.objects.get()
    assert (row.customer, row.metric, row.sensitivity, row.z_threshold) == (None, "", "low", 4)
    assert csm_api.get(URL).json()["global"]["z_threshold"] == 4


def test_staff_set_a_metrics_settings(staff_api):
    staff_api.put(URL, {"metric": "api_calls", "sensitivity": "high"}, format="json")
    response = staff_api.put(URL, {"metric": "api_calls", "sensitivity": "medium"}, format="json")

    assert response.status_code == 200
    body = staff_api.get(URL).json()
    assert body["global"]["saved"] is False
    assert [(m["metric"], m["sensitivity"]) for m in body["metrics"]] == [("api_calls", "medium")]
    assert DetectionSettings.objects.count() == 1


def test_staff_set_any_customers_settings(staff_api, theirs):
    response = staff_api.put(
        URL, {"customer": str(theirs.id), "sensitivity": "high"}, format="json"
    )

    assert response.status_code == 200
    assert DetectionSettings.objects.get().customer == theirs


def test_another_csms_customer_is_404(csm_api, theirs):
    response = csm_api.put(URL, {"customer": str(theirs.id), "sensitivity": "high"}, format="json")

    assert response.status_code == 404
    assert not DetectionSettings.objects.exists()


def test_an_unknown_customer_is_404(csm_api):
    response = csm_api.put(
        URL, {"customer": str(uuid.uuid4()), "sensitivity": "high"}, format="json"
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"drop_percent": 150}, "drop_percent"),
        ({"drop_percent": 0}, "drop_percent"),
        ({"drop_percent": -5}, "drop_percent"),
        ({"spike_percent": 0}, "spike_percent"),
        ({"z_threshold": -1}, "z_threshold"),
        ({"min_duration_days": 0}, "min_duration_days"),
        ({"min_duration_days": 1.5}, "min_duration_days"),
        ({"min_duration_days": 70000}, "min_duration_days"),
        ({"min_volume": -1}, "min_volume"),
        ({"drop_percent": "lots"}, "drop_percent"),
        ({"drop_percent": "NaN"}, "drop_percent"),
        ({"z_threshold": "Infinity"}, "z_threshold"),
        ({"sensitivity": "extreme"}, "sensitivity"),
        ({"sensitivity": None}, "sensitivity"),
        ({"customer": "not-a-uuid"}, "customer"),
        ({"metric": "Not A Slug"}, "metric"),
        ({"metric": "x" * 51}, "metric"),
    ],
)
def test_out_of_range_values_are_400_naming_the_field(csm_api, mine, changes, field):
    body = {"customer": str(mine.id), "sensitivity": "high", **changes}

    response = csm_api.put(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DetectionSettings.objects.exists()


def test_sensitivity_is_required(csm_api, mine):
    response = csm_api.put(URL, {"customer": str(mine.id)}, format="json")

    assert response.status_code == 400
    assert "sensitivity" in response.json()


@pytest.mark.parametrize("body", ["[]", "null", "not json", '"high"'])
def test_a_body_that_is_not_an_object_is_400(staff_api, body):
    response = staff_api.put(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert not DetectionSettings.objects.exists()


def test_the_owner_removes_their_customers_override(csm_api, mine, scopes):
    response = csm_api.delete(f"{URL}?customer={mine.id}")

    assert response.status_code == 204
    assert not DetectionSettings.objects.filter(customer=mine, metric="").exists()
    # The customer-and-metric scope is a row of its own and stays.
    assert DetectionSettings.objects.filter(customer=mine, metric="logins").exists()
    customers = csm_api.get(URL).json()["customers"]
    assert [(c["customer"], c["metric"]) for c in customers] == [(str(mine.id), "logins")]


def test_the_owner_removes_a_customer_and_metric_override(csm_api, mine, scopes):
    response = csm_api.delete(f"{URL}?customer={mine.id}&metric=logins")

    assert response.status_code == 204
    assert not DetectionSettings.objects.filter(customer=mine, metric="logins").exists()
    assert DetectionSettings.objects.filter(customer=mine, metric="").exists()


def test_removing_a_scope_without_an_override_is_404(csm_api, mine):
    response = csm_api.delete(f"{URL}?customer={mine.id}")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_removing_another_csms_override_is_404(csm_api, theirs, scopes):
    response = csm_api.delete(f"{URL}?customer={theirs.id}")

    assert response.status_code == 404
    assert DetectionSettings.objects.filter(customer=theirs).exists()


@pytest.mark.parametrize("query", ["", "?metric=logins"])
def test_a_csm_may_not_remove_global_or_metric_settings(csm_api, scopes, query):
    response = csm_api.delete(URL + query)

    assert response.status_code == 403
    assert DetectionSettings.objects.count() == len(scopes)


@pytest.mark.parametrize(
    ("query", "gone"),
    [("", "global"), ("?metric=logins", "metric"), ("?customer={theirs}", "theirs")],
)
def test_staff_remove_any_scope(staff_api, theirs, scopes, query, gone):
    response = staff_api.delete(URL + query.format(theirs=theirs.id))

    assert response.status_code == 204
    assert not DetectionSettings.objects.filter(pk=scopes[gone].pk).exists()
    assert DetectionSettings.objects.count() == len(scopes) - 1


def test_staff_remove_the_feature_family_scope(staff_api):
    DetectionSettings.objects.create(metric="feature:*", sensitivity="low")

    response = staff_api.delete(f"{URL}?metric=feature:*")

    assert response.status_code == 204
    assert not DetectionSettings.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"), [("?customer=not-a-uuid", "customer"), ("?metric=Bad Slug!", "metric")]
)
def test_a_bad_scope_is_400_naming_the_field(staff_api, scopes, query, field):
    response = staff_api.delete(URL + query)

    assert response.status_code == 400
    assert field in response.json()
    assert DetectionSettings.objects.count() == len(scopes)


def test_staff_set_the_feature_family_scope(staff_api):
    response = staff_api.put(
        URL, {"metric": "feature:*", "sensitivity": "low", "drop_percent": 60}, format="json"
    )

    assert response.status_code == 200
    row = DetectionSettings.objects.get()
    assert (row.customer, row.metric, row.drop_percent) == (None, "feature:*", 60)
    # Only the family itself: a look-alike is no slug.
    bad = staff_api.put(URL, {"metric": "feature:**", "sensitivity": "low"}, format="json")
    assert bad.status_code == 400
    assert "metric" in bad.json()
