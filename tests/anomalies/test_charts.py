"""The usage chart: pure SVG from lists, checked as markup (no database)."""

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from anomalies.charts import (
    MARGIN_LEFT,
    MISSING_COLOR,
    PLOT_BOTTOM,
    PLOT_W,
    SEVERITY_COLORS,
    WIDTH,
    usage_chart_svg,
)

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


# Hover values, flagged-day markers, the legend and the shading's exact extent (issue 14).

SLOT_90 = PLOT_W / 90


def day_titles(svg):
    """The tooltip of each day's hover column, in day order."""
    (days,) = elements(svg, "g", "days")
    return [rect.find(f"{SVG}title").text for rect in days.iter(f"{SVG}rect")]


def legend_labels(svg):
    (legend,) = elements(svg, "g", "legend")
    return [text.text for text in legend.iter(f"{SVG}text")]


def test_each_day_has_a_tooltip_with_its_date_values_and_normal_range():
    actual = [100.0 + i for i in range(9)] + [None]
    holidays = [FIRST + dt.timedelta(days=4)]
    anomalies = [(FIRST + dt.timedelta(days=2), FIRST + dt.timedelta(days=3), "critical")]
    svg = chart(
        10,
        actual=actual,
        expected=[1234.5] * 10,
        low=[90.0] * 9 + [None],
        high=[2000.0] * 10,
        holidays=holidays,
        anomalies=anomalies,
    )

    titles = day_titles(svg)

    assert len(titles) == 10
    assert titles[0].split("\n") == [
        "Mon Jun 30, 2025",
        "actual 100",
        "expected 1,234.5",
        "normal range 90–2,000",
    ]
    assert titles[2].split("\n")[-1] == "critical anomaly"
    assert titles[4].startswith("Fri Jul 4, 2025 (holiday)\nactual 104\n")
    # A day without a value says so; without both band edges it has no range line.
    assert titles[9].split("\n") == ["Wed Jul 9, 2025", "actual no data", "expected 1,234.5"]


def test_the_hover_columns_cover_each_days_slot_on_top_of_everything_else():
    svg = chart(90)
    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    # Drawn last but for the legend, so the pointer finds a day's column, not the lines.
    assert [child.get("class") for child in root][-2:] == ["days", "legend"]
    (days,) = elements(svg, "g", "days")
    assert days.get("fill-opacity") == "0"
    rects = list(days.iter(f"{SVG}rect"))
    assert float(rects[0].get("x")) == pytest.approx(MARGIN_LEFT, abs=0.01)
    for k, rect in enumerate(rects):
        assert float(rect.get("x")) == pytest.approx(MARGIN_LEFT + k * SLOT_90, abs=0.01)
        assert float(rect.get("width")) == pytest.approx(SLOT_90, abs=0.01)


def test_the_tooltip_escapes_nothing_it_should_not_and_stays_well_formed():
    svg = chart(3, actual=[1e12, 0.5, 3.0])
    titles = day_titles(svg)
    assert titles[0].split("\n")[1] == "actual 1,000,000,000,000"
    assert titles[1].split("\n")[1] == "actual 0.5"


@pytest.mark.parametrize(
    ("anomalies", "flagged"),
    [
        # Days 2-3: two markers.
        ([(FIRST + dt.timedelta(days=2), FIRST + dt.timedelta(days=3), "critical")], 2),
        # Started before the window, ongoing: every day of the window.
        ([(FIRST - dt.timedelta(days=5), None, "warning")], 10),
        # Ends after the window: its days inside it only (7, 8, 9).
        ([(FIRST + dt.timedelta(days=7), FIRST + dt.timedelta(days=30), "positive")], 3),
        # Entirely before the window: none.
        ([(FIRST - dt.timedelta(days=9), FIRST - dt.timedelta(days=2), "critical")], 0),
        # Two events: each marks its own days.
        (
            [
                (FIRST, FIRST, "info"),
                (FIRST + dt.timedelta(days=5), FIRST + dt.timedelta(days=8), "critical"),
            ],
            5,
        ),
    ],
)
def test_every_flagged_day_in_the_window_has_one_marker(anomalies, flagged):
    assert len(elements(chart(10, anomalies=anomalies), "circle", "flag")) == flagged


def test_markers_sit_on_the_days_value_in_the_tiers_colour():
    actual = [100.0] * 5 + [10.0, 20.0, None] + [100.0] * 2
    anomalies = [(FIRST + dt.timedelta(days=5), FIRST + dt.timedelta(days=7), "critical")]
    svg = chart(10, actual=actual, anomalies=anomalies)
    markers = elements(svg, "circle", "flag")
    assert {m.get("fill") for m in markers} == {SEVERITY_COLORS["critical"]}
    assert all("flag-critical" in m.get("class").split() for m in markers)
    slot = PLOT_W / 10
    xs = [float(m.get("cx")) for m in markers]
    assert xs == pytest.approx([MARGIN_LEFT + (k + 0.5) * slot for k in (5, 6, 7)], abs=0.05)
    # On the actual line where there is a value (lower value, lower on the chart: larger y);
    # on the axis for the day without one.
    ys = [float(m.get("cy")) for m in markers]
    assert ys[0] > ys[1] and ys[2] == pytest.approx(PLOT_BOTTOM)
    (line,) = [p for p in elements(svg, "path", "actual") if len(path_points(p.get("d"))) == 7]
    assert float(path_points(line.get("d"))[5][1]) == pytest.approx(ys[0], abs=0.05)


