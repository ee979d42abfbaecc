"""The scan hands the engine its chunk from the first day any series has a value: a day of
nothing changes no finding, and the arrays shrink with the empty days they no longer hold."""

import datetime as dt

import numpy as np

from anomalies.detection import DetectionConfig, SeriesBatch, detect
from anomalies.scan_inputs import MIN_SCAN_CALENDAR_DAYS, batch_from_first_recorded_day
from tests.synth import ramp, scaled, usage

AS_OF = dt.date(2026, 11, 30)
RECORDED_DAYS = 200
EMPTY_DAYS = 710


def _batch(n_accounts: int = 16) -> SeriesBatch:
    """Accounts with RECORDED_DAYS of usage (drops, a spike, slow declines injected) on a
    calendar that begins EMPTY_DAYS earlier, as the scan's 910-day window does."""
    metrics = ("api_calls", "logins", "active_users", "feature:reports")
    rows, ids, names, groups = [], [], [], []
    for account in range(n_accounts):
        for k, metric in enumerate(metrics):
            values = usage(RECORDED_DAYS, seed=account * 10 + k, level=40.0 + 300.0 * account)
            if account % 4 == 0 and k == 0:
                values = scaled(values, slice(RECORDED_DAYS - 9, RECORDED_DAYS), 0.3)
            if account % 5 == 1 and k == 1:
                values = scaled(values, slice(RECORDED_DAYS - 20, RECORDED_DAYS), 2.5)
            if account % 6 == 2:
                values = ramp(values, RECORDED_DAYS - 60, 60, 0.5)
            rows.append(np.concatenate([np.full(EMPTY_DAYS, np.nan), values]))
            ids.append(f"{account}/{metric}")
            names.append(metric)
            groups.append(str(account))
    start = AS_OF - dt.timedelta(days=EMPTY_DAYS + RECORDED_DAYS - 1)
    return SeriesBatch(np.array(rows), start, tuple(ids), tuple(names), tuple(groups))


def _findings(batch: SeriesBatch) -> list[tuple]:
    result = detect(batch, config=DetectionConfig(), as_of=AS_OF)
    return sorted(
        (f.series_id, f.start, f.end, f.type, f.severity, round(f.baseline, 6), round(f.actual, 6))
        for f in result.findings
    )


def test_trimming_the_empty_days_changes_no_finding():
    padded = _batch()
    trimmed = batch_from_first_recorded_day(padded)

    assert trimmed.n_days == RECORDED_DAYS
    assert trimmed.start == AS_OF - dt.timedelta(days=RECORDED_DAYS - 1)
    found = _findings(padded)
    assert len({f[0] for f in found}) >= 8  # the injected events are found...
    assert _findings(trimmed) == found  # ...and the same ones, the same way, without the gap


def test_the_calendar_keeps_its_last_day_and_never_shrinks_below_the_minimum():
    batch = _batch(2)
    young = np.full_like(batch.values, np.nan)
    young[:, -10:] = 5.0  # ten days of data: the calendar still spans the minimum

    trimmed = batch_from_first_recorded_day(
        SeriesBatch(young, batch.start, batch.series_ids, batch.metrics, batch.groups)
    )

    assert trimmed.n_days == MIN_SCAN_CALENDAR_DAYS
    assert trimmed.day(trimmed.n_days - 1) == AS_OF
    np.testing.assert_array_equal(trimmed.values[:, -10:], 5.0)


def test_a_batch_with_data_from_its_first_day_or_no_series_is_left_alone():
    batch = _batch(1)
    full = SeriesBatch(
        np.nan_to_num(batch.values, nan=1.0),
        batch.start,
        batch.series_ids,
        batch.metrics,
        batch.groups,
    )
    empty = SeriesBatch(np.zeros((0, 910)), batch.start, (), (), ())

    assert batch_from_first_recorded_day(full) is full
    assert batch_from_first_recorded_day(empty) is empty
