import datetime as dt

from bench.causality import ONLY_CUT, ONLY_FULL, Mismatch, compare, write_cut
from bench.scoring import Report

D = dt.date
CUT = D(2026, 7, 3)


def ev(start, detected_at, series_id="acme/logins", end=None):
    return Report(series_id, start, end, detected_at, "drop")


def test_a_causal_run_has_no_mismatch_whatever_the_ends():
    full = [
        ev(D(2026, 6, 1), D(2026, 6, 2), end=D(2026, 6, 5)),
        ev(D(2026, 7, 2), D(2026, 7, 3), end=D(2026, 7, 20)),  # open on the cut day
        ev(D(2026, 7, 10), D(2026, 7, 11)),  # after the cut: not compared
    ]
    cut = [ev(D(2026, 6, 1), D(2026, 6, 2), end=D(2026, 6, 5)), ev(D(2026, 7, 2), D(2026, 7, 3))]
    assert compare(full, cut, CUT) == []


def test_it_lists_events_either_run_lacks_up_to_the_cut():
    full = [
        ev(D(2026, 6, 1), D(2026, 6, 2)),
        ev(D(2026, 6, 10), D(2026, 6, 12)),  # the cut run dates it otherwise
        ev(D(2026, 7, 3), D(2026, 7, 3), series_id="globex/logins"),  # on the cut day
    ]
    cut = [
        ev(D(2026, 6, 1), D(2026, 6, 2)),
        ev(D(2026, 6, 10), D(2026, 6, 11)),
        ev(D(2026, 6, 20), D(2026, 6, 21)),  # the full run never saw it
    ]
    assert compare(full, cut, CUT) == [
        Mismatch(ONLY_CUT, "acme/logins", D(2026, 6, 10), D(2026, 6, 11)),
        Mismatch(ONLY_FULL, "acme/logins", D(2026, 6, 10), D(2026, 6, 12)),
        Mismatch(ONLY_CUT, "acme/logins", D(2026, 6, 20), D(2026, 6, 21)),
        Mismatch(ONLY_FULL, "globex/logins", D(2026, 7, 3), D(2026, 7, 3)),
    ]


def test_an_event_the_cut_run_dates_after_its_last_day_is_a_mismatch():
    cut = [ev(D(2026, 7, 3), D(2026, 7, 4))]
    assert compare([], cut, CUT) == [
        Mismatch(ONLY_CUT, "acme/logins", D(2026, 7, 3), D(2026, 7, 4))
    ]


def test_the_cut_file_keeps_the_rows_up_to_the_cut_day_as_they_are(tmp_path):
    src = tmp_path / "series.csv"
    src.write_text(
        "series_id,date,value\n"
        "acme/logins,2026-07-02,5\nacme/logins,2026-07-03,\nacme/logins,2026-07-04,7\n"
    )
    out = write_cut(src, CUT, tmp_path / "cut/series.csv")
    assert (
        out.read_text()
        == "series_id,date,value\nacme/logins,2026-07-02,5\nacme/logins,2026-07-03,\n"
    )
