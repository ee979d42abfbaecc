"""The scheduled scan task and the scan_anomalies command (the schedule itself:
tests/test_schedule.py)."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from anomalies import tasks
from anomalies.models import ScanRun, UsageAnomaly
from anomalies.services.scans import scan_start

from .scan_data import AS_OF, N_DAYS, scaled, usage, usage_store

pytestmark = pytest.mark.django_db


def _run(*args, verbosity=0):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, verbosity=verbosity)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def scan_day_is_as_of(monkeypatch):
    # The command scans "today"; the usage fixtures are pinned to a holiday-free May 2025
    # (a drop on a holiday is damped, and today may well be one).
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: AS_OF)


def test_the_tasks_are_registered_in_the_celery_app():
    from config.celery import app

    assert "anomalies.tasks.scan_all_task" in app.tasks
    assert "anomalies.tasks.scan_chunk_task" in app.tasks


def test_the_scheduled_task_queues_a_full_scan_and_enqueues_on_commit(
    make_customer, django_capture_on_commit_callbacks
):
    make_customer()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_id = tasks.scan_all_task()

    run = ScanRun.objects.get()
    assert run_id == str(run.pk)
    assert (run.trigger, run.status, run.scope_key) == ("schedule", "queued", "all")
    assert run.as_of == timezone.localdate()
    assert (run.customers_total, run.chunks_total) == (1, 1)
    # The chunks go to the workers only once the run is committed.
    assert len(callbacks) == 1


def test_the_scheduled_task_skips_when_a_full_scan_is_running(make_customer, caplog):
    make_customer()
    scan_start(trigger=ScanRun.Trigger.API, enqueue=False)

    assert tasks.scan_all_task() is None

    assert ScanRun.objects.count() == 1
    assert "nightly scan skipped: a scan of this scope is already queued" in caplog.text


def test_scan_anomalies_sync_prints_the_summary_and_stores_the_anomaly(
    make_customer, scan_day_is_as_of
):
    customer = make_customer()
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1), slice(174, 180), 0.35))

    out, err = _run("scan_anomalies", "--sync")

    summary = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    run = ScanRun.objects.get()
    assert summary["scan"] == str(run.pk)
    assert (summary["status"], summary["as of"]) == ("Succeeded", "2025-05-14")
    assert (summary["customers"], summary["series"]) == ("1 / 1", "1")
    assert (summary["anomalies new"], summary["anomalies updated"]) == ("1", "0")
    assert (summary["anomalies resolved"], summary["errors"]) == ("0", "0")
    assert err == ""
    assert run.trigger == "shell"
    anomaly = UsageAnomaly.objects.get()
    assert (anomaly.customer_id, anomaly.anomaly_type, anomaly.status) == (
        customer.pk,
        "drop",
        "open",
    )


def test_scan_anomalies_prints_its_progress_as_lines(make_customer, scan_day_is_as_of):
    for k in range(2):
        usage_store(make_customer(), "api_calls", usage(N_DAYS, seed=k))
        usage_store(make_customer(), "logins", usage(N_DAYS, seed=k))

    _, err = _run("scan_anomalies", "--sync", verbosity=1)

    lines = err.splitlines()
    assert lines[0] == "scanning 4 accounts in 1 chunk(s)"
    assert re.fullmatch(r"scanning: 1 / 1 chunks, 4 series \(\d+\.\d s\)", lines[1])
    assert len(lines) == 2


def test_scan_anomalies_scans_only_the_given_customers(make_customer, scan_day_is_as_of):
    wanted = make_customer(external_id="acme")
    other = make_customer(external_id="globex")
    for k, customer in enumerate((wanted, other)):
        usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=k), slice(174, 180), 0.35))

    out, _ = _run("scan_anomalies", "--sync", "--customer", "acme")

    run = ScanRun.objects.get()
    assert run.scope == {"customers": [str(wanted.pk)]}
    assert re.search(r"^customers\s+1 / 1$", out, re.MULTILINE)
    assert list(UsageAnomaly.objects.values_list("customer_id", flat=True)) == [wanted.pk]


def test_scan_anomalies_names_unknown_customers(make_customer):
    make_customer(external_id="acme")

    with pytest.raises(CommandError, match=r"unknown customer external id\(s\): nope, unknown-id$"):
        _run(
            "scan_anomalies", "--customer", "acme", "--customer", "unknown-id", "--customer", "nope"
        )

    assert not ScanRun.objects.exists()


def test_scan_anomalies_refuses_while_the_scope_is_busy(make_customer):
    make_customer()
    scan_start(trigger=ScanRun.Trigger.API, enqueue=False)

    with pytest.raises(CommandError, match="already queued"):
        _run("scan_anomalies", "--sync")
