"""The periodic tasks (config/schedule.py) in django-celery-beat: installed by migrate and by
`manage.py setup_schedule`, idempotent, an operator's edits kept unless forced."""

import io

import pytest
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.forms.models import model_to_dict
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
    SolarSchedule,
)

from config.schedule import Outcome, schedule_install, schedule_table

pytestmark = pytest.mark.django_db

NIGHTLY, DISPATCH, DIGEST, TUNING = (
    "Nightly anomaly scan",
    "Send notifications",
    "Daily notification digests",
    "Weekly tuning proposals",
)
ALL = [NIGHTLY, DISPATCH, DIGEST, TUNING]


def _task(name):
    return PeriodicTask.objects.select_related("crontab", "interval").get(name=name)


def _cron(task):
    c = task.crontab
    return (c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year, str(c.timezone))


def _state():
    """Everything installing could write, to compare before and after."""
    return (
        [
            model_to_dict(t) | {"changed": t.date_changed}
            for t in PeriodicTask.objects.order_by("pk")
        ],
        list(CrontabSchedule.objects.order_by("pk").values()),
        list(IntervalSchedule.objects.order_by("pk").values()),
        PeriodicTasks.last_change(),
    )


def _edit_in_admin():
    """An operator moves the nightly scan to 05:30, disables the digests and points the
    dispatch at a solar schedule."""
    nightly = _task(NIGHTLY)
    nightly.crontab = CrontabSchedule.objects.create(minute="30", hour="5", timezone="UTC")
    nightly.save()
    PeriodicTask.objects.filter(name=DIGEST).update(enabled=False)
    dispatch = _task(DISPATCH)
    dispatch.interval = None
    dispatch.solar = SolarSchedule.objects.create(event="sunrise", latitude=48.1, longitude=11.6)
    dispatch.save()


def test_migrate_installs_every_periodic_task():
    nightly, dispatch, digest = _task(NIGHTLY), _task(DISPATCH), _task(DIGEST)

    assert nightly.task == "anomalies.tasks.scan_all_task"
    assert _cron(nightly) == ("0", "2", "*", "*", "*", "UTC")
    assert dispatch.task == "notifications.tasks.dispatch_notifications_task"
    assert (dispatch.interval.every, dispatch.interval.period, dispatch.crontab) == (
        1,
        "minutes",
        None,
    )
    assert digest.task == "notifications.tasks.digest_task"
    assert _cron(digest) == ("0", "*", "*", "*", "*", "UTC")
    assert PeriodicTask.objects.count() == len(schedule_table()) == len(ALL)
    assert all(t.enabled and t.description for t in (nightly, dispatch, digest))


def test_tuning_proposals_are_made_weekly_after_the_nightly_scan():
    tuning = _task(TUNING)
    assert tuning.task == "anomalies.tasks.tuning_proposals_task"
    assert _cron(tuning) == ("0", "6", "1", "*", "*", "UTC")
    assert tuning.enabled


def test_every_periodic_task_names_a_task_of_the_celery_app():
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does first: find every tasks.py
    assert {spec.task for spec in schedule_table()} <= set(app.tasks)


def test_installing_twice_changes_nothing():
    PeriodicTask.objects.all().delete()

    assert set(schedule_install().values()) == {Outcome.CREATED}
    installed = _state()

    assert schedule_install() == dict.fromkeys(ALL, Outcome.UNCHANGED)
    assert schedule_install(force=True) == dict.fromkeys(ALL, Outcome.UNCHANGED)
    assert _state() == installed


def test_an_operator_edit_survives_without_force_and_is_reset_with_it():
    _edit_in_admin()
    edited = _state()

    assert schedule_install() == {
        NIGHTLY: Outcome.KEPT,
        DISPATCH: Outcome.KEPT,
        DIGEST: Outcome.KEPT,
        TUNING: Outcome.UNCHANGED,
    }
    assert _state() == edited

    assert schedule_install(force=True) == dict.fromkeys(
        [NIGHTLY, DISPATCH, DIGEST], Outcome.RESET
    ) | {TUNING: Outcome.UNCHANGED}
    nightly, dispatch, digest = _task(NIGHTLY), _task(DISPATCH), _task(DIGEST)
    assert _cron(nightly)[:2] == ("0", "2")
    assert (dispatch.solar_id, dispatch.interval.every) == (None, 1)
    assert digest.enabled is True
    assert PeriodicTask.objects.count() == len(ALL)


