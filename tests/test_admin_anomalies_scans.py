"""The admin's anomalies and scan runs: names rather than ids, detection outputs read-only
(changes go through the actions and their services), and a scan started from the runs' list."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anomalies.models import ScanRun, UsageAnomaly

pytestmark = pytest.mark.django_db

ANOMALIES = reverse("admin:anomalies_usageanomaly_changelist")
RUNS = reverse("admin:anomalies_scanrun_changelist")
RUN_NOW = reverse("admin:anomalies_scanrun_run_now")


def _change_url(anomaly) -> str:
    return reverse("admin:anomalies_usageanomaly_change", args=[anomaly.pk])


def test_an_anomaly_is_named_after_its_customer(make_customer, make_anomaly):
    anomaly = make_anomaly(make_customer(name="Acme Corp"), metric_type="logins")

    assert str(anomaly) == "Drop in logins (Acme Corp)"
    assert str(anomaly.customer_id) not in str(anomaly)


def test_the_anomaly_list_shows_names_with_no_query_per_row(
    client, superuser, make_customer, make_anomaly
):
    client.force_login(superuser)
    make_anomaly(make_customer(name="First Co"))

    def page() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(ANOMALIES)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    _, one_row = page()
    for i in range(5):
        make_anomaly(make_customer(name=f"Other Co {i}"))
    text, six_rows = page()

    assert six_rows == one_row
    assert "First Co" in text and "Other Co 4" in text
    change_page = client.get(_change_url(UsageAnomaly.objects.first())).content.decode()
    assert "<title>Drop in api_calls (" in change_page


def test_the_anomaly_page_is_read_only_and_a_post_changes_nothing(
    client, superuser, make_customer, make_anomaly
):
    anomaly = make_anomaly(make_customer(name="Acme Corp"), deviation_percent=-67)
    client.force_login(superuser)

    response = client.get(_change_url(anomaly))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields) == []  # every column is shown read-only
    text = response.content.decode()
    assert "-67" in text and "Acme Corp" in text
    assert 'name="_save"' not in text and 'name="_continue"' not in text
    # What once broke anomaly_dismissal_consistent with a raw error: a status with no time.
    response = client.post(
        _change_url(anomaly),
        {
            "status": "dismissed",
            "dismiss_reason": "",
            "severity": "info",
            "deviation_percent": 1,
            "actions-TOTAL_FORMS": "0",
            "actions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302  # saved: nothing it could change
    anomaly.refresh_from_db()
    assert (anomaly.status, anomaly.severity, float(anomaly.deviation_percent)) == (
        "open",
        "critical",
        -67.0,
    )


def test_anomalies_are_not_added_by_hand(client, superuser):
    client.force_login(superuser)

    assert client.get(reverse("admin:anomalies_usageanomaly_add")).status_code == 403
    assert b"Add usage anomaly" not in client.get(ANOMALIES).content


def test_the_runs_list_shows_duration_and_counts(client, superuser):
    started = timezone.now() - dt.timedelta(minutes=3)
    ScanRun.objects.create(
        trigger="schedule",
        status="succeeded",
        started_at=started,
        finished_at=started + dt.timedelta(seconds=83),
        customers_total=40,
        customers_done=40,
        series_count=311,
        anomalies_new=7,
        anomalies_updated=5,
        anomalies_resolved=3,
        error_count=2,
    )
    ScanRun.objects.create(trigger="api", status="running", scope_key="x", started_at=started)
    client.force_login(superuser)

    response = client.get(RUNS)

    assert response.status_code == 200
    text = response.content.decode()
    assert "1 min 23 s" in text
    assert "running…" in text
    for header in ("Series count", "Anomalies new", "Anomalies updated", "Anomalies resolved"):
        assert header in text
    row = next(r for r in text.split("<tr") if "1 min 23 s" in r)
    cells = [c.split(">", 1)[1].split("<", 1)[0] for c in row.split("<td")[1:]]
    assert ["40", "40", "311", "7", "5", "3", "2"] == [c for c in cells if c.isdigit()]
    assert 'action="/admin/anomalies/scanrun/run-now/"' in text
    assert "csrfmiddlewaretoken" in text


def test_run_now_starts_a_scan_of_every_account_and_refuses_a_second_one(
    client, superuser, make_customer, django_capture_on_commit_callbacks
):
    make_customer(name="Active Co")
    make_customer(name="Gone Co", status="churned")
    client.force_login(superuser)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(RUN_NOW, follow=True)

    assert response.redirect_chain == [(RUNS, 302)]
    run = ScanRun.objects.get()
    assert (run.trigger, run.triggered_by, run.status, run.customers_total) == (
        "user",
        superuser,
        "queued",
        1,
    )
    assert [str(m) for m in response.context["messages"]] == ["Scan started: 1 account in 1 chunk."]

    response = client.post(RUN_NOW, follow=True)

    assert ScanRun.objects.count() == 1
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("Not started: a scan of all accounts is already queued (since ")
    assert "Not started: a scan of all accounts is already queued" in response.content.decode()


def test_run_now_takes_only_a_post_from_staff(client, superuser, csm):
    client.force_login(superuser)
    assert client.get(RUN_NOW).status_code == 405
    client.force_login(csm)
    response = client.post(RUN_NOW)
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert not ScanRun.objects.exists()
