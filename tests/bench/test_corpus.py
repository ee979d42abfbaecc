import csv
import datetime as dt

import numpy as np
import pytest

from bench.corpus import (
    CALENDAR_CLEARANCE_DAYS,
    FIRST_INJECTION_DAY,
    LABEL_TYPES,
    generate,
    holiday_mask,
    thanksgiving,
    write,
)

END = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def corpus():
    return generate(accounts=24, days=420, seed=11, end=END)


def test_it_is_the_same_for_the_same_seed_and_differs_for_another(corpus):
    again = generate(accounts=24, days=420, seed=11, end=END)
    np.testing.assert_array_equal(again.values, corpus.values)
    assert again.labels == corpus.labels
    assert again.outage == corpus.outage
    other = generate(accounts=24, days=420, seed=12, end=END)
    assert other.values.shape != corpus.values.shape or not np.array_equal(
        np.nan_to_num(other.values), np.nan_to_num(corpus.values)
    )


def test_it_makes_about_five_series_per_account_with_the_core_metrics(corpus):
    assert 3 * 24 <= len(corpus.series_ids) <= 6 * 24
    for account in set(corpus.accounts):
        metrics = {m for a, m in zip(corpus.accounts, corpus.metrics, strict=True) if a == account}
        assert {"api_calls", "logins", "active_users"} <= metrics
    assert corpus.values.shape[1] == 420
    assert corpus.dates[-1] == END


def test_labels_lie_inside_the_series_after_warm_up_and_clear_of_the_calendar(corpus):
    dates = corpus.dates
    blocked = holiday_mask(dates)
    o_start, o_end = corpus.outage
    known = set(corpus.series_ids)
    for lab in corpus.labels:
        start, end = dt.date.fromisoformat(lab["start"]), dt.date.fromisoformat(lab["end"])
        assert lab["series_id"] in known
        assert lab["type"] in LABEL_TYPES
        assert dates[FIRST_INJECTION_DAY] <= start <= end <= dates[-1]
        s, e = (start - dates[0]).days, (end - dates[0]).days
        pad = CALENDAR_CLEARANCE_DAYS
        assert not blocked[max(0, s - pad) : e + pad + 1].any(), lab
        assert end < o_start - dt.timedelta(days=pad) or start > o_end + dt.timedelta(days=pad)
    # At most one injected anomaly per series.
    assert len({lab["series_id"] for lab in corpus.labels}) == len(corpus.labels)


def test_about_half_of_the_series_are_clean_and_clean_means_unlabeled(corpus):
    clean = {m["series_id"] for m in corpus.series_meta if m["clean"]}
    labeled = {lab["series_id"] for lab in corpus.labels}
    assert clean.isdisjoint(labeled)
    assert clean | labeled == set(corpus.series_ids)
    assert 0.4 <= len(clean) / len(corpus.series_ids) <= 0.65


def test_the_outage_lowers_every_series(corpus):
    j = (corpus.outage[0] - corpus.start).days
    assert (corpus.outage[1] - corpus.outage[0]).days == 1
    assert j >= 365 or j >= corpus.values.shape[1] // 2
    for i, sid in enumerate(corpus.series_ids):
        for day in (j, j + 1):
            # The same weekday in the four weeks either side.
            same_weekday = [day + 7 * k for k in (-4, -3, -2, -1, 1, 2) if day + 7 * k < 420]
            normal = np.nanmedian(corpus.values[i, same_weekday])
            value = corpus.values[i, day]
            if np.isnan(value):
                continue
            # Tiny series are mostly Poisson noise: a count of a few says nothing.
            assert value <= max(normal, 5), sid
            if normal >= 20:
                assert value <= 0.4 * normal, sid


def test_missing_days_are_written_empty_not_zero(corpus, tmp_path):
    write(corpus, tmp_path)
    with open(tmp_path / "series.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == corpus.values.size
    empty = [r for r in rows if r["value"] == ""]
    assert len(empty) == int(np.isnan(corpus.values).sum()) > 0
    assert all(r["value"] == "" or r["value"].isdigit() for r in rows)
    with open(tmp_path / "labels.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(corpus.labels)
    assert (tmp_path / "outage.csv").read_text().startswith("start,end\n")


def test_thanksgiving_is_the_fourth_thursday_of_november():
    assert thanksgiving(2025) == dt.date(2025, 11, 27)
    assert thanksgiving(2026) == dt.date(2026, 11, 26)


def test_it_rejects_a_corpus_too_short_to_hold_anomalies():
    with pytest.raises(ValueError, match="days must be >= 200"):
        generate(days=100)
