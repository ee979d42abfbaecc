"""PUT/GET /api/customers/<id>/lifecycle: the owner and staff record changes, another CSM
gets a 404, bad values are refused naming the field, a repeat updates."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import LifecycleEvent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

DAY = dt.date(2025, 6, 2)


def url(customer) -> str:
    return reverse("api-customer-lifecycle", args=[customer.pk])


def body(**fields):
    return {"kind": "contracted", "date": DAY.isoformat(), **fields}


def test_the_owner_records_a_change_and_reads_it_back(csm_api, mine, make_anomaly):
    anomaly = make_anomaly(mine, start_date=DAY - dt.timedelta(days=20))

    response = csm_api.put(
        url(mine),
        body(arr_before="120000.50", arr_after="80000", note="two teams left"),
        format="json",
    )

    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["kind"], data["date"], data["arr_before"], data["arr_after"]) == (
        "contracted",
        "2025-06-02",
        "120000.50",
        "80000.00",
    )
    assert (data["source"], data["recorded_by"]) == ("api", "alice")
    listed = csm_api.get(url(mine)).json()
    assert [e["id"] for e in listed] == [data["id"]]
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_derived, str(anomaly.outcome_event_id)) == (
        "contracted",
        True,
        data["id"],
    )


def test_a_repeat_updates_the_same_change(csm_api, mine):
    first = csm_api.put(url(mine), body(arr_before="1000", arr_after="900"), format="json")
    again = csm_api.put(url(mine), body(arr_before="1000", arr_after="500"), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert LifecycleEvent.objects.get().arr_after == Decimal("500.00")


def test_a_churn_marks_the_account_churned(csm_api, mine):
    response = csm_api.put(url(mine), body(kind="churned", arr_after="0"), format="json")
    assert response.status_code == 201
    mine.refresh_from_db()
    assert (mine.status, mine.status_changed_on) == ("churned", DAY)


def test_another_csms_customer_is_a_404(csm_api, theirs):
    assert csm_api.put(url(theirs), body(), format="json").status_code == 404
    assert csm_api.get(url(theirs)).status_code == 404
    assert not LifecycleEvent.objects.exists()


def test_staff_record_for_any_account(staff_api, theirs):
    assert staff_api.put(url(theirs), body(), format="json").status_code == 201


def test_anonymous_callers_are_refused(anon_api, mine):
    assert anon_api.put(url(mine), body(), format="json").status_code in (401, 403)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "lost"}, "kind", '"lost" is not a valid choice.'),
        ({"date": "02/06/2025"}, "date", "Date has wrong format"),
        ({"date": "1999-12-31"}, "date", "is before 2000-01-01"),
        ({"date": "2999-01-01"}, "date", "is in the future"),
        ({"arr_before": "-5"}, "arr_before", "greater than or equal to 0"),
        ({"arr_after": "NaN"}, "arr_after", "A valid number is required."),
        ({"arr_after": "1" * 15}, "arr_after", "no more than 14 digits"),
        ({"arr_before": "100", "arr_after": "150"}, "arr_after", "a contraction lowers ARR"),
        ({"kind": "expanded", "arr_before": "100", "arr_after": "90"}, "arr_after", "raises"),
        ({"kind": "churned", "arr_after": "10"}, "arr_after", "must be 0"),
        ({"note": "x" * 2001}, "note", "no more than 2000 characters"),
        ({"note": "a\x00b"}, "note", "Null characters are not allowed."),
    ],
)
def test_bad_values_are_refused_naming_the_field(csm_api, mine, fields, field, message):
    response = csm_api.put(url(mine), body(**fields), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not LifecycleEvent.objects.exists()


def test_missing_fields_are_named(csm_api, mine):
    response = csm_api.put(url(mine), {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"kind", "date"}
