"""The usage chart: pure SVG from lists, checked as markup (no database)."""

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from anomalies.charts import usage_chart_svg

FIRST = dt.date(2025, 6, 30)
SVG = "{http://www.w3.org/2000/svg}"


def chart(n=10, *, actual=None, anomalies=(), holidays=(), title="API calls", **overrides):
    dates = [FIRST + dt.timedelta(days=i) for i in range(n)]
    values = {
        "dates": dates,
        "actual": actual if actual is not None else [100.0 + i for i in range(n)],
        "expected": [100.0] * n,
        "low": [90.0] * n,
        "high": [110.0] * n,
        "anomalies": list(anomalies),
        "holidays": list(holidays),
        "title": title,
        "unit": "API calls per day",
    }
    values.update(overrides)
    return usage_chart_svg(**values)


def elements(svg, tag, cls=None):
    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    found = root.iter(f"{SVG}{tag}")
    return [e for e in found if cls is None or cls in e.get("class", "").split()]


def path_points(d):
    return re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)


def test_it_draws_one_point_per_day_on_the_actual_line():
    svg = chart(10)
    (line,) = elements(svg, "path", "actual")
    assert len(path_points(line.get("d"))) == 10


def test_it_draws_the_expected_line_dashed():
    (line,) = elements(chart(10), "path", "expected")
    assert line.get("stroke-dasharray")
    assert len(path_points(line.get("d"))) == 10


def test_it_shades_the_normal_band_as_a_polygon_along_both_edges():
    (band,) = elements(chart(10), "polygon", "band")
    assert len(band.get("points").split()) == 20


def test_it_breaks_the_line_and_marks_missing_days():
    actual = [100.0] * 4 + [None, float("nan")] + [100.0] * 4
    svg = chart(10, actual=actual)
    lines = elements(svg, "path", "actual")
    assert [len(path_points(p.get("d"))) for p in lines] == [4, 4]
    assert len(elements(svg, "rect", "missing")) == 2


def test_it_draws_a_lone_day_between_gaps_as_a_dot():
    actual = [None, None, 50.0, None, None]
    svg = chart(5, actual=actual)
    assert elements(svg, "path", "actual") == []
    assert len(elements(svg, "circle", "point")) == 1


def test_it_marks_only_holidays_inside_the_window():
    holidays = [FIRST + dt.timedelta(days=4), FIRST - dt.timedelta(days=1), FIRST]
    assert len(elements(chart(10, holidays=holidays), "path", "holiday")) == 2


def test_it_shades_anomalies_over_their_days_and_ongoing_ones_to_the_last_day():
    anomalies = [
        (FIRST + dt.timedelta(days=2), FIRST + dt.timedelta(days=3), "critical"),
        (FIRST + dt.timedelta(days=8), None, "warning"),
        (FIRST - dt.timedelta(days=30), FIRST - dt.timedelta(days=20), "info"),
    ]
    rects = elements(chart(10, anomalies=anomalies), "rect", "anomaly")
    assert len(rects) == 2
    widths = [float(r.get("width")) for r in rects]
    assert widths[0] == pytest.approx(widths[1])  # two days each: days 2-3 and 8-9
    # Each says which days it covers; an ongoing one, up to the chart's last day.
    titles = [r.find(f"{SVG}title").text for r in rects]
    assert titles == [
        "critical anomaly Jul 2 – Jul 3 (2 days)",
        "warning anomaly Jul 8 – Jul 9, ongoing (2 days)",
    ]


def test_it_has_no_nan_or_none_in_coordinates():
    actual = [None, 1.0, float("nan"), 3.0, float("inf"), 5.0]
    svg = chart(6, actual=actual, low=[None] * 6, high=[float("nan")] * 6)
    assert "nan" not in svg.lower()
    assert "None" not in svg
    assert "inf" not in svg.lower()
    assert elements(svg, "polygon", "band") == []


def test_it_labels_axes_with_dates_and_the_unit():
    svg = chart(90)
    ticks = [t.text for t in elements(svg, "text", "x-tick")]
    assert 3 <= len(ticks) <= 6
    assert ticks[0] == "Jun 30"
    (unit,) = elements(svg, "text", "unit")
    assert unit.text == "API calls per day"


def test_it_escapes_text():
    svg = chart(5, title='<script>alert("x")</script>')
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    ET.fromstring(svg)  # noqa: S314 - still well-formed


@pytest.mark.parametrize(
    "overrides",
    [
        {"dates": [], "actual": [], "expected": [], "low": [], "high": []},
        {"actual": [None] * 10},
    ],
)
def test_it_says_no_data_for_an_empty_series(overrides):
    svg = chart(10, **overrides)
    assert "No data" in svg
    assert elements(svg, "path", "actual") == []


def test_it_accepts_iso_date_strings():
    dates = [(FIRST + dt.timedelta(days=i)).isoformat() for i in range(3)]
    svg = chart(3, dates=dates, holidays=[FIRST])
    assert len(elements(svg, "path", "holiday")) == 1


def test_it_rejects_lists_of_different_lengths():
    with pytest.raises(ValueError, match="expected has 3 values for 10 dates"):
        chart(10, expected=[1.0, 2.0, 3.0])


def test_it_handles_an_all_zero_series():
    svg = chart(5, actual=[0.0] * 5, expected=[0.0] * 5, low=[0.0] * 5, high=[0.0] * 5)
    assert len(path_points(elements(svg, "path", "actual")[0].get("d"))) == 5
