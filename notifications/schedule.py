"""The notification beats, kept in django-celery-beat's tables like the nightly scan (see
anomalies/schedule.py): registered after every `migrate`, an admin edit left alone."""

from django.db import transaction

DISPATCH_NAME = "Send notifications"
DISPATCH_TASK = "notifications.tasks.dispatch_notifications_task"
DIGEST_NAME = "Daily notification digests"
DIGEST_TASK = "notifications.tasks.digest_task"


def schedule_ensure(*, force: bool = False) -> bool:
    """Create both periodic tasks if missing (or reset them with `force`). Returns True when
    something was written."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    written = False
    with transaction.atomic():
        if force or not PeriodicTask.objects.filter(name=DISPATCH_NAME).exists():
            every_minute, _ = IntervalSchedule.objects.get_or_create(
                every=1, period=IntervalSchedule.MINUTES
            )
            PeriodicTask.objects.update_or_create(
                name=DISPATCH_NAME,
                defaults={
                    "task": DISPATCH_TASK,
                    "interval": every_minute,
                    "crontab": None,
                    "enabled": True,
                    "description": "Sends what the scans asked for (critical anomalies).",
                },
            )
            written = True
        if force or not PeriodicTask.objects.filter(name=DIGEST_NAME).exists():
            # Every hour in UTC: each user's digest goes out at their own local hour.
            hourly, _ = CrontabSchedule.objects.get_or_create(
                minute="0",
                hour="*",
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="UTC",
            )
            PeriodicTask.objects.update_or_create(
                name=DIGEST_NAME,
                defaults={
                    "task": DIGEST_TASK,
                    "crontab": hourly,
                    "interval": None,
                    "enabled": True,
                    "description": "Daily digests at each user's local digest hour.",
                },
            )
            written = True
    return written
