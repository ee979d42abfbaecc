"""bench/customer_page.py in a tiny mode: it seeds what its docstring says, renders the page
on every path with the same charts and the same queries, and reports each path."""

import pytest

from anomalies.models import AnomalyAction, UsageAnomaly
from bench import customer_page as cp
from customers.models import UsageMetric

pytestmark = pytest.mark.django_db


def test_the_bench_measures_the_old_and_the_new_path_on_the_same_charts():
    results = cp.run(metrics=3, days=200, anomalies=5, repeats=1)

    assert UsageMetric.objects.values("metric").distinct().count() == 3
    # A day or so in a hundred is missing.
    assert 560 <= UsageMetric.objects.count() < 600
    assert UsageAnomaly.objects.count() == AnomalyAction.objects.count() == 5
    assert list(results) == list(cp.PATHS)
    # measure() stops the run when the paths draw different charts; all three drew these.
    for result in results.values():
        assert len(result["charts"]) == 3
        assert result["seconds"] > 0 and result["cpu_seconds"] > 0
    assert len({result["queries"] for result in results.values()}) == 1
    table = cp.render(results, metrics=3, days=200, anomalies=5)
    assert "3 metrics x 200 days" in table
    assert table.count("ms |") == 6


def test_the_bench_stops_when_the_paths_disagree(monkeypatch):
    def wrong(**kwargs):
        windows = cp.series_windows_per_metric(**kwargs)
        windows[0]["expected"] = [None] * len(windows[0]["expected"])
        return windows

    monkeypatch.setitem(cp.PATHS, "old (series_trace per metric)", _patched(wrong))

    with pytest.raises(SystemExit, match="different charts"):
        cp.run(metrics=2, days=150, anomalies=1, repeats=1)


def _patched(windows):
    from unittest import mock

    return lambda: mock.patch("anomalies.views.customer.series_windows", windows)
