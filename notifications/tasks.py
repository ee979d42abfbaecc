"""Celery tasks: load by id, call a service, own retries. Nothing else.

Scans need no hook here: `anomalies.scan_results` writes a NotificationRequest per critical
anomaly in the scan's own transaction, and `dispatch_notifications_task` (beat, every minute)
picks it up, so a CSM hears about a critical anomaly within about a minute of the scan."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import services

logger = logging.getLogger(__name__)

# Backoff between attempts: 30 s, 1 min, 2 min, 4 min, 8 min; then the delivery is failed.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 15 * 60


def retry_countdown(retries: int) -> int:
    return min(2**retries * RETRY_BASE_SECONDS, RETRY_MAX_SECONDS)


def _enqueue(delivery_ids: list[int], *, countdown: int = 0) -> None:
    for delivery_id in delivery_ids:
        # After commit: a worker must find the row it is given.
        transaction.on_commit(
            lambda pk=delivery_id: deliver_task.apply_async((pk,), countdown=countdown)
        )


@shared_task
def dispatch_notifications_task() -> int:
    """Beat, every minute: the scans' outbox into deliveries, one task per delivery so that
    one failing channel never holds up another."""
    ids = services.requests_dispatch()
    # Accepted race: a stranded delivery whose original task is merely late may be sent by
    # two tasks at the same instant; delivery_send skips it once either has marked it sent.
    ids += services.deliveries_stranded(now=timezone.now())
    _enqueue(ids)
    return len(ids)


@shared_task(bind=True, max_retries=5)
def deliver_task(self, delivery_id: int) -> None:
    if not services.delivery_send(delivery_id=delivery_id):
        return
    if self.request.retries >= self.max_retries:
        # Given up: the delivery is failed and, for Slack, the webhook flagged to its owner.
        services.delivery_fail(delivery_id=delivery_id)
        logger.warning("delivery %s failed for good", delivery_id)
        return
    raise self.retry(countdown=retry_countdown(self.request.retries))


@shared_task
def digest_task() -> int:
    """Beat, hourly at minute 0: the digests of users for whom it is now their digest hour."""
    retry = services.digest_build_and_send(now=timezone.now())
    # Their first attempt failed; deliver_task owns the remaining ones.
    _enqueue(retry, countdown=RETRY_BASE_SECONDS)
    return len(retry)
