"""Celery tasks: load by id, call a service. Retries are config/celery.py's.

Scans need no hook here: a scan chunk records its news (the open anomalies it created or
changed) with its own commit, and `dispatch_notifications_task` (beat, every minute) takes it,
decides who hears about it at once and sends that, so a CSM hears about a critical anomaly
within about a minute of the scan."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from config.celery import RetryLater

from . import services

logger = logging.getLogger(__name__)

# Backoff between attempts (config/celery.py adds jitter): up to 30 s, 1 min, 2 min, 4 min,
# 8 min; then the delivery is failed.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 15 * 60


def _enqueue(delivery_ids: list[int], *, countdown: int = 0) -> None:
    for delivery_id in delivery_ids:
        # After commit: a worker must find the row it is given.
        transaction.on_commit(
            lambda pk=delivery_id: deliver_task.apply_async((pk,), countdown=countdown)
        )


@shared_task
def dispatch_notifications_task() -> int:
    """Beat, every minute: the scans' news into the outbox, the outbox into deliveries, one
    task per delivery so that one failing channel never holds up another."""
    services.requests_create_from_scans()
    ids = services.requests_dispatch()
    # Accepted race: a stranded delivery whose original task is merely late may be sent by
    # two tasks at the same instant; delivery_send skips it once either has marked it sent.
    ids += services.deliveries_stranded(now=timezone.now())
    _enqueue(ids)
    return len(ids)


def _deliver_give_up(exc: BaseException, delivery_id: int) -> None:
    # Only a delivery whose last retry failed too: it is failed and, for Slack, the webhook
    # flagged to its owner. A bug in the sending code must not blame the user's webhook.
    if isinstance(exc, RetryLater):
        services.delivery_fail(delivery_id=delivery_id)
        logger.warning("delivery %s failed for good", delivery_id)


@shared_task(
    autoretry_for=(RetryLater,),
    retry_backoff=RETRY_BASE_SECONDS,
    retry_backoff_max=RETRY_MAX_SECONDS,
    give_up=_deliver_give_up,
)
def deliver_task(delivery_id: int) -> None:
    if services.delivery_send(delivery_id=delivery_id):
        raise RetryLater(f"delivery {delivery_id} failed; its error is on the row")


@shared_task
def digest_task() -> int:
    """Beat, hourly at minute 0: the digests of users for whom it is now their digest hour."""
    retry = services.digest_build_and_send(now=timezone.now())
    # Their first attempt failed; deliver_task owns the remaining ones.
    _enqueue(retry, countdown=RETRY_BASE_SECONDS)
    return len(retry)
