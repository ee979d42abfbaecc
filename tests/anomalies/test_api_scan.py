"""The scan API. Under pytest-django each test runs in a transaction that is rolled back, so
`on_commit` never fires: a started run stays queued and no task reaches a broker. That is what
makes the 409 for a second identical request testable here."""

import uuid

import pytest

from anomalies.models import ScanRun
from anomalies.services.scans import scan_run_sync, scan_start

pytestmark = pytest.mark.django_db

START = "/api/analytics/anomalies/scan"


def run_url(run_id) -> str:
    return f"/api/analytics/scans/{run_id}"


@pytest.fixture
def portfolio(csm, make_customer, mine, theirs):
    sibling = make_customer(name="Acme", csm=csm)
    return mine, sibling


def test_a_csm_scans_all_their_accounts(csm_api, csm, portfolio):
    response = csm_api.post(START, {}, format="json")

    assert response.status_code == 202
    body = response.json()
    run = ScanRun.objects.get()
    assert body["poll_url"] == f"/api/analytics/scans/{run.pk}"
    assert body["run"]["id"] == str(run.pk)
    assert body["run"]["status"] == "queued"
    assert body["run"]["trigger"] == "api"
    # Their two accounts, not the other CSM's.
    assert body["run"]["customers_total"] == 2
    assert body["run"]["chunks_total"] == 1
    assert body["run"]["chunks_done"] == 0
    assert run.triggered_by == csm
    assert sorted(run.scope["customers"]) == sorted(str(c.pk) for c in portfolio)


def test_staff_scan_every_account(staff_api, portfolio, theirs):
    response = staff_api.post(START, {}, format="json")

    assert response.status_code == 202
    assert response.json()["run"]["customers_total"] == 3
    assert ScanRun.objects.get().scope_key == "all"


def test_churned_accounts_are_left_out_of_a_whole_portfolio_scan(
    csm_api, staff_api, csm, make_customer, portfolio
):
    # The nightly scan skips churned accounts; "scan all my accounts" should agree with it.
    make_customer(name="Gone", csm=csm, status="churned")

    by_csm = csm_api.post(START, {}, format="json")
    by_staff = staff_api.post(START, {}, format="json")

    assert by_csm.json()["run"]["customers_total"] == 2
    assert by_staff.json()["run"]["customers_total"] == 3  # mine, sibling, theirs


def test_a_csm_scans_chosen_accounts(csm_api, mine, portfolio):
    response = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")

    assert response.status_code == 202
    assert response.json()["run"]["customers_total"] == 1
    assert ScanRun.objects.get().scope["customers"] == [str(mine.pk)]


def test_a_second_identical_scan_while_the_first_is_queued_is_409(csm_api, mine):
    first = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")
    second = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")

    assert first.status_code == 202
    assert second.status_code == 409
    body = second.json()
    assert body["detail"]
    assert body["run"]["id"] == first.json()["run"]["id"]
    assert ScanRun.objects.count() == 1


def test_a_different_scope_is_not_blocked(csm_api, portfolio):
    mine, sibling = portfolio
    first = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")
    second = csm_api.post(START, {"customer_ids": [str(sibling.pk)]}, format="json")

    assert (first.status_code, second.status_code) == (202, 202)
    assert ScanRun.objects.count() == 2


def test_a_finished_scan_does_not_block_the_next(csm_api, mine):
    first = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")
    scan_run_sync(run=ScanRun.objects.get(pk=first.json()["run"]["id"]))

    second = csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json")

    assert second.status_code == 202
    assert second.json()["run"]["id"] != first.json()["run"]["id"]


def test_another_csms_customer_is_404_and_starts_nothing(csm_api, mine, theirs):
    response = csm_api.post(START, {"customer_ids": [str(mine.pk), str(theirs.pk)]}, format="json")

    assert response.status_code == 404
    assert not ScanRun.objects.exists()


def test_an_unknown_customer_is_404(csm_api, mine):
    response = csm_api.post(START, {"customer_ids": [str(uuid.uuid4())]}, format="json")

    assert response.status_code == 404
    assert not ScanRun.objects.exists()


def test_staff_may_scan_any_customer(staff_api, theirs):
    response = staff_api.post(START, {"customer_ids": [str(theirs.pk)]}, format="json")

    assert response.status_code == 202
    assert response.json()["run"]["customers_total"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"customer_ids": ["not-a-uuid"]},
        {"customer_ids": "dataflow-001"},
        {"customer_ids": [123]},
        {"customer_ids": [None]},
        {"customer_ids": [{"id": "x"}]},
        {"customer_ids": None},
    ],
)
def test_malformed_customer_ids_are_400(csm_api, mine, body):
    response = csm_api.post(START, body, format="json")

    assert response.status_code == 400
    assert "customer_ids" in response.json()
    assert not ScanRun.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '"x"', "{"])
