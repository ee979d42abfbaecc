"""Two runs of bench/accuracy.py side by side: every figure, before -> after.

    .venv/bin/python bench/compare.py BEFORE.json AFTER.json [--changed]

The files are what `accuracy.py --json OUT` writes. A figure is named by its path in the
file (`real_untouched.detectors.engine.alerts_per_series_year`); one only in one file shows
`absent` on the other side. `--changed` leaves out the figures that did not change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ABSENT = "absent"


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    """Leaves of nested dicts (and lists) by dotted path, in the file's order."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    out: dict[str, object] = {}
    for key, value in items:
        out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def show(value: object) -> str:
    if isinstance(value, bool):
        return "met" if value else "NOT met"
    if isinstance(value, float):
        return f"{value:.4g}"
    return ABSENT if value is ABSENT else "-" if value is None else str(value)


def change(before: object, after: object) -> str:
    numbers = (int, float)
    if isinstance(before, bool) or isinstance(after, bool):
        return ""
    if isinstance(before, numbers) and isinstance(after, numbers) and before != after:
        return f"{after - before:+.4g}"
    return ""


def rows(before: dict, after: dict, *, changed_only: bool = False) -> list[tuple[str, ...]]:
    a, b = flatten(before), flatten(after)
    out = []
    for path in list(a) + [p for p in b if p not in a]:
        x, y = a.get(path, ABSENT), b.get(path, ABSENT)
        if changed_only and x == y:
            continue
        out.append((path, show(x), show(y), change(x, y)))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--changed", action="store_true", help="only figures that changed")
    args = parser.parse_args(argv)
    found = rows(
        json.loads(args.before.read_text()),
        json.loads(args.after.read_text()),
        changed_only=args.changed,
    )
    width = max((len(r[0]) for r in found), default=0)
    for path, x, y, delta in found:
        sys.stdout.write(f"{path:<{width}}  {x} -> {y}" + (f"  ({delta})" if delta else "") + "\n")


if __name__ == "__main__":
    main()
