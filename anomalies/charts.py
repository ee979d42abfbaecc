"""Usage charts as inline SVG, drawn on the server: no JavaScript, readable in an email or a
printout, and testable as a string.

`usage_chart_svg` is a pure function: lists in, markup out. Every piece of text is escaped, so
the result can be marked safe in a template.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape

from .detection.vocabulary import Severity

WIDTH = 720
HEIGHT = 240
# Room for the title on top, the y tick labels on the left, x tick labels and the legend below.
MARGIN_TOP = 30
MARGIN_RIGHT = 14
MARGIN_BOTTOM = 52
MARGIN_LEFT = 64
PLOT_W = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
PLOT_H = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
PLOT_BOTTOM = MARGIN_TOP + PLOT_H
X_TICKS = 5
Y_TICKS = 4

ACTUAL_COLOR = "#3451b2"
EXPECTED_COLOR = "#5b6478"
BAND_COLOR = "#c9d3f2"
MISSING_COLOR = "#98a2b3"
HOLIDAY_COLOR = "#b54708"
SEVERITY_COLORS = {
    Severity.CRITICAL: "#f04438",
    Severity.WARNING: "#f79009",
    Severity.INFO: "#98a2b3",
}
FAMILY = 'font-family="system-ui, sans-serif"'
FONT = f'{FAMILY} font-size="11"'


def usage_chart_svg(
    *,
    dates: Sequence[dt.date | str],
    actual: Sequence[float | None],
    expected: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    anomalies: Sequence[tuple[dt.date, dt.date | None, str]],
    holidays: Sequence[dt.date],
    title: str,
    unit: str,
) -> str:
    """One metric's daily usage against what was expected of it.

    `dates` are consecutive days (date objects or ISO strings); the four value lists run
    parallel to them, None (or NaN) where a day has no value. `anomalies` are
    (start, end or None while ongoing, severity) and are shaded over the days they cover;
    `holidays` outside the window are ignored. `unit` labels the y axis, e.g. "per day".
    """
    days = [_as_date(d) for d in dates]
    n = len(days)
    for name, values in (("actual", actual), ("expected", expected), ("low", low), ("high", high)):
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values for {n} dates")
    actual_v = [_finite(v) for v in actual]
    if n == 0 or all(v is None for v in actual_v):
        return _empty_svg(title)
    expected_v = [_finite(v) for v in expected]
    low_v = [_finite(v) for v in low]
    high_v = [_finite(v) for v in high]

    top = max(v for v in actual_v + expected_v + high_v if v is not None)
    step = _nice_step(top / Y_TICKS if top > 0 else 1.0)
    y_max = step * max(1, math.ceil(top / step))
    slot = PLOT_W / n  # each day owns a slot; its point sits in the slot's middle

    def x(i: float) -> float:
        return MARGIN_LEFT + (i + 0.5) * slot

    def y(v: float) -> float:
        return PLOT_BOTTOM - (max(v, 0.0) / y_max) * PLOT_H

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{MARGIN_LEFT}" y="18" {FAMILY} font-size="14" font-weight="600" '
        f'fill="#1d2433">{escape(title)}</text>',
    ]
    parts += _anomaly_rects(days, anomalies, x, slot)
    parts += _y_axis(y_max, step, y, unit)
    parts += [
        f'<polygon class="band" fill="{BAND_COLOR}" fill-opacity="0.6" points="{points}"/>'
        for points in _band_polygons(low_v, high_v, x, y)
    ]
    for d in _segments(expected_v, x, y):
        parts.append(
            f'<path class="expected" d="{d}" fill="none" stroke="{EXPECTED_COLOR}" '
            'stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    for d in _segments(actual_v, x, y):
        parts.append(
            f'<path class="actual" d="{d}" fill="none" stroke="{ACTUAL_COLOR}" stroke-width="2"/>'
        )
    # A day with data between two missing days has no line to sit on: draw it as a dot.
    for i, v in enumerate(actual_v):
        before = actual_v[i - 1] if i > 0 else None
        after = actual_v[i + 1] if i + 1 < n else None
        if v is not None and before is None and after is None:
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" '
                f'fill="{ACTUAL_COLOR}"/>'
            )
    parts += _x_axis(days, x)
    parts += _missing_markers(actual_v, x)
    parts += _holiday_markers(days, holidays, x)
    parts += _legend()
    parts.append("</svg>")
    return "\n".join(parts)


def _as_date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `raw`."""
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def _segments(values: list[float | None], x, y) -> list[str]:
    """Path data per run of consecutive days with values: a missing day breaks the line."""
    runs, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if len(current) > 1:
                runs.append(current)
            current = []
        else:
            current.append(f"{x(i):.1f},{y(v):.1f}")
    if len(current) > 1:
        runs.append(current)
    return ["M" + " L".join(run) for run in runs]


