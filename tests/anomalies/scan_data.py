"""The scan tests' calendar on the synthetic series of `tests/synth.py`, and the helpers
that write them as usage rows and scan them: 180 days from FIRST to AS_OF, a weekly pattern
with 5 % noise and no growth.

AS_OF is a Wednesday in mid-May 2025, chosen so that the injected events and the days the
tests append after it (up to day 190, 2025-05-25) touch no US public holiday: the engine damps
drops on holidays, which would hide the events the tests expect.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from customers.models import UsageMetric
from tests import synth
from tests.synth import scaled  # noqa: F401 (the scan tests inject events with it from here)

AS_OF = dt.date(2025, 5, 14)
N_DAYS = 180
FIRST = AS_OF - dt.timedelta(days=N_DAYS - 1)


def day(index: int) -> dt.date:
    """The date of day `index` (0 is FIRST; negative counts back from it)."""
    return synth.day(index, start=FIRST)


def index_of(date: dt.date) -> int:
    return synth.index_of(date, start=FIRST)


def usage(n_days: int = N_DAYS, *, seed: int = 0, level: float = 2000.0) -> np.ndarray:
    """`level` per weekday times the weekly profile, with lognormal noise of about 5 %, flat."""
    return synth.usage(n_days, seed=seed, level=level, yearly_growth=0.0, start=FIRST)


def usage_store(customer, metric: str, values, *, first_index: int = 0) -> int:
    """Store values[k] as the usage of day `first_index + k`; NaN days get no row."""
    rows = [
        UsageMetric(customer=customer, metric=metric, date=day(first_index + k), value=float(v))
        for k, v in enumerate(values)
        if not np.isnan(v)
    ]
    UsageMetric.objects.bulk_create(rows)
    return len(rows)


def usage_delete(customer, metric: str, first_index: int, last_index: int) -> int:
    """Remove the rows of days first_index..last_index (inclusive): days without data."""
    deleted, _ = UsageMetric.objects.filter(
        customer=customer, metric=metric, date__range=(day(first_index), day(last_index))
    ).delete()
    return deleted


def scan(*, as_of: dt.date = AS_OF, customer_ids=None):
    """Start a scan and process all its chunks in this process; the finished ScanRun."""
    from anomalies.models import ScanRun
    from anomalies.services import scans

    run = scans.scan_start(
        trigger=ScanRun.Trigger.SHELL, customer_ids=customer_ids, as_of=as_of, enqueue=False
    )
    return scans.scan_run_sync(run=run)
