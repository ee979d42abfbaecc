"""Usage charts as inline SVG, drawn on the server: no JavaScript, readable in an email or a
printout, and testable as a string. Hovering a day shows its values through the day's SVG
`<title>` (the browser's own tooltip), so the page needs no script for it.

`usage_chart_svg` is a pure function: lists in, markup out. Every piece of text is escaped, so
the result can be marked safe in a template.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .detection.vocabulary import Direction, Severity

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
# An anomaly's shading and day markers, by the word its badge shows: a loss's severity, or
# "positive" for a gain (anomalies.views.portfolio.anomaly_tier). Info is a shallow loss.
SEVERITY_COLORS = {
    Severity.CRITICAL: "#f04438",
    Severity.WARNING: "#f79009",
    Direction.POSITIVE: "#17b26a",
    Severity.INFO: "#667085",
}
SHADE_OPACITY = 0.15
# Overlapping events: the worse one's marker is drawn last, on top.
_DRAW_ORDER = (Direction.POSITIVE, Severity.INFO, Severity.WARNING, Severity.CRITICAL)
LEGEND_GAP = 34  # the symbol and the space after an entry
LEGEND_CHAR_W = 5.5
LEGEND_EDGE = 10  # the least room kept at the left edge
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
    (start, end or None while ongoing, tier), the tier being a severity or "positive" for a
    gain: each is shaded from its first day's slot to its last day's (an ongoing one to the
    chart's last day), with a marker on every flagged day. `holidays` outside the window are
    ignored. `unit` labels the y axis, e.g. "per day". Each day carries a `<title>` with its
    date, actual and expected values and normal range; the legend names only what is drawn.
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
    events = _events_in_window(days, anomalies)
    parts += _anomaly_rects(events, slot)
    parts += _y_axis(y_max, step, y, unit)
    bands = _band_polygons(low_v, high_v, x, y)
    parts += [
        f'<polygon class="band" fill="{BAND_COLOR}" fill-opacity="0.6" points="{points}"/>'
        for points in bands
    ]
    expected_paths = _segments(expected_v, x, y)
    for d in expected_paths:
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
    parts += _flag_markers(events, actual_v, x, y)
    parts += _x_axis(days, x)
    parts += _missing_markers(actual_v, x)
    shown_holidays = _holidays_in_window(days, holidays)
    parts += _holiday_markers(days, shown_holidays, x)
    parts += _day_hovers(days, actual_v, expected_v, low_v, high_v, events, shown_holidays, slot)
    parts += _legend(
        expected=bool(expected_paths),
        band=bool(bands),
        tiers={event.tier for event in events},
        holiday=bool(shown_holidays),
        missing=any(v is None for v in actual_v),
    )
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


@dataclass(frozen=True)
class _Event:
    """An anomaly as drawn: the indexes of its first and last day inside the window, and its
    tier (a key of SEVERITY_COLORS)."""

    first: int
    last: int
    tier: str
    title: str

    @property
    def color(self) -> str:
        return SEVERITY_COLORS[self.tier]


def _events_in_window(days: list[dt.date], anomalies) -> list[_Event]:
    """The anomalies that cover some day of the window, each clipped to the window."""
    first, last = days[0], days[-1]
    events = []
    for start, end, tier in anomalies:
        ongoing = not end
        start, end = _as_date(start), _as_date(end) if end else last
        if end < first or start > last:
            continue
        # A word the chart has no colour for is drawn (and named) as a warning.
        tier = tier if tier in SEVERITY_COLORS else Severity.WARNING
        # The days it covers, ongoing ones up to the chart's last day: "Nov 26 – Nov 30".
        shown = min(end, last)
        count = (shown - start).days + 1
        span = (
            f"{start:%b} {start.day} – {shown:%b} {shown.day}{', ongoing' if ongoing else ''} "
            f"({count} day{'s' if count != 1 else ''})"
        )
        events.append(
            _Event(
                first=(max(start, first) - first).days,
                last=(shown - first).days,
                tier=str(tier),
                title=f"{tier} anomaly {span}",
            )
        )
    return events


def _anomaly_rects(events: list[_Event], slot: float) -> list[str]:
    """Each event shaded from its first day's slot start to its last day's slot end."""
    rects = []
    for event in events:
        left = MARGIN_LEFT + event.first * slot
        right = MARGIN_LEFT + (event.last + 1) * slot
        rects.append(
            f'<rect class="anomaly" x="{left:.2f}" y="{MARGIN_TOP}" width="{right - left:.2f}" '
            f'height="{PLOT_H}" fill="{event.color}" fill-opacity="{SHADE_OPACITY}">'
            f"<title>{escape(event.title)}</title></rect>"
        )
    return rects


def _flag_markers(events: list[_Event], actual: list[float | None], x, y) -> list[str]:
    """A dot in the event's colour on every flagged day, on the actual line (on the axis for
    a day without a value). The worse events' are drawn last, on top of the others'."""
    rank = {tier: k for k, tier in enumerate(_DRAW_ORDER)}
    markers = []
    for event in sorted(events, key=lambda event: rank.get(event.tier, len(rank))):
        for i in range(event.first, event.last + 1):
            value = actual[i]
            cy = y(value) if value is not None else PLOT_BOTTOM
            markers.append(
                f'<circle class="flag flag-{event.tier}" cx="{x(i):.1f}" cy="{cy:.1f}" '
                f'r="3.5" fill="{event.color}" stroke="#fff" stroke-width="1"/>'
            )
    return markers


def _day_hovers(days, actual, expected, low, high, events, holidays, slot: float) -> list[str]:
    """An invisible column over each day's slot, drawn last so it is what the pointer finds,
    whose `<title>` the browser shows as the day's tooltip: date, actual, expected, normal
    range, and the anomaly or holiday on it."""
    holiday_set = set(holidays)
    parts = [f'<g class="days" fill="{ACTUAL_COLOR}" fill-opacity="0">']
    for i, day in enumerate(days):
        lines = [
            f"{day:%a %b} {day.day}, {day.year}" + (" (holiday)" if day in holiday_set else ""),
            f"actual {_value_text(actual[i])}",
            f"expected {_value_text(expected[i])}",
        ]
        if low[i] is not None and high[i] is not None:
            lines.append(f"normal range {_value_text(low[i])}–{_value_text(high[i])}")
        lines += [f"{e.tier} anomaly" for e in reversed(events) if e.first <= i <= e.last]
        parts.append(
            f'<rect x="{MARGIN_LEFT + i * slot:.2f}" y="{MARGIN_TOP}" width="{slot:.2f}" '
            f'height="{PLOT_H}"><title>{escape(chr(10).join(lines))}</title></rect>'
        )
    parts.append("</g>")
    return parts


def _value_text(value: float | None) -> str:
    """A day's value as the tooltip writes it: 20,123.5; 28; "no data"."""
    if value is None:
        return "no data"
    return f"{value:,.1f}".removesuffix(".0")


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


