"""Every periodic task, in one table, and the one function that installs them in
django-celery-beat's tables, where beat reads them and ops see and edit them in admin.

`schedule_install` runs after every `migrate` (anomalies/apps.py) and from `manage.py
setup_schedule`. It adds what is missing and leaves alone a task that differs from the table,
since that is an operator's edit in admin; `force` puts every task back to the table (and to
the settings the table reads).

A task's name is its row's identity: renaming one here would leave the old row scheduled too,
so delete the old row in a data migration when you rename.
"""

from dataclasses import asdict, dataclass
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Crontab:
    """Cron fields, in UTC."""

    minute: str
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"


@dataclass(frozen=True)
class EveryMinutes:
    minutes: int


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    when: Crontab | EveryMinutes
    description: str


def schedule_table() -> list[PeriodicTaskSpec]:
    """The periodic tasks as this code wants them (built when called: settings may change)."""
    return [
        PeriodicTaskSpec(
            name="Nightly anomaly scan",
            task="anomalies.tasks.scan_all_task",
            when=Crontab(
                minute=str(settings.SCAN_SCHEDULE_MINUTE), hour=str(settings.SCAN_SCHEDULE_HOUR)
            ),
            description="Scans every active account for usage anomalies.",
        ),
        PeriodicTaskSpec(
            name="Send notifications",
            task="notifications.tasks.dispatch_notifications_task",
            when=EveryMinutes(1),
            description="Sends what the scans asked for (critical anomalies).",
        ),
        PeriodicTaskSpec(
            name="Daily notification digests",
            task="notifications.tasks.digest_task",
            # Every hour: each user's digest goes out at their own local hour.
            when=Crontab(minute="0"),
            description="Daily digests at each user's local digest hour.",
        ),
        PeriodicTaskSpec(
            name="Weekly tuning proposals",
            task="anomalies.tasks.tuning_proposals_task",
            # Monday morning, after the night's scan: the week's judgements are in.
            when=Crontab(minute="0", hour="6", day_of_week="1"),
            description="Proposes threshold changes where false positives exceed the target; "
            "staff decide on /insights/tuning/.",
        ),
    ]


class Outcome(StrEnum):
    CREATED = "created"
    RESET = "reset"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # differs from the table (an edit in admin) and not forced


# What an operator can change in admin besides the schedule, and the value the table wants
# (the task, description and schedule come from the table's row).
_PLAIN_FIELDS = {
    "args": "[]",
    "kwargs": "{}",
    "queue": None,
    "exchange": None,
    "routing_key": None,
    "headers": "{}",
    "priority": None,
    "expires": None,
    "expire_seconds": None,
    "one_off": False,
    "start_time": None,
    "enabled": True,
}


def schedule_install(*, force: bool = False) -> dict[str, Outcome]:
    """Install every periodic task of the table; returns what happened to each, by name."""
    with transaction.atomic():
        return {spec.name: _periodic_task_install(spec, force=force) for spec in schedule_table()}


def _periodic_task_install(spec: PeriodicTaskSpec, *, force: bool) -> Outcome:
    task = PeriodicTask.objects.select_related("crontab", "interval").filter(name=spec.name).first()
    if task is not None and _matches(task, spec):
        return Outcome.UNCHANGED
    if task is not None and not force:
        return Outcome.KEPT
    outcome = Outcome.CREATED if task is None else Outcome.RESET
    task = task or PeriodicTask(name=spec.name)
    for field, value in _PLAIN_FIELDS.items():
        setattr(task, field, value)
    task.task, task.description = spec.task, spec.description
    task.crontab = task.interval = task.solar = task.clocked = None
    if isinstance(spec.when, Crontab):
        task.crontab = _crontab_row(spec.when)
    else:
        task.interval = _interval_row(spec.when)
    task.save()
    return outcome


def _matches(task: PeriodicTask, spec: PeriodicTaskSpec) -> bool:
    return (
        (task.task, task.description) == (spec.task, spec.description)
        and all(getattr(task, field) == value for field, value in _PLAIN_FIELDS.items())
        and _when(task) == spec.when
    )


def _when(task: PeriodicTask) -> Crontab | EveryMinutes | None:
    """The task's schedule in the table's terms; None for any other kind of schedule."""
    if task.solar_id or task.clocked_id or (task.crontab_id and task.interval_id):
        return None
    if task.crontab_id and str(task.crontab.timezone) == "UTC":
        c = task.crontab
        return Crontab(c.minute, c.hour, c.day_of_week, c.day_of_month, c.month_of_year)
    if task.interval_id and task.interval.period == IntervalSchedule.MINUTES:
        return EveryMinutes(task.interval.every)
    return None


def _crontab_row(when: Crontab) -> CrontabSchedule:
    fields = {**asdict(when), "timezone": "UTC"}
    # filter().first(), not get_or_create(): admin may hold two identical rows.
    return CrontabSchedule.objects.filter(**fields).order_by("pk").first() or (
        CrontabSchedule.objects.create(**fields)
    )


def _interval_row(when: EveryMinutes) -> IntervalSchedule:
    fields = {"every": when.minutes, "period": IntervalSchedule.MINUTES}
    return IntervalSchedule.objects.filter(**fields).order_by("pk").first() or (
        IntervalSchedule.objects.create(**fields)
    )
