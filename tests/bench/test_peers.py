import datetime as dt

import numpy as np

from bench.peers import events, flag_runs, naive_z, rolling_iqr
from bench.series_io import WideSeries


def test_flag_runs_bridge_one_quiet_day_but_not_two_nor_an_opposite_flag():
    flags = np.array([-1, 0, -1, 0, 0, -1, 1, -1, -1], dtype=np.int8)
    assert flag_runs(flags, -1) == [(0, 2), (5, 5), (7, 8)]
    assert flag_runs(flags, 1) == [(6, 6)]
    assert flag_runs(np.zeros(4, dtype=np.int8), 1) == []


def _flat_series_with_a_drop():
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 2, size=(1, 60))
    values[0, 50:53] = 30
    values[0, 10] = np.nan
    return values


def test_the_rules_flag_an_obvious_drop_and_skip_missing_days():
    values = _flat_series_with_a_drop()
    for rule in (naive_z, rolling_iqr):
        flags, expected = rule(values)
        assert (flags[0, 50:53] == -1).all()
        assert flags[0, 10] == 0
        assert (flags[0, :14] == 0).all()  # not enough history yet
        assert abs(expected[0, 50] - 100) < 3


def test_events_are_reported_once_and_left_open_while_still_flagged():
    values = _flat_series_with_a_drop()
    wide = WideSeries(["acme/logins"], dt.date(2025, 1, 1), values, np.array([0]), np.array([59]))
    flags, expected = naive_z(values)
    found = events(wide, flags, expected, "naive_z")
    first = found[0]
    assert first["start"] == first["detected_at"] == "2025-02-20"
    assert first["type"] == "drop" and first["direction"] == "down"
    assert first["deviation_percent"] < -50
    assert len(found) == 1


def test_an_event_still_flagged_on_the_last_day_stays_open():
    values = np.full((1, 10), 100.0)
    flags = np.array([[0, 0, 0, 0, 0, 0, 0, 1, 0, 1]], dtype=np.int8)
    wide = WideSeries(["acme/logins"], dt.date(2025, 1, 1), values, np.array([0]), np.array([9]))
    (event,) = events(wide, flags, np.full((1, 10), 50.0), "naive_z")
    assert (event["start"], event["end"]) == ("2025-01-08", None)
    assert event["deviation_percent"] == 100.0