def _holidays_in_window(days: list[dt.date], holidays) -> list[dt.date]:
    first, last = days[0], days[-1]
    return [day for day in sorted({_as_date(h) for h in holidays}) if first <= day <= last]


def _holiday_markers(days: list[dt.date], holidays: list[dt.date], x) -> list[str]:
    return [
        f'<path class="holiday" d="M{x((day - days[0]).days):.1f},{PLOT_BOTTOM} l-4,7 h8 z" '
        f'fill="{HOLIDAY_COLOR}"><title>holiday {day:%b} {day.day}</title></path>'
        for day in holidays
    ]


def _legend(
    *, expected: bool, band: bool, tiers: set[str], holiday: bool, missing: bool
) -> list[str]:
    """What this chart draws, and only that: every colour on it has its entry."""
    items = [
        (
            f'<line x1="0" x2="18" y1="0" y2="0" stroke="{ACTUAL_COLOR}" stroke-width="2"/>',
            "actual",
        )
    ]
    if expected:
        items.append(
            (
                f'<line x1="0" x2="18" y1="0" y2="0" stroke="{EXPECTED_COLOR}" '
                'stroke-width="1.5" stroke-dasharray="5 4"/>',
                "expected",
            )
        )
    if band:
        items.append(
            (f'<rect x="0" y="-5" width="18" height="10" fill="{BAND_COLOR}"/>', "normal range")
        )
    # Losses worst first, then gains; the swatch is the shading with a day's marker.
    for tier in reversed(_DRAW_ORDER):
        if tier in tiers:
            color = SEVERITY_COLORS[tier]
            items.append(
                (
                    f'<rect x="0" y="-5" width="18" height="10" fill="{color}" '
                    f'fill-opacity="{SHADE_OPACITY}"/><circle cx="9" cy="0" r="3" '
                    f'fill="{color}"/>',
                    tier.label.lower(),
                )
            )
    if holiday:
        items.append((f'<path d="M9,-5 l-4,7 h8 z" fill="{HOLIDAY_COLOR}"/>', "holiday"))
    if missing:
        items.append(
            (f'<rect x="7" y="-2" width="4" height="4" fill="{MISSING_COLOR}"/>', "no data")
        )
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
    # About 5.5 px a character at 11 px. Under the plot, unless a long legend (every tier,
    # holidays and gaps) needs the room under the y axis too.
    widths = [LEGEND_GAP + LEGEND_CHAR_W * len(label) for _, label in items]
    # (The last entry's gap is the room kept at the right edge.)
    overflow = MARGIN_LEFT + sum(widths) - WIDTH
    left = MARGIN_LEFT - max(0.0, min(overflow, MARGIN_LEFT - LEGEND_EDGE))
    for (symbol, label), width in zip(items, widths, strict=True):
        parts.append(
            f'<g transform="translate({left:g},{y0})">{symbol}<text x="24" y="4" {FONT} '
            f'fill="#5b6478">{label}</text></g>'
        )
        left += width
    parts.append("</g>")
    return parts
