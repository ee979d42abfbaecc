"""Never crash, on portfolios that look like real ones at their worst: random multi-year
portfolios of a few accounts, each with several series that combine abandoned features,
outages (a zero day, then a missing day, on every series at once), long missing stretches,
onboarding ramps, drops and spikes, constant and all-zero series, huge and tiny volumes and
one-point series, over dates that cross holidays and year ends.

For every portfolio, the backtest and the scan (at a few days) raise nothing and give sane,
JSON-safe results; and the batch gives each series what that series gives alone.

Derandomized (the same portfolios on every run, so a red build is reproducible);
TREMOR_PROPERTY_EXAMPLES raises the number of portfolios for a longer hunt, e.g.
`TREMOR_PROPERTY_EXAMPLES=300 pytest tests/anomalies/detection/test_portfolio_properties.py`.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomalies.detection import SeriesBatch, detect, preset
from tests import synth

from .same_findings import assert_same_findings
from .test_engine_inputs import assert_sane

EXAMPLES = int(os.environ.get("TREMOR_PROPERTY_EXAMPLES", "12"))
PORTFOLIO = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MAX_SERIES = 9
MAX_ACCOUNTS = 3
SHAPES = ("usage", "usage", "usage", "constant", "zeros", "one_point", "sparse")
VOLUMES = (0.4, 3.0, 25.0, 400.0, 60_000.0, 5e9, 1e12)
EVENTS = ("abandon", "drop", "spike", "missing_stretch", "ramp_up", "decline", "onboarding")
METRICS = ("api_calls", "logins", "active_users")
FEATURES = ("feature:reports", "feature:dashboards", "feature:exports", "feature:alerts")


@st.composite
def portfolios(draw) -> tuple[SeriesBatch, dict]:
    n_days = draw(st.sampled_from([45, 200, 400, 760, 1100]))
    start = draw(st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2024, 6, 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_accounts = draw(st.integers(1, MAX_ACCOUNTS))
    rows, ids, metrics, groups = [], [], [], []
    for a in range(n_accounts):
        names = list(draw(st.sets(st.sampled_from(METRICS), min_size=0, max_size=2)))
        names += list(draw(st.sets(st.sampled_from(FEATURES), min_size=1, max_size=3)))
        for name in names[: MAX_SERIES - len(rows)]:
            rows.append(_series(draw, rng, n_days, start, is_feature=name.startswith("feature:")))
            ids.append(f"acct{a}/{name}")
            metrics.append(name)
            groups.append(f"acct{a}")
    values = np.array(rows)
    # Outages: the pipeline writes a zero for every series, then nothing the next day.
    for _ in range(draw(st.integers(0, 2))):
        day = int(rng.integers(0, n_days - 1))
        values[:, day] = np.where(np.isnan(values[:, day]), np.nan, 0.0)
        values[:, day + 1] = np.nan
    options = {
        "holiday_country": draw(st.sampled_from(["US", "DE", "AU", None])),
        "sensitivity": draw(st.sampled_from(["low", "medium", "high"])),
    }
    return SeriesBatch(values, start, tuple(ids), tuple(metrics), tuple(groups)), options


def _series(draw, rng, n_days: int, start: dt.date, *, is_feature: bool) -> np.ndarray:
    shape = draw(st.sampled_from(SHAPES))
    level = draw(st.sampled_from(VOLUMES))
    if shape == "constant":
        return np.full(n_days, level)
    if shape == "zeros":
        return np.zeros(n_days)
    if shape == "one_point":
        row = np.full(n_days, np.nan)
        row[int(rng.integers(0, n_days))] = level
        return row
    row = synth.usage(
        n_days,
        seed=int(rng.integers(1 << 30)),
        level=level,
        noise=draw(st.sampled_from([0.02, 0.1, 0.4])),
        weekend_dip=draw(st.sampled_from([0.0, 0.35, 0.9])),
        start=start,
    )
    if level < 50:
        row = rng.poisson(row).astype(float)  # small accounts count whole events
    if shape == "sparse":
        row[rng.random(n_days) < 0.6] = np.nan
    for event in draw(st.lists(st.sampled_from(EVENTS), max_size=3)):
        row = _event(event, row, rng, is_feature=is_feature)
    return row


def _event(event: str, row: np.ndarray, rng, *, is_feature: bool) -> np.ndarray:
    n = len(row)
    first = int(rng.integers(0, n))
    room = n - first

    def length(low: int, high: int) -> int:
        return max(1, min(room, int(rng.integers(low, high))))

    if event == "abandon" and is_feature:
        return synth.scaled(row, slice(first, n), float(rng.choice([0.0, 0.02, 0.1])))
    if event == "drop":
        return synth.scaled(row, slice(first, first + length(2, 40)), 0.3)
    if event == "spike":
        return synth.scaled(row, slice(first, first + length(2, 15)), 3.0)
    if event == "missing_stretch":
        return synth.with_missing(row, slice(first, first + length(7, 120)))
    if event == "ramp_up":
        return synth.ramp(row, first, length(14, 60), 2.5)
    if event == "decline":
        return synth.ramp(row, first, length(21, 60), 0.3)
    if event == "onboarding":  # no data, then usage growing from almost nothing over 8 weeks
        share = np.clip((np.arange(n) - first + 1) / 56, 0.02, 1.0)
        return synth.with_missing(row * share, slice(0, first))
    return row


def _config(options: dict):
    return preset(options["sensitivity"]).with_overrides(holiday_country=options["holiday_country"])


def _alone(batch: SeriesBatch, row: int) -> SeriesBatch:
    return SeriesBatch(
        batch.values[row : row + 1],
        batch.start,
        batch.series_ids[row : row + 1],
        batch.metrics[row : row + 1],
        batch.groups[row : row + 1],
    )


@PORTFOLIO
@given(portfolios())
def test_the_backtest_never_crashes_and_a_batch_equals_its_series(portfolio):
    batch, options = portfolio
    config = _config(options)

    result = detect(batch, config=config, backtest=True)

    assert_sane(result, batch)
    # The portfolio guard judges the batch as a whole by design (a portfolio's three accounts
    # all falling on the day of an outage is one event), and a young series borrows from its
    # peers in the batch (coldstart.py): with both out of reach, a batch must equal its series
    # run alone.
    unguarded = config.with_overrides(outage_min_accounts=MAX_ACCOUNTS + 1, cohort_cold_start=False)
    together = detect(batch, config=unguarded, backtest=True)
    alone = [
        f
        for row in range(batch.n_series)
        for f in detect(_alone(batch, row), config=unguarded, backtest=True).findings
    ]
    assert_same_findings(together.findings, alone)


@PORTFOLIO
@given(portfolios(), st.lists(st.integers(0, 10_000), min_size=1, max_size=3))
def test_the_scan_never_crashes_on_any_day(portfolio, offsets):
    batch, options = portfolio
    config = _config(options)
    for offset in offsets:
        as_of = batch.day(offset % batch.n_days)
        result = detect(batch, config=config, as_of=as_of)
        assert_sane(result, batch)
        assert all(f.detected_at <= as_of for f in result.findings)
        assert all(f.end is None or f.end <= as_of for f in result.findings)
