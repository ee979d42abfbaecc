"""The nightly scan's schedule, kept in django-celery-beat's tables so ops can see and change
it in admin. Registered after every `migrate`; an edit made in admin is left alone unless
`manage.py setup_schedule --force` asks for the settings' values again."""

from django.conf import settings
from django.db import transaction

DAILY_SCAN_NAME = "Nightly anomaly scan"
DAILY_SCAN_TASK = "anomalies.tasks.scan_all_task"


def schedule_ensure(*, force: bool = False) -> bool:
    """Create the nightly scan's periodic task if missing (or reset it with `force`).
    Returns True when something was written."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    with transaction.atomic():
        existing = PeriodicTask.objects.filter(name=DAILY_SCAN_NAME).first()
        if existing is not None and not force:
            return False
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(settings.SCAN_SCHEDULE_MINUTE),
            hour=str(settings.SCAN_SCHEDULE_HOUR),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        PeriodicTask.objects.update_or_create(
            name=DAILY_SCAN_NAME,
            defaults={
                "task": DAILY_SCAN_TASK,
                "crontab": crontab,
                "interval": None,
                "enabled": True,
                "description": "Scans every active account for usage anomalies.",
            },
        )
    return True
