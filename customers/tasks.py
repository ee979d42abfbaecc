import logging

from celery import shared_task

from config.celery import DB_CONNECTION_ERRORS

from . import ingest
from .limits import usage_limits
from .services import usage_ingest

logger = logging.getLogger(__name__)


# A lost connection or a failover is worth retrying: the upsert is idempotent, so a retry
# after a partial success cannot double-count. Bad records are not: retrying would reject
# them again.
@shared_task(autoretry_for=DB_CONNECTION_ERRORS)
def usage_ingest_task(records: list[dict], create_customers: bool = False) -> dict:
    """Ingest JSON-shaped usage records (see customers.ingest) all or nothing."""
    result = usage_ingest(
        batch=ingest.parse_records(records, limits=usage_limits()),
        create_customers=create_customers,
    )
    if not result.written:
        logger.warning(
            "usage_ingest_task rejected %d record(s); nothing written. First: %s",
            result.rejected,
            result.errors[0],
        )
    return {**result.counts(), **ingest.errors_report(result.errors)}