def test_a_body_that_is_not_an_object_never_crashes(csm_api, mine, body):
    response = csm_api.post(START, body, content_type="application/json")

    assert response.status_code == 400
    assert not ScanRun.objects.exists()


def test_an_overlong_id_list_is_one_error(csm_api, mine):
    # Checked before the ids: 20,000 bad ids used to make 20,000 error messages.
    response = csm_api.post(START, {"customer_ids": ["x"] * 20_000}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "customer_ids": ["Ensure this field has no more than 10000 elements."]
    }
    assert not ScanRun.objects.exists()


def test_an_empty_id_list_never_crashes(csm_api, mine):
    response = csm_api.post(START, {"customer_ids": []}, format="json")

    assert response.status_code in (202, 400)


def test_a_csm_without_accounts_can_scan_nothing(api_for, django_user_model, mine):
    lonely = django_user_model.objects.create_user(username="carol")

    response = api_for(lonely).post(START, {}, format="json")

    assert response.status_code == 202
    assert response.json()["run"]["customers_total"] == 0


def test_scans_are_throttled(csm_api, portfolio, settings):
    settings.SCAN_THROTTLE_RATE = "2/hour"
    mine, sibling = portfolio

    responses = [
        csm_api.post(START, {"customer_ids": [str(mine.pk)]}, format="json"),
        csm_api.post(START, {"customer_ids": [str(sibling.pk)]}, format="json"),
        csm_api.post(START, {}, format="json"),
    ]

    assert [r.status_code for r in responses] == [202, 202, 429]
    assert 3590 <= int(responses[2]["Retry-After"]) <= 3600
    assert ScanRun.objects.count() == 2


def test_scan_only_accepts_post(csm_api):
    assert csm_api.get(START).status_code == 405


# --- polling a run ------------------------------------------------------------------------

RUN_FIELDS = {
    "id",
    "status",
    "trigger",
    "customers_total",
    "customers_done",
    "chunks_total",
    "chunks_done",
    "series_count",
    "anomalies_new",
    "anomalies_updated",
    "anomalies_resolved",
    "error_count",
    "errors",
    "created_at",
    "started_at",
    "finished_at",
}


def test_the_triggering_csm_polls_their_run_to_the_end(csm_api, mine):
    started = csm_api.post(START, {}, format="json").json()

    queued = csm_api.get(started["poll_url"])
    assert queued.status_code == 200
    assert RUN_FIELDS <= set(queued.json())
    assert queued.json()["status"] == "queued"
    assert queued.json()["finished_at"] is None

    scan_run_sync(run=ScanRun.objects.get(pk=started["run"]["id"]))
    done = csm_api.get(started["poll_url"]).json()

    assert done["status"] == "succeeded"
    assert done["chunks_done"] == done["chunks_total"] == 1
    assert done["customers_done"] == 1
    assert done["error_count"] == 0
    assert done["errors"] == []
    assert done["started_at"] is not None
    assert done["finished_at"] is not None


def test_another_csm_cannot_poll_my_run(csm_api, other_api, mine):
    started = csm_api.post(START, {}, format="json").json()

    response = other_api.get(started["poll_url"])

    assert response.status_code == 404


def test_staff_see_every_run(staff_api, csm, mine):
    by_csm = scan_start(trigger="api", user=csm, customer_ids=[mine.pk], enqueue=False)
    scheduled = scan_start(trigger="schedule", enqueue=False)

    for run in (by_csm, scheduled):
        response = staff_api.get(run_url(run.pk))
        assert response.status_code == 200
        assert response.json()["id"] == str(run.pk)
    assert staff_api.get(run_url(scheduled.pk)).json()["trigger"] == "schedule"


def test_a_csm_cannot_see_scheduled_runs(csm_api, mine):
    scheduled = scan_start(trigger="schedule", enqueue=False)

    assert csm_api.get(run_url(scheduled.pk)).status_code == 404


@pytest.mark.parametrize("path_id", [str(uuid.uuid4()), "nope"])
def test_an_unknown_run_is_404(csm_api, path_id):
    assert csm_api.get(run_url(path_id)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_is_a_503_and_frees_the_scope(csm_api, mine, broker_down):
    # No surrounding test transaction here: the run commits and its chunks are sent at once,
    # to a broker that refuses the connection.
    response = csm_api.post(START, {}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    body = response.json()
    assert "could not be queued" in body["detail"]
    assert body["run"]["status"] == "failed"
    run = ScanRun.objects.get()
    assert run.status == "failed"
    assert run.errors[0]["stage"] == "enqueue"
    # A retry is refused by the broker again, not by a run left queued (409).
    assert csm_api.post(START, {}, format="json").status_code == 503
