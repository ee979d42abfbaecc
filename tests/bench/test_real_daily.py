import datetime as dt

import pytest

from bench import real_daily
from bench.scoring import Report

D = dt.date


def test_alerts_per_series_year_is_reports_over_rows_per_365_25_days():
    # real_daily's untouched/: 39,217 rows are 107.4 series-years.
    assert real_daily.series_years(39_217) == pytest.approx(107.37, abs=0.01)
    assert real_daily.alerts_per_series_year(376, 39_217) == pytest.approx(3.5019, abs=1e-4)
    assert real_daily.alerts_per_series_year(0, 730) == 0.0
    assert real_daily.alerts_per_series_year(3, 0) is None


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def data(tmp_path):
    days = [D(2013, 3, 1) + dt.timedelta(days=k) for k in range(365)]
    lines = ["series_id,date,value"]
    for sid, level in (("mel-sensor01/api_calls", 2000), ("nyc-site1/logins", 50)):
        for k, d in enumerate(days):
            # A missing value is still a row, and a series-day.
            value = "" if (sid.startswith("mel") and k % 73 == 5) else str(level + k % 7)
            lines.append(f"{sid},{d},{value}")
    series = "\n".join(lines) + "\n"
    _write(tmp_path / "untouched/series.csv", series)
    _write(tmp_path / "injected/series.csv", series)
    _write(
        tmp_path / "injected/labels.csv",
        "series_id,start,end,type\nmel-sensor01/api_calls,2013-08-01,2013-08-05,drop\n",
    )
    _write(
        tmp_path / "injected/unlabeled_events.csv",
        "series_id,start,end,kind\n"
        "nyc-site1/logins,2013-09-01,2013-09-02,real_unlabeled\n"
        "nyc-site1/logins,2013-10-01,2013-10-03,missing_gap\n",
    )
    return real_daily.load(tmp_path)


def test_it_counts_rows_with_missing_values_and_finds_the_unlabeled_series(data):
    assert data.rows == {"mel-sensor01/api_calls": 365, "nyc-site1/logins": 365}
    assert data.unlabeled_series == {"nyc-site1/logins"}
    assert data.evidence.events == {"nyc-site1/logins": [(D(2013, 9, 1), D(2013, 9, 2))]}


def test_untouched_alerts_are_rated_overall_by_source_and_by_class(data):
    reports = [
        Report("mel-sensor01/api_calls", D(2013, 12, 26), None, D(2013, 12, 26)),
        Report("nyc-site1/logins", D(2013, 6, 3), D(2013, 6, 4), D(2013, 6, 4)),
        Report("nyc-site1/logins", D(2013, 10, 1), None, D(2013, 10, 1)),
    ]
    u = real_daily.untouched_score(reports, data)
    assert u.per_series_year == pytest.approx(3 / (730 / 365.25))
    assert u.source_rate("mel-") == pytest.approx(1.0 * 365.25 / 365)
    assert u.source_rate("nyc-") == pytest.approx(2.0 * 365.25 / 365)
    # A missing_gap period explains nothing; a small account is small.
    assert u.classes == {"year_end": 1, "small_account": 2}
    assert u.class_share("small_account") == pytest.approx(2 / 3)
    figures = u.figures()
    assert figures["by_class"]["year_end"]["alerts"] == 1
    assert figures["by_class"]["other"] == {"alerts": 0, "per_series_year": 0.0, "share": 0.0}
    assert real_daily.series_rates(u, data)["nyc-site1/logins"] == pytest.approx(2.001, abs=1e-3)


def test_injected_figures_use_the_readme_rule_and_the_onset_rule(data):
    reports = [
        Report("mel-sensor01/api_calls", D(2013, 8, 7), None, D(2013, 8, 8), "drop"),
        Report("nyc-site1/logins", D(2013, 5, 1), None, D(2013, 5, 1), "drop"),
    ]
    inj = real_daily.injected_score(reports, data)
    figures = inj.figures()
    assert (figures["precision"], figures["recall"]) == (0.5, 1.0)
    assert figures["onset_recall"] == 1.0
    assert figures["onset_delay_median_by_type"] == {"drop": 7.0}
    assert figures["reports_per_series_year_unlabeled"] == pytest.approx(365.25 / 365)
    met = [t.ok for t in real_daily.targets(None, inj)]
    assert met == [None, True, False, None]
