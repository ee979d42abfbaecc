import datetime as dt
import uuid

import pytest

from anomalies.models import AnomalyAction, DataQualityEvent, UsageAnomaly
from customers.models import RiskSignal

pytestmark = pytest.mark.django_db


def dismiss_url(anomaly_id) -> str:
    return f"/api/analytics/anomalies/{anomaly_id}/dismiss"


def reopen_url(anomaly_id) -> str:
    return f"/api/analytics/anomalies/{anomaly_id}/reopen"


@pytest.fixture
def anomaly(mine, make_anomaly):
    return make_anomaly(mine)


def test_the_owner_dismisses_an_anomaly(csm_api, csm, anomaly):
    response = csm_api.put(
        dismiss_url(anomaly.id),
        {"reason": "false_positive", "note": "Known batch job"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(anomaly.id)
    assert body["status"] == "dismissed"
    assert body["dismissed_by"] == "alice"
    assert body["dismissed_at"] is not None
    assert body["dismiss_reason"] == "false_positive"
    assert body["dismiss_note"] == "Known batch job"
    assert body["dismissed_until"] is None
    anomaly.refresh_from_db()
    assert anomaly.status == "dismissed"
    assert anomaly.dismissed_by == csm
    assert anomaly.dismiss_note == "Known batch job"


def test_an_expected_dismissal_keeps_its_until_date(csm_api, anomaly):
    response = csm_api.put(
        dismiss_url(anomaly.id), {"reason": "expected", "until": "2030-06-30"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["dismissed_until"] == "2030-06-30"
    anomaly.refresh_from_db()
    assert anomaly.dismissed_until == dt.date(2030, 6, 30)


def test_the_note_is_optional(csm_api, anomaly):
    response = csm_api.put(dismiss_url(anomaly.id), {"reason": "new_normal"}, format="json")

    assert response.status_code == 200
    assert response.json()["dismiss_reason"] == "new_normal"
    assert response.json()["dismiss_note"] == ""


def test_a_data_issue_dismissal_is_shown_to_ops(csm_api, mine, anomaly):
    response = csm_api.put(
        dismiss_url(anomaly.id), {"reason": "data_issue", "note": "ETL broke"}, format="json"
    )

    assert response.status_code == 200
    event = DataQualityEvent.objects.get(anomaly=anomaly)
    assert event.kind == "data_issue"
    assert event.customer == mine
    assert event.note == "ETL broke"


def test_dismissing_resolves_the_anomalys_risk_signal(csm_api, mine, anomaly):
    signal = RiskSignal.objects.create(
        customer=mine, kind="usage_drop", severity="critical", title="drop", anomaly=anomaly
    )

    csm_api.put(dismiss_url(anomaly.id), {"reason": "false_positive"}, format="json")

    signal.refresh_from_db()
    assert signal.resolved_at is not None


def test_dismissing_again_with_another_reason_is_a_409_with_the_dismissal_in_force(
    csm_api, other_api, staff_api, anomaly
):
    first = csm_api.put(
        dismiss_url(anomaly.id), {"reason": "expected", "note": "Migration"}, format="json"
    )
    assert first.status_code == 200

    for api, body in [
        (csm_api, {"reason": "false_positive", "note": "changed my mind"}),
        (csm_api, {"reason": "expected", "note": "another note"}),
        (csm_api, {"reason": "expected"}),  # the note left out is an empty one
        (csm_api, {"reason": "expected", "note": "Migration", "until": "2030-01-01"}),
        (staff_api, {"reason": "new_normal", "note": "Migration"}),
    ]:
        second = api.put(dismiss_url(anomaly.id), body, format="json")

        assert second.status_code == 409, body
        assert second.json() == {
            "detail": (
                f"Already dismissed as 'Expected (e.g. a planned change)' on "
                f"{first.json()['dismissed_at'][:10]} by alice: reopen it first to dismiss "
                "it with another reason or note."
            ),
            "dismissal": {
                "reason": "expected",
                "note": "Migration",
                "until": None,
                "by": "alice",
                "at": first.json()["dismissed_at"],
            },
        }
    anomaly.refresh_from_db()
    assert (anomaly.dismiss_reason, anomaly.dismiss_note) == ("expected", "Migration")
    assert AnomalyAction.objects.filter(anomaly=anomaly, kind="dismiss").count() == 1
    # Another CSM still learns nothing about it.
    conflict = other_api.put(dismiss_url(anomaly.id), {"reason": "new_normal"}, format="json")
    assert conflict.status_code == 404


def test_sending_the_same_dismissal_again_is_a_harmless_200(csm_api, anomaly):
    body = {"reason": "expected", "note": "Migration", "until": "2030-06-30"}
    first = csm_api.put(dismiss_url(anomaly.id), body, format="json")

    second = csm_api.put(dismiss_url(anomaly.id), body, format="json")

    assert second.status_code == 200
    assert second.json() == first.json()
    assert AnomalyAction.objects.filter(anomaly=anomaly, kind="dismiss").count() == 1


def test_reopening_lets_the_dismissal_change(csm_api, anomaly):
    csm_api.put(dismiss_url(anomaly.id), {"reason": "expected"}, format="json")
    csm_api.put(reopen_url(anomaly.id), format="json")

    response = csm_api.put(
        dismiss_url(anomaly.id), {"reason": "false_positive", "note": "noise"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["dismiss_reason"], response.json()["dismiss_note"]) == (
        "false_positive",
        "noise",
    )
    assert list(
        AnomalyAction.objects.filter(anomaly=anomaly)
        .order_by("created_at", "pk")
        .values_list("kind", flat=True)
    ) == ["dismiss", "reopen", "dismiss"]


@pytest.mark.parametrize(
    "body", [{"reason": "bored"}, {}, {"reason": ""}, {"reason": None}, {"reason": ["expected"]}]
)
def test_a_bad_or_missing_reason_is_a_400_on_reason(csm_api, anomaly, body):
    response = csm_api.put(dismiss_url(anomaly.id), body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    assert isinstance(response.json()["reason"], list)
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


@pytest.mark.parametrize("until", ["notadate", "2030-02-30", 12])
def test_a_bad_until_date_is_a_400_on_until(csm_api, anomaly, until):
    response = csm_api.put(
        dismiss_url(anomaly.id), {"reason": "expected", "until": until}, format="json"
    )

    assert response.status_code == 400
    assert "until" in response.json()
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


def test_another_csm_cannot_dismiss_my_anomaly(other_api, anomaly):
    response = other_api.put(dismiss_url(anomaly.id), {"reason": "false_positive"}, format="json")

    assert response.status_code == 404
    anomaly.refresh_from_db()
    assert anomaly.status == "open"
    assert anomaly.dismissed_at is None


def test_another_csm_gets_404_even_with_a_bad_body(other_api, anomaly):
    # Validation must not run first: a 400 would confirm the anomaly exists.
    response = other_api.put(dismiss_url(anomaly.id), {"reason": "bored"}, format="json")

    assert response.status_code == 404


def test_staff_can_dismiss_any_anomaly(staff_api, anomaly):
    response = staff_api.put(dismiss_url(anomaly.id), {"reason": "expected"}, format="json")

    assert response.status_code == 200
    assert response.json()["dismissed_by"] == "olga"


@pytest.mark.parametrize("path_id", [str(uuid.uuid4()), "nope"])
def test_dismissing_an_unknown_anomaly_is_404(csm_api, path_id):
    response = csm_api.put(dismiss_url(path_id), {"reason": "expected"}, format="json")

    assert response.status_code == 404


def test_dismiss_only_accepts_put(csm_api, anomaly):
    assert csm_api.get(dismiss_url(anomaly.id)).status_code == 405
    assert csm_api.delete(dismiss_url(anomaly.id)).status_code == 405
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


# --- reopen -------------------------------------------------------------------------------


def test_reopening_an_ongoing_anomaly_makes_it_open_again(csm_api, csm, mine, make_anomaly):
    anomaly = make_anomaly(
        mine,
        status="dismissed",
        dismissed_by=csm,
        dismiss_reason="expected",
        dismiss_note="n",
        dismissed_until=dt.date(2030, 1, 1),
    )

    response = csm_api.put(reopen_url(anomaly.id), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "open"
    assert body["dismissed_at"] is None
    assert body["dismissed_by"] is None
    assert body["dismiss_reason"] == ""
    assert body["dismissed_until"] is None
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


def test_reopening_an_ended_anomaly_makes_it_resolved(csm_api, mine, make_anomaly, today):
    anomaly = make_anomaly(mine, status="dismissed", end_date=today)

    response = csm_api.put(reopen_url(anomaly.id), format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "resolved"
    assert UsageAnomaly.objects.get(pk=anomaly.pk).status == "resolved"


def test_dismiss_then_reopen_round_trips(csm_api, anomaly):
    csm_api.put(dismiss_url(anomaly.id), {"reason": "data_issue"}, format="json")

    response = csm_api.put(reopen_url(anomaly.id), format="json")

    assert response.json()["status"] == "open"
    assert not DataQualityEvent.objects.filter(anomaly=anomaly).exists()


def test_reopening_an_open_anomaly_changes_nothing(csm_api, anomaly):
    response = csm_api.put(reopen_url(anomaly.id), format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "open"


def test_another_csm_cannot_reopen_my_anomaly(other_api, mine, make_anomaly):
    anomaly = make_anomaly(mine, status="dismissed")

    response = other_api.put(reopen_url(anomaly.id), format="json")

    assert response.status_code == 404
    anomaly.refresh_from_db()
    assert anomaly.status == "dismissed"


def test_staff_can_reopen_any_anomaly(staff_api, theirs, make_anomaly):
    anomaly = make_anomaly(theirs, status="dismissed")

    response = staff_api.put(reopen_url(anomaly.id), format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "open"
