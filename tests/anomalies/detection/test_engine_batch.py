"""The batch path: many series in one call agree with one call per series; per-series
configs, the portfolio outage guard, causes from an account's other metrics, and the
learning-loop hints."""

from dataclasses import asdict, replace

import numpy as np
import pytest

from anomalies.detection import (
    SeriesBatch,
    SeriesHints,
    detect,
    detect_series,
    preset,
    series_trace,
    series_traces,
)
from tests import synth
from tests.synth import START, day

N = 200


def batch_of(rows, series_ids, *, start=START):
    """A batch from rows of values and "account/metric" ids."""
    accounts, metrics = zip(*(sid.split("/", 1) for sid in series_ids), strict=True)
    return SeriesBatch(np.array(rows, dtype=float), start, tuple(series_ids), metrics, accounts)


def assert_same_findings(actual, expected):
    """Equal field by field; floats to 1e-9 relative, since a matrix product over a batch
    and over one series may round the last bit differently."""

    def loose(finding):
        return {
            key: pytest.approx(value, rel=1e-9) if isinstance(value, float) else value
            for key, value in asdict(finding).items()
        }

    assert [asdict(f) for f in actual] == [loose(f) for f in expected]


# Eight shapes, one account each (a shared account would change the possible cause).
SHAPES = {
    "a1/api_calls": lambda: synth.scaled(synth.usage(N, seed=1), slice(N - 6, N), 0.4),
    "a2/logins": lambda: synth.scaled(synth.usage(N, seed=2), slice(N - 8, N), 2.5),
    "a3/feature:reports": lambda: synth.scaled(
        synth.usage(N, seed=3, level=500), slice(N - 14, N), 0.05
    ),
    "a4/api_calls": lambda: synth.scaled(synth.usage(N, seed=4), slice(N - 40, N), 0.5),
    "a5/active_users": lambda: synth.ramp(synth.usage(N, seed=5), N - 45, 45, 0.45),
    "a6/api_calls": lambda: synth.usage(N, seed=6, weekend_dip=0.7),
    "a7/logins": lambda: synth.with_missing(synth.usage(N, seed=7), slice(100, 107)),
    "a8/api_calls": lambda: np.random.default_rng(8).poisson(4.0, N).astype(float),
}


@pytest.mark.parametrize("backtest", [True, False])
def test_batch_equals_one_call_per_series(backtest):
    ids = list(SHAPES)
    rows = [SHAPES[sid]() for sid in ids]

    result = detect(batch_of(rows, ids), backtest=backtest)

    separate = [
        f
        for sid, row in zip(ids, rows, strict=True)
        for f in detect_series(row, start=START, series_id=sid, backtest=backtest)
    ]
    assert_same_findings(result.findings, separate)
    assert result.portfolio_events == []
    assert result.as_of == day(N - 1)
    # The shapes that must fire did (so the comparison is not of two empty lists).
    assert {f.series_id for f in result.findings} >= {
        "a1/api_calls",
        "a2/logins",
        "a3/feature:reports",
    }


@pytest.mark.parametrize("backtest", [True, False])
def test_a_neighbours_rebaseline_does_not_change_a_series(backtest):
    """A series' findings must not depend on which other series share its batch: here the
    neighbour's level shift passes the horizon and is rebaselined mid-replay."""
    feature = synth.scaled(synth.usage(N, seed=3, level=500), slice(N - 14, N), 0.05)
    shifted = synth.scaled(synth.usage(N, seed=4), slice(N - 40, N), 0.5)
    ids = ["a/feature:reports", "b/api_calls"]

    together = detect(batch_of([feature, shifted], ids), backtest=backtest).findings

    alone = detect_series(feature, start=START, series_id=ids[0], backtest=backtest)
    assert len(alone) == 1
    assert_same_findings([f for f in together if f.series_id == ids[0]], alone)


