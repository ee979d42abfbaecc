"""The notification beats in django-celery-beat, registered by migrate."""

import pytest
from django_celery_beat.models import PeriodicTask

from notifications.schedule import DIGEST_NAME, DISPATCH_NAME, schedule_ensure

pytestmark = pytest.mark.django_db


def test_migrate_registers_the_dispatch_every_minute_and_the_digest_hourly():
    dispatch = PeriodicTask.objects.select_related("interval").get(name=DISPATCH_NAME)
    digest = PeriodicTask.objects.select_related("crontab").get(name=DIGEST_NAME)

    assert dispatch.task == "notifications.tasks.dispatch_notifications_task"
    assert (dispatch.interval.every, dispatch.interval.period, dispatch.enabled) == (
        1,
        "minutes",
        True,
    )
    assert digest.task == "notifications.tasks.digest_task"
    assert (digest.crontab.minute, digest.crontab.hour, str(digest.crontab.timezone)) == (
        "0",
        "*",
        "UTC",
    )


def test_schedule_ensure_is_idempotent_and_keeps_admin_edits():
    PeriodicTask.objects.filter(name=DIGEST_NAME).update(enabled=False)

    assert schedule_ensure() is False
    assert PeriodicTask.objects.get(name=DIGEST_NAME).enabled is False

    assert schedule_ensure(force=True) is True
    assert PeriodicTask.objects.get(name=DIGEST_NAME).enabled is True
    assert PeriodicTask.objects.filter(name__in=[DISPATCH_NAME, DIGEST_NAME]).count() == 2