def test_a_gain_is_green_and_never_the_grey_of_missing_data():
    assert SEVERITY_COLORS["positive"] not in (MISSING_COLOR, SEVERITY_COLORS["info"])
    svg = chart(10, anomalies=[(FIRST + dt.timedelta(days=8), None, "positive")])
    (rect,) = elements(svg, "rect", "anomaly")
    assert rect.get("fill") == SEVERITY_COLORS["positive"]
    assert rect.find(f"{SVG}title").text == "positive anomaly Jul 8 – Jul 9, ongoing (2 days)"


# Every entry a legend can have, in its order: losses worst first, then gains.
FULLEST_LEGEND = [
    "actual",
    "expected",
    "normal range",
    "critical",
    "warning",
    "info",
    "positive",
    "holiday",
    "no data",
]


def test_the_legend_names_every_colour_used_and_only_those():
    actual = [100.0] * 8 + [None, 100.0]
    anomalies = [
        (FIRST + dt.timedelta(days=1), FIRST + dt.timedelta(days=2), "positive"),
        (FIRST + dt.timedelta(days=4), None, "critical"),
        (FIRST + dt.timedelta(days=3), FIRST + dt.timedelta(days=3), "warning"),
        (FIRST - dt.timedelta(days=20), FIRST - dt.timedelta(days=19), "info"),  # not shown
    ]
    svg = chart(10, actual=actual, anomalies=anomalies, holidays=[FIRST + dt.timedelta(days=6)])
    assert legend_labels(svg) == [label for label in FULLEST_LEGEND if label != "info"]
    # Each tier's entry is drawn in the colour its shading uses.
    (legend,) = elements(svg, "g", "legend")
    swatches = {
        entry.find(f"{SVG}text").text: entry.find(f"{SVG}circle").get("fill")
        for entry in legend.iter(f"{SVG}g")
        if entry.find(f"{SVG}circle") is not None
    }
    assert swatches == {tier: SEVERITY_COLORS[tier] for tier in ("critical", "warning", "positive")}


def test_a_plain_chart_has_a_plain_legend():
    svg = chart(10)
    assert legend_labels(svg) == ["actual", "expected", "normal range"]
    # Under the plot, from its left edge.
    first = list(elements(svg, "g", "legend")[0].iter(f"{SVG}g"))[1]  # [0]: the legend
    assert first.get("transform").startswith(f"translate({MARGIN_LEFT},")
    no_band = chart(10, low=[None] * 10, high=[None] * 10, expected=[None] * 10)
    assert legend_labels(no_band) == ["actual"]


def test_the_fullest_legend_fits_the_chart():
    anomalies = [(FIRST, FIRST, tier) for tier in ("critical", "warning", "positive", "info")]
    svg = chart(10, actual=[None] + [1.0] * 9, anomalies=anomalies, holidays=[FIRST])
    assert legend_labels(svg) == FULLEST_LEGEND
    (legend,) = elements(svg, "g", "legend")
    last = list(legend.iter(f"{SVG}g"))[-1]
    left = float(re.match(r"translate\(([\d.]+),", last.get("transform")).group(1))
    # The symbol, the gap before the text and about 6.5 px a character at 11 px.
    assert left + 24 + 6.5 * len("no data") <= WIDTH


def test_an_unknown_tier_is_drawn_and_named_as_a_warning():
    svg = chart(10, anomalies=[(FIRST, FIRST, "bogus")])
    (rect,) = elements(svg, "rect", "anomaly")
    assert rect.get("fill") == SEVERITY_COLORS["warning"]
    assert "warning" in legend_labels(svg)


@pytest.mark.parametrize(
    ("start", "end", "first_index", "last_index"),
    [
        (10, 14, 10, 14),  # a five-day event
        (37, 37, 37, 37),  # one day
        (-4, 2, 0, 2),  # began before the window: from its first day
        (85, None, 85, 89),  # ongoing: to the last day
        (0, 89, 0, 89),  # the whole window
    ],
)
def test_shading_runs_from_the_first_days_slot_start_to_the_last_days_slot_end(
    start, end, first_index, last_index
):
    anomalies = [
        (
            FIRST + dt.timedelta(days=start),
            FIRST + dt.timedelta(days=end) if end is not None else None,
            "critical",
        )
    ]
    svg = chart(90, anomalies=anomalies)
    (rect,) = elements(svg, "rect", "anomaly")
    left = float(rect.get("x"))
    right = left + float(rect.get("width"))
    assert left == pytest.approx(MARGIN_LEFT + first_index * SLOT_90, abs=0.01)
    assert right == pytest.approx(MARGIN_LEFT + (last_index + 1) * SLOT_90, abs=0.01)
    # The first and last flagged days' points sit half a slot inside the shading's edges.
    markers = [float(m.get("cx")) for m in elements(svg, "circle", "flag")]
    assert markers[0] - left == pytest.approx(SLOT_90 / 2, abs=0.06)
    assert right - markers[-1] == pytest.approx(SLOT_90 / 2, abs=0.06)
    # And the hover columns of those days line up with it exactly.
    (days,) = elements(svg, "g", "days")
    columns = list(days.iter(f"{SVG}rect"))
    assert float(columns[first_index].get("x")) == pytest.approx(left, abs=0.01)
    last = columns[last_index]
    assert float(last.get("x")) + float(last.get("width")) == pytest.approx(right, abs=0.02)