def _band_polygons(low: list, high: list, x, y) -> list[str]:
    """One polygon per run of days with both band edges: along the top, back along the bottom."""
    polygons, run = [], []
    for i, (lo, hi) in enumerate([*zip(low, high, strict=True), (None, None)]):
        if lo is not None and hi is not None:
            run.append(i)
            continue
        if len(run) > 1:
            upper = [f"{x(k):.1f},{y(high[k]):.1f}" for k in run]
            lower = [f"{x(k):.1f},{y(low[k]):.1f}" for k in reversed(run)]
            polygons.append(" ".join(upper + lower))
        run = []
    return polygons


def _anomaly_rects(days: list[dt.date], anomalies, x, slot: float) -> list[str]:
    first, last = days[0], days[-1]
    rects = []
    for start, end, severity in anomalies:
        ongoing = not end
        start, end = _as_date(start), _as_date(end) if end else last
        if end < first or start > last:
            continue
        i = (max(start, first) - first).days
        j = (min(end, last) - first).days
        color = SEVERITY_COLORS.get(severity, SEVERITY_COLORS[Severity.WARNING])
        # The days it covers, ongoing ones up to the chart's last day: "Nov 26 – Nov 30".
        shown = min(end, last)
        days = (shown - start).days + 1
        span = (
            f"{start:%b} {start.day} – {shown:%b} {shown.day}{', ongoing' if ongoing else ''} "
            f"({days} day{'s' if days != 1 else ''})"
        )
        rects.append(
            f'<rect class="anomaly" x="{x(i) - slot / 2:.1f}" y="{MARGIN_TOP}" '
            f'width="{(j - i + 1) * slot:.1f}" height="{PLOT_H}" fill="{color}" '
            f'fill-opacity="0.15"><title>{escape(severity)} anomaly {span}</title></rect>'
        )
    return rects


def _y_axis(y_max: float, step: float, y, unit: str) -> list[str]:
    parts = []
    ticks = round(y_max / step)
    for k in range(ticks + 1):
        value = k * step
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}" stroke="#e3e6ee"/>'
        )
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y(value) + 4:.1f}" {FONT} text-anchor="end" '
            f'fill="#5b6478">{escape(_short_number(value))}</text>'
        )
    middle = MARGIN_TOP + PLOT_H / 2
    parts.append(
        f'<text class="unit" x="14" y="{middle:.1f}" {FONT} text-anchor="middle" fill="#5b6478" '
        f'transform="rotate(-90 14 {middle:.1f})">{escape(unit)}</text>'
    )
    return parts


def _x_axis(days: list[dt.date], x) -> list[str]:
    n = len(days)
    parts = [
        f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{PLOT_BOTTOM}" '
        f'y2="{PLOT_BOTTOM}" stroke="#5b6478"/>'
    ]
    indexes = sorted({round(k * (n - 1) / (X_TICKS - 1)) for k in range(X_TICKS)})
    for i in indexes:
        day = days[i]
        # The outermost labels hang inwards so they stay inside the picture.
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM + 4}" '
            'stroke="#5b6478"/>'
        )
        parts.append(
            f'<text class="x-tick" x="{x(i):.1f}" y="{PLOT_BOTTOM + 16}" {FONT} '
            f'text-anchor="{anchor}" fill="#5b6478">{day:%b} {day.day}</text>'
        )
    return parts


def _missing_markers(values: list[float | None], x) -> list[str]:
    return [
        f'<rect class="missing" x="{x(i) - 2:.1f}" y="{PLOT_BOTTOM - 6}" width="4" height="4" '
        f'fill="{MISSING_COLOR}"><title>no data</title></rect>'
        for i, v in enumerate(values)
        if v is None
    ]


def _holiday_markers(days: list[dt.date], holidays, x) -> list[str]:
    first, last = days[0], days[-1]
    markers = []
    for day in sorted({_as_date(h) for h in holidays}):
        if first <= day <= last:
            cx = x((day - first).days)
            markers.append(
                f'<path class="holiday" d="M{cx:.1f},{PLOT_BOTTOM} l-4,7 h8 z" '
                f'fill="{HOLIDAY_COLOR}"><title>holiday {day:%b} {day.day}</title></path>'
            )
    return markers


def _legend() -> list[str]:
    items = [
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{ACTUAL_COLOR}" stroke-width="2"/>',
            "actual",
        ),
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{EXPECTED_COLOR}" stroke-width="1.5" '
            'stroke-dasharray="5 4"/>',
            "expected",
        ),
        (f'<rect x="0" y="-5" width="18" height="10" fill="{BAND_COLOR}"/>', "normal range"),
        (
            '<rect x="0" y="-5" width="18" height="10" '
            f'fill="{SEVERITY_COLORS[Severity.CRITICAL]}" fill-opacity="0.15"/>',
            "anomaly",
        ),
        (f'<path d="M9,-5 l-4,7 h8 z" fill="{HOLIDAY_COLOR}"/>', "holiday"),
        (f'<rect x="7" y="-2" width="4" height="4" fill="{MISSING_COLOR}"/>', "no data"),
    ]
    return _legend_group(items)