def test_findings_are_sorted_by_series_then_start():
    ids = ["z/api_calls", "a/api_calls", "m/api_calls"]
    # Each account falls on days of its own: accounts falling together are a cohort's move.
    rows = [
        synth.scaled(synth.usage(N, seed=k), [*range(110 + 9 * k, 114 + 9 * k)], 0.4)
        for k in range(3)
    ]
    for k, row in enumerate(rows):
        row[N - 5 - 7 * k : N - 7 * k] *= 0.4

    findings = detect(batch_of(rows, ids), backtest=True).findings

    keys = [(f.series_id, f.start) for f in findings]
    assert keys == sorted(keys)
    assert len(findings) == 6


def test_per_series_configs_apply_per_series():
    # Two identical quiet series with a 25 % drop for the last 6 days: high's 20 % bar
    # catches it, medium's 30 % does not.
    row = synth.scaled(synth.usage(N, seed=1, noise=0.02), slice(N - 6, N), 0.75)
    batch = batch_of([row, row], ["hi/api_calls", "med/api_calls"])

    findings = detect(batch, config=[preset("high"), preset("medium")], backtest=True).findings

    assert [(f.series_id, f.type, f.start) for f in findings] == [
        ("hi/api_calls", "drop", day(N - 6))
    ]


def test_per_series_volume_floor_applies_per_series():
    row = synth.scaled(synth.usage(N, seed=2, level=30.0, noise=0.02), slice(N - 6, N), 0.3)
    batch = batch_of([row, row], ["low/api_calls", "med/api_calls"])

    findings = detect(
        batch, config=[preset("medium", min_volume=100.0), preset("medium")], backtest=True
    ).findings

    assert [f.series_id for f in findings] == ["med/api_calls"]


# --- the portfolio outage guard --------------------------------------------------------------

OUTAGE = [150, 151]


def _portfolio(n_series: int, dropping: int):
    ids = [f"c{k:02d}/api_calls" for k in range(n_series)]
    rows = []
    for k in range(n_series):
        row = synth.usage(N, seed=100 + k, level=1000.0 + 100 * k)
        rows.append(synth.scaled(row, OUTAGE, 0.2) if k < dropping else row)
    return batch_of(rows, ids), ids


def test_outage_across_the_portfolio_is_one_portfolio_event():
    batch, _ = _portfolio(30, dropping=30)

    result = detect(batch, backtest=True)

    assert [f for f in result.findings if f.start <= day(OUTAGE[-1])] == []
    assert result.findings == []
    (event,) = result.portfolio_events
    assert (event.start, event.end) == (day(OUTAGE[0]), day(OUTAGE[-1]))
    assert event.series_affected == 30
    assert event.affected_share == pytest.approx(1.0)


def test_a_few_series_dropping_together_are_reported():
    batch, ids = _portfolio(30, dropping=3)

    result = detect(batch, backtest=True)

    assert result.portfolio_events == []
    assert [(f.series_id, f.type, f.start, f.end) for f in result.findings] == [
        (sid, "drop", day(OUTAGE[0]), day(OUTAGE[-1])) for sid in ids[:3]
    ]


def test_two_accounts_falling_together_are_reported():
    # Under outage_min_accounts: two accounts on the same day prove nothing shared.
    batch, ids = _portfolio(2, dropping=2)

    result = detect(batch, backtest=True)

    assert result.portfolio_events == []
    assert [f.series_id for f in result.findings] == ids


def test_a_small_portfolio_falling_together_is_one_portfolio_event():
    # Three accounts, no cohort given or inferable: all three falling on the same day is the
    # pipeline or the calendar, however small the portfolio.
    batch, _ = _portfolio(3, dropping=3)

    result = detect(batch, backtest=True)

    assert result.findings == []
    (event,) = result.portfolio_events
    assert (event.start, event.series_affected) == (day(OUTAGE[0]), 3)


def test_one_account_falling_on_every_metric_is_reported_however_many_metrics():
    # Twelve metrics of one account are a whole "portfolio" of series, all falling: churn.
    metrics = ["api_calls", "logins", "active_users"] + [f"feature:f{k}" for k in range(9)]
    ids = [f"acme/{m}" for m in metrics]
    rows = [
        synth.scaled(synth.usage(N, seed=200 + k, level=1000.0), OUTAGE, 0.2)
        for k in range(len(ids))
    ]

    result = detect(batch_of(rows, ids), backtest=True)

    assert result.portfolio_events == []
    assert sorted(f.series_id for f in result.findings) == sorted(ids)