def test_a_changed_setting_is_taken_only_when_forced(settings):
    # Like an edit: the row no longer matches the table, and nobody asked to overwrite it.
    settings.SCAN_SCHEDULE_HOUR, settings.SCAN_SCHEDULE_MINUTE = 3, 45

    assert schedule_install()[NIGHTLY] == Outcome.KEPT
    assert _cron(_task(NIGHTLY))[:2] == ("0", "2")

    assert schedule_install(force=True)[NIGHTLY] == Outcome.RESET
    assert _cron(_task(NIGHTLY))[:2] == ("45", "3")


def test_arguments_and_one_off_set_in_admin_are_reset_with_force():
    PeriodicTask.objects.filter(name=NIGHTLY).update(kwargs='{"x": 1}', one_off=True)

    assert schedule_install()[NIGHTLY] == Outcome.KEPT
    assert schedule_install(force=True)[NIGHTLY] == Outcome.RESET

    nightly = _task(NIGHTLY)
    assert (nightly.kwargs, nightly.one_off) == ("{}", False)


def test_a_deleted_task_is_installed_again_and_the_others_left_alone():
    PeriodicTask.objects.filter(name=DIGEST).delete()
    PeriodicTask.objects.filter(name=NIGHTLY).update(enabled=False)

    assert schedule_install() == {
        NIGHTLY: Outcome.KEPT,
        DISPATCH: Outcome.UNCHANGED,
        DIGEST: Outcome.CREATED,
        TUNING: Outcome.UNCHANGED,
    }
    assert _cron(_task(DIGEST))[:2] == ("0", "*")
    assert _task(NIGHTLY).enabled is False


def test_identical_schedules_made_in_admin_do_not_break_installing():
    CrontabSchedule.objects.create(minute="0", hour="2", timezone="UTC")
    PeriodicTask.objects.filter(name=NIGHTLY).delete()

    assert schedule_install()[NIGHTLY] == Outcome.CREATED


def _setup_schedule(*args):
    out = io.StringIO()
    call_command("setup_schedule", *args, stdout=out)
    return out.getvalue()


def _post_migrate():
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


@pytest.mark.parametrize("install", [_setup_schedule, _post_migrate], ids=["command", "migrate"])
def test_the_command_and_migrate_install_the_same_way(install):
    _edit_in_admin()
    PeriodicTask.objects.filter(name=DIGEST).delete()

    install()

    nightly, dispatch, digest = _task(NIGHTLY), _task(DISPATCH), _task(DIGEST)
    # The edits kept, the deleted task back as the table has it.
    assert (_cron(nightly)[:2], dispatch.solar.event) == (("30", "5"), "sunrise")
    assert (_cron(digest)[:2], digest.enabled) == (("0", "*"), True)
    assert PeriodicTask.objects.count() == len(ALL)


def test_setup_schedule_says_what_it_did_to_each_task():
    PeriodicTask.objects.filter(name=DIGEST).delete()
    PeriodicTask.objects.filter(name=NIGHTLY).update(enabled=False)

    assert _setup_schedule() == (
        f"{NIGHTLY}: edited in admin, kept (use --force to reset it)\n"
        f"{DISPATCH}: already registered\n"
        f"{DIGEST}: registered\n"
        f"{TUNING}: already registered\n"
    )
    assert _setup_schedule("--force") == (
        f"{NIGHTLY}: reset to the defaults\n"
        f"{DISPATCH}: already registered\n"
        f"{DIGEST}: already registered\n"
        f"{TUNING}: already registered\n"
    )
    assert _task(NIGHTLY).enabled is True
