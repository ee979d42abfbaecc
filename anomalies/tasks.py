"""Celery tasks: load by id, call a service, own retries. Nothing else."""

import logging

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError

from . import services
from .models import ScanRun

logger = logging.getLogger(__name__)

# Transient: a lost connection, a failover, or a concurrent scan of an overlapping scope
# that wrote the same open anomaly first (the retry then updates it instead).
TRANSIENT = (OperationalError, InterfaceError, IntegrityError)


@shared_task
def scan_all_task() -> str | None:
    """The nightly scan of every active account (scheduled in django-celery-beat)."""
    try:
        run = services.scan_start(trigger=ScanRun.Trigger.SCHEDULE)
    except services.ScanAlreadyRunning as exc:
        logger.warning("nightly scan skipped: %s", exc)
        return None
    return str(run.pk)


@shared_task(bind=True, max_retries=5)
def scan_chunk_task(self, chunk_id: int) -> dict:
    try:
        outcome = services.scan_chunk_run(chunk_id=chunk_id)
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            services.scan_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 5, 300)) from exc
    except Exception as exc:
        # A bug, not a blip: retrying would fail the same way. Record it so the run ends.
        services.scan_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return outcome.__dict__
