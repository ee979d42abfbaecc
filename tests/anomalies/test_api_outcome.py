"""PUT /api/analytics/anomalies/<id>/outcome, and the outcome record in the anomaly API."""

import datetime as dt

import pytest
from django.urls import reverse

from anomalies.models import AnomalyAction
from customers.services import lifecycle_record

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def url(anomaly) -> str:
    return reverse("api-anomaly-outcome", args=[anomaly.pk])


@pytest.mark.parametrize(
    "outcome", ["churned", "contracted", "expanded", "renewed", "no_impact", "unknown"]
)
def test_the_owner_sets_each_outcome(csm_api, mine, make_anomaly, outcome):
    anomaly = make_anomaly(mine)

    response = csm_api.put(url(anomaly), {"outcome": outcome, "note": "asked"}, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["outcome"], data["outcome_derived"], data["outcome_note"]) == (
        outcome,
        False,
        "asked",
    )
    # "unknown" is no judgement: nobody is named as having set it.
    assert data["outcome_set_by"] == (None if outcome == "unknown" else "alice")
    anomaly.refresh_from_db()
    assert anomaly.outcome == outcome


def test_another_csms_anomaly_is_a_404(csm_api, theirs, make_anomaly):
    anomaly = make_anomaly(theirs)
    response = csm_api.put(url(anomaly), {"outcome": "churned"}, format="json")
    assert response.status_code == 404
    anomaly.refresh_from_db()
    assert anomaly.outcome == "unknown"


def test_a_missing_anomaly_is_a_404(csm_api):
    response = csm_api.put(
        "/api/analytics/anomalies/00000000-0000-0000-0000-000000000000/outcome",
        {"outcome": "churned"},
        format="json",
    )
    assert response.status_code == 404


def test_staff_set_any_outcome(staff_api, theirs, make_anomaly):
    anomaly = make_anomaly(theirs)
    response = staff_api.put(url(anomaly), {"outcome": "expanded"}, format="json")
    assert response.status_code == 200
    assert response.json()["outcome_set_by"] == "olga"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"outcome": "lost"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "churned", "note": "x" * 2001}, "note"),
    ],
)
def test_bad_values_are_refused_naming_the_field(csm_api, mine, make_anomaly, data, field):
    anomaly = make_anomaly(mine)
    response = csm_api.put(url(anomaly), data, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_the_anomaly_api_shows_the_derived_outcome_and_the_actions(
    csm_api, csm, mine, make_anomaly, today
):
    anomaly = make_anomaly(mine, start_date=today - dt.timedelta(days=30))
    AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="contact_customer", note="call")
    event, _ = lifecycle_record(
        customer=mine, kind="churned", date=today - dt.timedelta(days=2), arr_after=0
    )

    data = csm_api.get(reverse("api-anomaly-detail", args=[anomaly.pk])).json()
    listed = csm_api.get(reverse("api-anomaly-list")).json()["results"][0]

    for row in (data, listed):
        assert (row["outcome"], row["outcome_derived"]) == ("churned", True)
        assert row["outcome_event"]["id"] == str(event.pk)
        assert row["outcome_event"]["kind"] == "churned"
        assert [(a["kind"], a["note"], a["user"]) for a in row["actions"]] == [
            ("contact_customer", "call", "alice")
        ]