def test_outage_in_scan_mode():
    batch, _ = _portfolio(30, dropping=30)
    values = batch.values.copy()
    values[:, -2:] *= 0.2  # the last two days of every series fall together

    result = detect(SeriesBatch(values, batch.start, batch.series_ids, batch.metrics, batch.groups))

    assert result.findings == []
    (event,) = result.portfolio_events
    assert (event.start, event.end) == (day(N - 2), day(N - 1))


# --- possible causes from the account's other metrics ---------------------------------------


def _account(changes: dict[str, float], *, days=slice(N - 6, N)):
    """One account's metrics, each scaled by its factor over `days`."""
    ids = [f"acme/{metric}" for metric in changes]
    rows = [
        synth.scaled(synth.usage(N, seed=10 + k), days, factor)
        for k, factor in enumerate(changes.values())
    ]
    return batch_of(rows, ids)


@pytest.mark.parametrize(
    ("changes", "series_id", "cause"),
    [
        pytest.param(
            {"api_calls": 0.4, "logins": 1.0, "active_users": 1.0},
            "acme/api_calls",
            "Integration issue or migration",
            id="api-calls-down-people-steady",
        ),
        pytest.param(
            {"api_calls": 0.4, "logins": 0.4, "active_users": 0.4, "feature:reports": 0.4},
            "acme/api_calls",
            "Churn risk: usage is down across the account",
            id="everything-down",
        ),
        pytest.param(
            {"logins": 0.4, "api_calls": 1.0, "active_users": 1.0},
            "acme/logins",
            "Fewer people using the product: seat loss or a team change",
            id="logins-down-alone",
        ),
        pytest.param(
            {"feature:reports": 0.4, "api_calls": 1.0, "logins": 1.0},
            "acme/feature:reports",
            "Training gap or competing tool",
            id="feature-down-alone",
        ),
        pytest.param(
            {"logins": 2.5, "active_users": 2.5, "api_calls": 1.0},
            "acme/logins",
            "Team expansion or new use case",
            id="people-up-together",
        ),
        pytest.param(
            {"api_calls": 2.5, "logins": 1.0},
            "acme/api_calls",
            "New integration or heavier automation",
            id="api-calls-up-alone",
        ),
    ],
)
def test_possible_cause_from_sibling_metrics(changes, series_id, cause):
    findings = detect(_account(changes), backtest=True).findings

    mine = [f for f in findings if f.series_id == series_id]
    assert len(mine) == 1, findings
    assert mine[0].possible_cause == cause
    assert mine[0].account == "acme"
    # The steady siblings stay quiet.
    moved = {f"acme/{m}" for m, factor in changes.items() if factor != 1.0}
    assert {f.series_id for f in findings} == moved


def test_churn_names_every_dropping_metric():
    changes = {"api_calls": 0.4, "logins": 0.4, "active_users": 0.4}

    findings = detect(_account(changes), backtest=True).findings

    assert {f.possible_cause for f in findings} == {"Churn risk: usage is down across the account"}
    assert len(findings) == 3


# --- hints from reviews ----------------------------------------------------------------------


def test_evidence_factor_suppresses_a_short_moderate_drop():
    row = synth.scaled(synth.usage(N, seed=3), [150, 151], 0.55)
    batch = batch_of([row], ["acme/api_calls"])

    (f,) = detect(batch, backtest=True).findings
    assert (f.type, f.start, f.end) == ("drop", day(150), day(151))

    hints = SeriesHints(evidence=np.array([[2.0, 1.0]]))
    assert detect(batch, backtest=True, hints=hints).findings == []


