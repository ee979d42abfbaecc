"""Deterministic usage rows for the scan tests: a weekly pattern with 5 % noise, one value per
day from FIRST to AS_OF (180 days), and helpers to inject events and store rows in bulk.

AS_OF is a Wednesday in mid-May 2025, chosen so that the injected events and the days the
tests append after it (up to day 190, 2025-05-25) touch no US public holiday: the engine damps
drops on holidays, which would hide the events the tests expect.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from customers.models import UsageMetric

AS_OF = dt.date(2025, 5, 14)
N_DAYS = 180
FIRST = AS_OF - dt.timedelta(days=N_DAYS - 1)
# Monday .. Sunday multipliers.
WEEKLY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.65, 0.65])


def day(index: int) -> dt.date:
    """The date of day `index` (0 is FIRST; negative counts back from it)."""
    return FIRST + dt.timedelta(days=index)


def index_of(date: dt.date) -> int:
    return (date - FIRST).days


def usage(n_days: int = N_DAYS, *, seed: int = 0, level: float = 2000.0) -> np.ndarray:
    """`level` per weekday times the weekly profile, with lognormal noise of about 5 %."""
    rng = np.random.default_rng(seed)
    weekdays = (FIRST.weekday() + np.arange(n_days)) % 7
    return level * WEEKLY[weekdays] * np.exp(rng.normal(0.0, 0.05, n_days))


def scaled(values: np.ndarray, days, factor: float) -> np.ndarray:
    """A copy with the given day indexes multiplied by `factor` (0.35 is a 65 % drop)."""
    out = np.array(values, dtype=float)
    out[days] *= factor
    return out


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
