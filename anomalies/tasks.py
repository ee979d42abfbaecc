"""Celery tasks: load by id, call a service. Retries are config/celery.py's."""

import logging

from celery import shared_task
from django.db import IntegrityError

from config.celery import DB_CONNECTION_ERRORS

from .models import ScanRun
from .services import scans, tuning

logger = logging.getLogger(__name__)

# Transient: a lost connection, a failover, or a concurrent scan of an overlapping scope
# that wrote the same open anomaly first (the retry then updates it instead).
TRANSIENT = (*DB_CONNECTION_ERRORS, IntegrityError)


@shared_task
def scan_all_task() -> str | None:
    """The nightly scan of every active account (scheduled in config/schedule.py)."""
    try:
        run = scans.scan_start(trigger=ScanRun.Trigger.SCHEDULE)
    except scans.ScanAlreadyRunning as exc:
        logger.warning("nightly scan skipped: %s", exc)
        return None
    return str(run.pk)


def _scan_chunk_give_up(exc: BaseException, chunk_id: int) -> None:
    # After the last retry, or at once for a bug (retrying would fail the same way): record
    # it so the run ends.
    scans.scan_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(autoretry_for=TRANSIENT, give_up=_scan_chunk_give_up)
def scan_chunk_task(chunk_id: int) -> dict:
    return scans.scan_chunk_run(chunk_id=chunk_id).__dict__


@shared_task
def tuning_proposals_task() -> int:
    """The weekly tuning proposals (scheduled in config/schedule.py): how many were made."""
    return len(tuning.proposals_create())
