"""System checks (`manage.py check`, run before every deploy and by `make test`): settings
whose combination would make scans misbehave are refused before they run."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def scan_timeouts_check(app_configs, **kwargs):
    """The time-outs of a scan must nest (see config/settings.py, "Time-outs of a scan"):
    task time limit < broker visibility timeout < stale-run expiry."""
    limit = settings.CELERY_TASK_TIME_LIMIT
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    stale = settings.SCAN_STALE_MINUTES * 60
    errors = []
    if visibility <= limit:
        errors.append(
            Error(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility} s) must exceed CELERY_TASK_TIME_LIMIT "
                f"({limit} s): Redis would hand a chunk still running to a second worker.",
                id="anomalies.E001",
            )
        )
    if stale <= visibility + limit:
        errors.append(
            Error(
                f"SCAN_STALE_MINUTES ({settings.SCAN_STALE_MINUTES} min) must exceed "
                f"CELERY_VISIBILITY_TIMEOUT + CELERY_TASK_TIME_LIMIT ({visibility + limit} s): "
                "a run would be failed while its lost chunk can still be redelivered.",
                id="anomalies.E002",
            )
        )
    return errors


@register()
def outcome_window_check(app_configs, **kwargs):
    window = settings.ANOMALY_OUTCOME_WINDOW_DAYS
    if window < 0:
        return [
            Error(
                f"ANOMALY_OUTCOME_WINDOW_DAYS ({window}) must be 0 or more: the days after an "
                "anomaly in which a lifecycle change becomes its outcome.",
                id="anomalies.E003",
            )
        ]
    return []
