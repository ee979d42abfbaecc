"""/api/analytics/followups: list, open, move, close and reopen follow-ups, each CSM their
own accounts' only (another CSM's follow-up, account or anomaly is a 404), staff all."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from anomalies.models import AnomalyAction, FollowUp, Outcome
from tests.factories import FollowUpFactory

pytestmark = pytest.mark.django_db

LIST = reverse("api-followup-list")


def detail(followup) -> str:
    return reverse("api-followup-detail", args=[followup.pk])


def close(followup) -> str:
    return reverse("api-followup-close", args=[followup.pk])


@pytest.fixture
def drop(make_anomaly, mine):
    return make_anomaly(mine)


@pytest.fixture
def their_followup(make_anomaly, theirs):
    return FollowUpFactory(anomaly=make_anomaly(theirs))


def test_the_list_is_the_callers_open_ones_first(csm_api, drop, their_followup):
    late = FollowUpFactory(anomaly=drop, overdue=True)
    done = FollowUpFactory(anomaly=drop, done=True, kind="explore_expansion")

    response = csm_api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [str(late.pk), str(done.pk)]
    first = body["results"][0]
    assert (first["overdue"], first["status"], first["owner"], first["anomaly"]) == (
        True,
        "open",
        "alice",
        str(drop.pk),
    )
    assert first["customer"] == {"id": str(drop.customer_id), "name": "Dataflow Inc"}
    only_done = csm_api.get(LIST, {"status": "done"}).json()
    assert [r["id"] for r in only_done["results"]] == [str(done.pk)]


def test_a_bad_status_is_a_400_naming_it(csm_api):
    response = csm_api.get(LIST, {"status": "late"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_staff_see_everyone_on_request(staff_api, drop, their_followup):
    FollowUpFactory(anomaly=drop)
    assert staff_api.get(LIST).json()["count"] == 0
    assert staff_api.get(LIST, {"everyone": "true"}).json()["count"] == 2


def test_create_from_an_anomaly_defaults_and_records_the_action(csm_api, drop):
    response = csm_api.post(
        LIST,
        {"customer": str(drop.customer_id), "anomaly": str(drop.pk), "kind": "schedule_training"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    due = timezone.localdate() + dt.timedelta(days=7)
    assert (body["due_date"], body["kind"], body["owner"]) == (
        due.isoformat(),
        "schedule_training",
        "alice",
    )
    assert body["title"] == "Schedule training: Dataflow Inc (67% drop in API calls)"
    assert AnomalyAction.objects.get().kind == "schedule_training"
    again = csm_api.post(
        LIST,
        {"customer": str(drop.customer_id), "anomaly": str(drop.pk), "kind": "schedule_training"},
        format="json",
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert FollowUp.objects.count() == 1


def test_create_without_an_anomaly_with_a_title_and_date(csm_api, mine):
    day = timezone.localdate() + dt.timedelta(days=10)
    response = csm_api.post(
        LIST,
        {"customer": str(mine.pk), "kind": "other", "title": "QBR prep", "due_date": str(day)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["title"], response.json()["anomaly"]) == ("QBR prep", None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "investigate"}, "kind"),
        ({"kind": "other", "due_date": "2001-01-01"}, "due_date"),
        ({"kind": "other", "due_date": "9999-12-31"}, "due_date"),
        ({"kind": "other", "due_date": "soon"}, "due_date"),
        ({"kind": "other", "title": "x" * 201}, "title"),
        ({"kind": "other", "customer": "not-a-uuid"}, "customer"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(csm_api, mine, data, field):
    response = csm_api.post(LIST, {"customer": str(mine.pk), **data}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not FollowUp.objects.exists()


def test_create_on_another_csms_account_or_anomaly_is_a_404(csm_api, mine, theirs, make_anomaly):
    response = csm_api.post(LIST, {"customer": str(theirs.pk), "kind": "other"}, format="json")
    assert response.status_code == 404
    their_anomaly = make_anomaly(theirs)
    response = csm_api.post(
        LIST,
        {"customer": str(mine.pk), "anomaly": str(their_anomaly.pk), "kind": "other"},
        format="json",
    )
    assert response.status_code == 404
    assert not FollowUp.objects.exists()


def test_an_anomaly_of_another_of_my_accounts_is_a_400(csm_api, drop, make_customer, csm):
    other_account = make_customer(csm=csm)
    response = csm_api.post(
        LIST,
        {"customer": str(other_account.pk), "anomaly": str(drop.pk), "kind": "other"},
        format="json",
    )
    assert response.status_code == 400
    assert "anomaly" in response.json()


def test_close_done_sets_the_anomalys_outcome(csm_api, drop):
    followup = FollowUpFactory(anomaly=drop)
    response = csm_api.put(close(followup), {"outcome": "expanded", "note": "+20 seats"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["closing_outcome"], body["closed_by"]) == (
        "done",
        "expanded",
        "alice",
    )
    drop.refresh_from_db()
    assert (drop.outcome, drop.outcome_note) == (Outcome.EXPANDED, "+20 seats")


def test_close_twice_is_a_409_and_the_first_outcome_stands(csm_api, drop):
    followup = FollowUpFactory(anomaly=drop)
    csm_api.put(close(followup), {"outcome": "churned"}, format="json")
    response = csm_api.put(close(followup), {"outcome": "expanded"}, format="json")
    assert response.status_code == 409
    assert response.json()["status"] == "done"
    drop.refresh_from_db()
    assert drop.outcome == Outcome.CHURNED


@pytest.mark.parametrize(
    "data",
    [{}, {"outcome": "unknown"}, {"outcome": "churned", "cancel": True}],
)
def test_close_needs_an_outcome_unless_cancelled(csm_api, drop, data):
    followup = FollowUpFactory(anomaly=drop)
    response = csm_api.put(close(followup), data, format="json")
    assert response.status_code == 400
    assert "outcome" in response.json()


def test_cancel_and_reopen(csm_api, drop):
    followup = FollowUpFactory(anomaly=drop)
    assert csm_api.put(close(followup), {"cancel": True}, format="json").json()["status"] == (
        "cancelled"
    )
    response = csm_api.put(reverse("api-followup-reopen", args=[followup.pk]))
    assert response.status_code == 200
    assert response.json()["status"] == "open"


def test_patch_moves_the_due_date(csm_api, drop):
    followup = FollowUpFactory(anomaly=drop)
    day = timezone.localdate() + dt.timedelta(days=3)
    response = csm_api.patch(detail(followup), {"due_date": str(day)}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["due_date"] == day.isoformat()
    assert csm_api.patch(detail(followup), {"due_date": "2001-01-01"}).status_code == 400


@pytest.mark.parametrize(
    ("method", "name", "data"),
    [
        ("get", "api-followup-detail", None),
        ("patch", "api-followup-detail", {"due_date": "2030-01-01"}),
        ("put", "api-followup-close", {"outcome": "churned"}),
        ("put", "api-followup-reopen", None),
    ],
)
def test_another_csms_follow_up_is_a_404(csm_api, their_followup, method, name, data):
    url = reverse(name, args=[their_followup.pk])
    response = getattr(csm_api, method)(url, data, format="json")
    assert response.status_code == 404
    their_followup.refresh_from_db()
    assert their_followup.status == "open"


def test_anonymous_callers_are_refused(anon_api):
    assert anon_api.get(LIST).status_code in {401, 403}
