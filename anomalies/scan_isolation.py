"""One account's data never stops a scan chunk: find the series the engine or the write fails
on, record them, and finish the chunk for everybody else.

A chunk runs the engine once on all its series and writes all its findings in one
transaction. When either fails, the chunk is split in halves (accounts, never a series from
its account) until the failing accounts are found: about 2 log2(n) extra engine calls or
savepoints per culprit, none when nothing fails. Within a failing account each series is tried
alone, so the error names the metric when one series is the culprit; an account whose series
fail only together is skipped whole. The engine then runs once more on everything else, so the
portfolio guard still judges the whole chunk.

Errors are dicts, stored on the chunk and the run and shown in admin:
`{"customer_id", "metric", "stage": "detect" | "write", "error"}` (metric "" for the whole
account).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from django.db import InterfaceError, OperationalError, transaction

from .detection import SeriesBatch, SeriesHints

logger = logging.getLogger(__name__)

# The longest error text kept per failing series.
ERROR_MAX_CHARS = 500
# Errors that say the connection or the server is gone: no split can help, the chunk's task
# retries as a whole.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def series_error(*, customer: str, metric: str, stage: str, exc: BaseException) -> dict:
    return {
        "customer_id": customer,
        "metric": metric,
        "stage": stage,
        "error": f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS],
    }


def batch_rows(batch: SeriesBatch, rows: Sequence[int]) -> SeriesBatch:
    """The batch's `rows`, with everything the engine reads per series (their cohorts and
    holiday calendars too: without them a sub-batch would judge every account by the default
    calendar and no cohort)."""
    rows = list(rows)

    def take(per_series):
        return None if per_series is None else tuple(per_series[i] for i in rows)

    return SeriesBatch(
        batch.values[rows],
        batch.start,
        take(batch.series_ids),
        take(batch.metrics),
        take(batch.groups),
        cohorts=take(batch.cohorts),
        countries=take(batch.countries),
    )


def hints_rows(hints: SeriesHints, rows: Sequence[int]) -> SeriesHints:
    rows = list(rows)

    def take(array):
        return None if array is None else np.asarray(array)[rows]

    return SeriesHints(
        exclude=take(hints.exclude),
        rebaseline_from=take(hints.rebaseline_from),
        evidence=take(hints.evidence),
    )


@dataclass
class Detected:
    findings: list
    portfolio_events: list
    # Rows of the batch that were detected (every row but the failing series).
    rows: list[int]
    errors: list[dict] = field(default_factory=list)
    cohort_events: list = field(default_factory=list)


def detect_isolating(
    batch: SeriesBatch, run_engine: Callable[[SeriesBatch, list[int]], object]
) -> Detected:
    """Run `run_engine(sub_batch, rows)` (a DetectionResult) on the whole batch, or, when it
    raises, on the batch without the series it fails on. Never raises for data."""
    every = list(range(batch.n_series))
    by_customer: dict[str, list[int]] = {}
    for row, customer in enumerate(batch.groups):
        by_customer.setdefault(customer, []).append(row)

    def attempt(rows: list[int]) -> tuple[object | None, Exception | None]:
        try:
            return run_engine(batch_rows(batch, rows), rows), None
        except Exception as exc:  # any failure of the engine is one account's data
            return None, exc

    result, exc = attempt(every)
    if exc is None:
        return Detected(result.findings, result.portfolio_events, every, [], result.cohort_events)
    logger.warning("engine failed on a chunk of %d series, isolating: %s", len(every), exc)

    culprits = _bisect(sorted(by_customer), lambda part: _rows(by_customer, part), attempt)
    errors, bad_rows = [], set()
    for customer in culprits:
        rows = by_customer[customer]
        failing = []
        for row in rows:
            _, err = attempt([row])
            if err is not None:
                failing.append(row)
                metric = batch.metrics[row]
                errors.append(
                    series_error(customer=customer, metric=metric, stage="detect", exc=err)
                )
        if failing:
            bad_rows.update(failing)
        else:  # every series runs alone, they fail only together
            bad_rows.update(rows)
            _, err = attempt(rows)
            errors.append(series_error(customer=customer, metric="", stage="detect", exc=err))

    rest = [row for row in every if row not in bad_rows]
    result, exc = attempt(rest) if rest else (None, None)
    if exc is None:
        findings = result.findings if result else []
        events = result.portfolio_events if result else []
        cohorts = result.cohort_events if result else []
        return Detected(findings, events, rest, errors, cohorts)

    # The rest fails only as a whole (no half of it did): run account by account, without the
    # portfolio guard's view across accounts, rather than lose everyone's scan.
    logger.error("engine fails only on the whole chunk; scanning account by account: %s", exc)
    findings, kept = [], []
    for customer in sorted(by_customer):
        rows = [row for row in by_customer[customer] if row not in bad_rows]
        if not rows:
            continue
        result, err = attempt(rows)
        if err is not None:
            errors.append(series_error(customer=customer, metric="", stage="detect", exc=err))
            continue
        findings += result.findings
        kept += rows
    return Detected(findings, [], kept, errors)


_Written = TypeVar("_Written")


def write_isolating(
    customers: Sequence[str],
    write: Callable[[list[str]], _Written],
    combine: Callable[[_Written, _Written], _Written],
) -> tuple[_Written | None, list[dict]]:
    """Call `write(customers)` in a savepoint; when it fails for a reason other than a lost
    connection, find the failing accounts by halves (each attempt in its own savepoint, so a
    failed one leaves nothing behind) and write everybody else. `combine(a, b)` adds two
    results. Returns the combined result and the accounts' errors."""
    customers = sorted(customers)
    outcomes: list[_Written] = []
    failures: dict[str, Exception] = {}

    def attempt(part: list[str]) -> Exception | None:
        try:
            with transaction.atomic():
                outcomes.append(write(part))
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            if len(part) == 1:
                failures[part[0]] = exc
            return exc
        return None

    def settle(part: list[str]) -> None:
        if not part or attempt(part) is None:
            return
        if len(part) == 1:
            return
        middle = len(part) // 2
        settle(part[:middle])
        settle(part[middle:])

    settle(customers)
    total: _Written | None = None
    for outcome in outcomes:
        total = outcome if total is None else combine(total, outcome)
    errors = [
        series_error(customer=customer, metric="", stage="write", exc=exc)
        for customer, exc in sorted(failures.items())
    ]
    for error in errors:
        logger.error("scan write failed for customer %s: %s", error["customer_id"], error["error"])
    return total, errors


def _rows(by_customer: dict[str, list[int]], customers: Sequence[str]) -> list[int]:
    return sorted(row for customer in customers for row in by_customer[customer])


def _bisect(customers: list[str], rows_of, attempt) -> list[str]:
    """The accounts on which the engine fails alone or within a failing half."""
    if not customers:
        return []
    if len(customers) == 1:
        _, exc = attempt(rows_of(customers))
        return customers if exc is not None else []
    middle = len(customers) // 2
    found = []
    for half in (customers[:middle], customers[middle:]):
        _, exc = attempt(rows_of(half))
        if exc is not None:
            found += half if len(half) == 1 else _bisect(half, rows_of, attempt)
    return found
