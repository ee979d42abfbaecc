"""The insights page's charts as inline SVG drawn on the server (no JavaScript): per anomaly
type, how often churn/contraction and expansion followed it against the base rate; and a
sparkline of weekly precision.

Pure functions: plain values in, markup out; every piece of text is escaped, so the result
can be marked safe in a template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .insights import Rate

WIDTH = 720
LABEL_W = 170  # the row labels on the left
PANEL_GAP = 40  # room for the last tick label of the left panel
MARGIN_RIGHT = 22  # and of the right one
PANEL_W = (WIDTH - LABEL_W - PANEL_GAP - MARGIN_RIGHT) // 2
TOP = 30  # the panel titles
ROW_H = 34
BAR_H = 10
AXIS_H = 22
LEGEND_H = 22
WITH_COLOR = "#3451b2"
BASE_COLOR = "#98a2b3"
WHISKER_COLOR = "#1d2433"
SMALL_OPACITY = "0.4"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'

SPARK_W = 180
SPARK_H = 32
SPARK_PAD = 3


@dataclass(frozen=True)
class ChartRow:
    """One bar group: its label, the with/base rates of the two outcomes, and whether the
    counts are too small to mean anything (drawn faded)."""

    label: str
    loss: Rate
    loss_base: Rate
    gain: Rate
    gain_base: Rate
    small_sample: bool


def outcome_rates_svg(*, title: str, rows: Sequence[ChartRow], window_days: int) -> str:
    """Two panels side by side, "churn or contraction" and "expansion" within the window:
    for each row a bar of the rate after the anomaly and one of the base rate, each with its
    95 % interval as a whisker. One x scale for both panels, from 0 to the largest upper
    bound rounded up to a tenth."""
    height = TOP + ROW_H * max(1, len(rows)) + AXIS_H + LEGEND_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="insights-chart">',
        f"<title>{escape(title)}</title>",
    ]
    highs = [
        r.high
        for row in rows
        for r in (row.loss, row.loss_base, row.gain, row.gain_base)
        if r.high is not None
    ]
    x_max = max(0.1, math.ceil(max(highs, default=0.1) * 10) / 10)
    panels = (
        (f"Churn or contraction within {window_days} days", "loss"),
        (f"Expansion within {window_days} days", "gain"),
    )
    for index, (panel_title, outcome) in enumerate(panels):
        left = LABEL_W + index * (PANEL_W + PANEL_GAP)

        def x(value: float, left=left) -> float:
            return left + PANEL_W * value / x_max

        parts.append(
            f'<text x="{left}" y="14" {FONT} font-weight="600">{escape(panel_title)}</text>'
        )
        parts += _axis(x, x_max, top=TOP - 6, bottom=TOP + ROW_H * max(1, len(rows)))
        for i, row in enumerate(rows):
            y = TOP + i * ROW_H
            with_, base = getattr(row, outcome), getattr(row, f"{outcome}_base")
            opacity = f' opacity="{SMALL_OPACITY}"' if row.small_sample else ""
            parts.append(f"<g{opacity}>")
            parts += _bar(x, y + 4, with_, WITH_COLOR, "after the anomaly")
            parts += _bar(x, y + 4 + BAR_H + 2, base, BASE_COLOR, "base rate")
            parts.append("</g>")
    for i, row in enumerate(rows):
        y = TOP + i * ROW_H + BAR_H + 6
        fill = ' fill="#5b6478"' if row.small_sample else ""
        note = " (few)" if row.small_sample else ""
        parts.append(f'<text x="0" y="{y}" {FONT}{fill}>{escape(row.label + note)}</text>')
    parts += _legend(height)
    if not rows:
        parts.append(f'<text x="{LABEL_W}" y="{TOP + 16}" {FONT}>No anomalies of this type.</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bar(x, y: float, r: Rate, color: str, what: str) -> list[str]:
    if r.value is None:
        return [f'<text x="{x(0) + 2:.1f}" y="{y + BAR_H - 1}" {FONT} fill="#5b6478">n/a</text>']
    tip = f"{what}: {r.events}/{r.total} = {r.value:.0%} (95 % CI {r.low:.0%}–{r.high:.0%})"
    width = max(x(r.value) - x(0), 1.0)
    mid = y + BAR_H / 2
    return [
        f'<rect x="{x(0):.1f}" y="{y}" width="{width:.1f}" height="{BAR_H}" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>",
        f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{mid}" y2="{mid}" '
        f'stroke="{WHISKER_COLOR}" stroke-width="1"/>',
        f'<line x1="{x(r.high):.1f}" x2="{x(r.high):.1f}" y1="{y + 2}" y2="{y + BAR_H - 2}" '
        f'stroke="{WHISKER_COLOR}" stroke-width="1"/>',
    ]


def _axis(x, x_max: float, *, top: float, bottom: float) -> list[str]:
    parts = []
    steps = round(x_max * 10)
    every = 1 if steps <= 5 else 2 if steps <= 10 else 5
    for tick in range(0, steps + 1, every):
        value = tick / 10
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top}" y2="{bottom}" '
            'stroke="#e3e6ee" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x(value):.1f}" y="{bottom + 14}" {FONT} text-anchor="middle" '
            f'fill="#5b6478">{value:.0%}</text>'
        )
    return parts


def _legend(height: int) -> list[str]:
    y = height - 6
    items = ((WITH_COLOR, "after the anomaly"), (BASE_COLOR, "base rate (accounts without)"))
    parts, left = [], LABEL_W
    for color, text in items:
        parts.append(f'<rect x="{left}" y="{y - 8}" width="10" height="8" fill="{color}"/>')
        parts.append(f'<text x="{left + 14}" y="{y}" {FONT}>{escape(text)}</text>')
        left += 14 + 7 * len(text)
    parts.append(f'<text x="{left}" y="{y}" {FONT} fill="#5b6478">whiskers: 95 % interval</text>')
    return parts


def sparkline_svg(*, values: Sequence[float | None], label: str) -> str:
    """Weekly values between 0 and 1 as a line; a week without a value breaks it (a lone week
    is a dot). Empty when no week has a value."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return ""
    n = max(1, len(values) - 1)

    def x(i: int) -> float:
        return SPARK_PAD + (SPARK_W - 2 * SPARK_PAD) * i / n

    def y(v: float) -> float:
        return SPARK_PAD + (SPARK_H - 2 * SPARK_PAD) * (1 - v)

    runs, current = [], []
    for i, v in enumerate(values):
        if v is None:
            runs.append(current)
            current = []
        else:
            current.append((i, v))
    runs.append(current)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SPARK_W} {SPARK_H}" '
        f'width="{SPARK_W}" height="{SPARK_H}" role="img" aria-label="{escape(label)}" '
        'class="sparkline">',
        f"<title>{escape(label)}</title>",
        f'<line x1="0" x2="{SPARK_W}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#e3e6ee"/>',
        f'<line x1="0" x2="{SPARK_W}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#e3e6ee"/>',
    ]
    for run in runs:
        if len(run) == 1:
            (i, v) = run[0]
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="1.8" fill="{WITH_COLOR}"/>')
        elif run:
            path = " L".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            parts.append(
                f'<path d="M{path}" fill="none" stroke="{WITH_COLOR}" stroke-width="1.5"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