def test_evidence_factor_is_per_direction():
    row = synth.scaled(synth.usage(N, seed=3), [150, 151], 2.5)
    batch = batch_of([row], ["acme/api_calls"])

    # A raised bar for drops leaves spikes alone.
    hints = SeriesHints(evidence=np.array([[2.0, 1.0]]))
    (f,) = detect(batch, backtest=True, hints=hints).findings
    assert (f.type, f.start, f.end) == ("spike", day(150), day(151))


def test_excluded_days_are_no_finding():
    bad = slice(120, 126)
    row = synth.scaled(synth.usage(N, seed=4), bad, 0.1)
    batch = batch_of([row], ["acme/api_calls"])
    assert [f.start for f in detect(batch, backtest=True).findings] == [day(120)]

    exclude = np.zeros((1, N), dtype=bool)
    exclude[0, bad] = True
    assert detect(batch, backtest=True, hints=SeriesHints(exclude=exclude)).findings == []


def test_excluded_days_do_not_hide_a_later_drop():
    row = synth.scaled(synth.usage(N, seed=4), slice(120, 126), 0.1)
    row = synth.scaled(row, slice(N - 5, N), 0.4)
    exclude = np.zeros((1, N), dtype=bool)
    exclude[0, 120:126] = True

    findings = detect(
        batch_of([row], ["acme/api_calls"]), backtest=True, hints=SeriesHints(exclude=exclude)
    ).findings

    assert [(f.type, f.start, f.end) for f in findings] == [("drop", day(N - 5), None)]


def test_rebaseline_after_a_level_shift_reports_nothing_about_it():
    shift = N - 40
    row = synth.scaled(synth.usage(N, seed=5), slice(shift, N), 0.5)
    batch = batch_of([row], ["acme/api_calls"])
    assert detect(batch, backtest=True).findings != []

    hints = SeriesHints(rebaseline_from=np.array([shift]))

    assert detect(batch, backtest=True, hints=hints).findings == []
    assert detect(batch, hints=hints).findings == []


def test_series_traces_equal_one_series_trace_per_metric():
    """One account's metrics traced in one replay (the customer page's charts) give each
    metric the numbers its own replay gives: no metric borrows from or excuses another, and
    metrics whose configs differ in a statistical field replay apart."""
    n = 400
    metrics = ["api_calls", "logins", "active_users", "feature:reports", "feature:exports"]
    rows = np.array(
        [
            synth.scaled(synth.usage(n, seed=1), slice(n - 6, n), 0.4),
            # All of them fall together for a week: one account's, so no guard excuses it.
            synth.scaled(synth.usage(n, seed=2, level=80), slice(300, 307), 0.3),
            synth.ramp(synth.usage(n, seed=3, level=300), n - 45, 45, 0.45),
            synth.with_missing(synth.usage(n, seed=4, level=20), slice(0, 150)),
            synth.scaled(synth.usage(n, seed=5, level=5), slice(200, 210), 3.0),
        ]
    )
    rows[:4, 300:307] *= 0.3
    configs = [
        preset("high"),
        preset("low"),
        preset("medium"),
        replace(preset("medium"), min_duration_days=5),
        replace(preset("medium"), window_days=56),  # a statistical field: its own replay
    ]

    batch = series_traces(rows, start=START, metrics=metrics, configs=configs)

    for row, metric, config, trace in zip(rows, metrics, configs, batch, strict=True):
        alone = series_trace(row, start=START, metric=metric, config=config)
        assert trace.start == alone.start
        np.testing.assert_array_equal(trace.actual, alone.actual)
        np.testing.assert_array_equal(trace.flagged, alone.flagged)
        for name in ("expected", "expected_low", "expected_high"):
            np.testing.assert_allclose(getattr(trace, name), getattr(alone, name), rtol=1e-9)
        assert np.isfinite(trace.expected[-30:]).all()
    # The week all metrics fell together is flagged on each of them alike.
    assert (batch[1].flagged[300:307] == -1).any()


def test_series_traces_reject_mismatched_inputs():
    with pytest.raises(ValueError, match="2 metrics and 1 configs"):
        series_traces(np.ones((2, 30)), start=START, metrics=["a", "b"], configs=[preset("low")])
