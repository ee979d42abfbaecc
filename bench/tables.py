"""Markdown tables and cell formats shared by the benchmark reports."""

from __future__ import annotations

from dataclasses import dataclass


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def count_or_num(x: float | None) -> str:
    return str(x) if isinstance(x, int) else num(x)


def mark(ok: bool | None) -> str:
    """A target cell: met, not met, or not measurable."""
    return "-" if ok is None else ("yes" if ok else "NO")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, checked on one figure: `ok` is None when the figure is
    not defined (no reports, no labels of that type)."""

    name: str
    value: float | None
    ok: bool | None


def at_most(figure: str, value: float | None, limit: float) -> Target:
    return Target(f"{figure} <= {limit:g}", value, None if value is None else value <= limit)


def at_least(figure: str, value: float | None, limit: float) -> Target:
    return Target(f"{figure} >= {limit:g}", value, None if value is None else value >= limit)


def targets_table(rows: list[tuple[str, list[Target]]]) -> str:
    """Detectors down, targets across; each cell says met or not, with the figure."""
    if not rows:
        return ""
    header = ["detector"] + [t.name for t in rows[0][1]]
    cells = [
        [name] + [f"{mark(t.ok)} ({count_or_num(t.value)})" for t in targets]
        for name, targets in rows
    ]
    return table(header, cells)


def targets_json(targets: list[Target]) -> dict:
    return {t.name: {"value": t.value, "met": t.ok} for t in targets}