def _empty_svg(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart usage-chart-empty" '
        f'viewBox="0 0 {WIDTH} 80" width="{WIDTH}" height="80" role="img" '
        f'aria-label="{escape(title)}: no data">'
        f"<title>{escape(title)}</title>"
        f'<rect x="0" y="0" width="{WIDTH}" height="80" fill="#fff"/>'
        f'<text x="{MARGIN_LEFT}" y="18" {FAMILY} font-size="14" font-weight="600" '
        f'fill="#1d2433">{escape(title)}</text>'
        f'<text x="{WIDTH / 2:.0f}" y="52" {FAMILY} font-size="13" text-anchor="middle" '
        f'fill="#5b6478">No data in this window</text></svg>'
    )


# The health chart's zones: (from, to, colour, name); the pages name a score's zone too.
HEALTH_ZONES = (
    (0, 40, "#fee4e2", "at risk"),
    (40, 70, "#fef0c7", "watch"),
    (70, 100, "#dcfae6", "healthy"),
)
HEALTH_COLOR = "#3451b2"
HEALTH_STEP = 25


def health_chart_svg(
    *, dates: Sequence[dt.date | str], scores: Sequence[float | None], title: str
) -> str:
    """An account's daily health score (0 to 100) over consecutive `dates`, None where a day
    has no score, over the at-risk / watch / healthy zones. Pure, escaped like
    usage_chart_svg."""
    days = [_as_date(d) for d in dates]
    if len(scores) != len(days):
        raise ValueError(f"scores has {len(scores)} values for {len(days)} dates")
    values = [_finite(v) for v in scores]
    if not days or all(v is None for v in values):
        return _empty_svg(title)
    slot = PLOT_W / len(days)

    def x(i: float) -> float:
        return MARGIN_LEFT + (i + 0.5) * slot

    def y(v: float) -> float:
        return PLOT_BOTTOM - (min(max(v, 0.0), 100.0) / 100.0) * PLOT_H

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="health-chart" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{MARGIN_LEFT}" y="18" {FAMILY} font-size="14" font-weight="600" '
        f'fill="#1d2433">{escape(title)}</text>',
    ]
    for low, high, color, _ in HEALTH_ZONES:
        parts.append(
            f'<rect class="zone" x="{MARGIN_LEFT}" y="{y(high):.1f}" width="{PLOT_W}" '
            f'height="{y(low) - y(high):.1f}" fill="{color}" fill-opacity="0.6"/>'
        )
    parts += _y_axis(100.0, HEALTH_STEP, y, "health score")
    parts += [
        f'<path class="score" d="{d}" fill="none" stroke="{HEALTH_COLOR}" stroke-width="2"/>'
        for d in _segments(values, x, y)
    ]
    for i, v in enumerate(values):
        before = values[i - 1] if i > 0 else None
        after = values[i + 1] if i + 1 < len(values) else None
        if v is not None and before is None and after is None:
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" '
                f'fill="{HEALTH_COLOR}"/>'
            )
    last = max(i for i, v in enumerate(values) if v is not None)
    parts.append(
        f'<circle class="latest" cx="{x(last):.1f}" cy="{y(values[last]):.1f}" r="4" '
        f'fill="{HEALTH_COLOR}"><title>{days[last]:%b} {days[last].day}: '
        f"{values[last]:.0f}</title></circle>"
    )
    parts += _x_axis(days, x)
    parts += _missing_markers(values, x)
    parts += _health_legend()
    parts.append("</svg>")
    return "\n".join(parts)


def _health_legend() -> list[str]:
    items = [
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{HEALTH_COLOR}" stroke-width="2"/>',
            "health score",
        ),
        *(
            (f'<rect x="0" y="-5" width="18" height="10" fill="{color}"/>', name)
            for _, _, color, name in HEALTH_ZONES
        ),
        (f'<rect x="7" y="-2" width="4" height="4" fill="{MISSING_COLOR}"/>', "no score"),
    ]
    return _legend_group(items)


def _legend_group(items: list[tuple[str, str]]) -> list[str]:
    """(symbol markup, label) pairs in a row along the bottom edge."""
    y0 = HEIGHT - 12
    parts = ['<g class="legend">']
    left = MARGIN_LEFT
    for symbol, label in items:
        parts.append(
            f'<g transform="translate({left},{y0})">{symbol}<text x="24" y="4" {FONT} '
            f'fill="#5b6478">{label}</text></g>'
        )
        left += 30 + 7 * len(label)
    parts.append("</g>")
    return parts
