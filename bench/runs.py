"""Running one detector command on one CSV and reading its JSON lines as reports.

A detector is any command line speaking the CLI contract: `{input}` is replaced by the CSV
path, and it prints one JSON object per anomaly event (`series_id`, `start`, `end` or null,
`detected_at`, `type`, ...) on stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.scoring import Label, Report

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    name: str
    command: str
    seconds: float
    reports: list[Report]
    error: str | None = None
    unparsed_lines: int = 0


def parse_date(text: str | None) -> dt.date | None:
    return None if text in (None, "") else dt.date.fromisoformat(text)


def read_labels(path: Path) -> list[Label]:
    frame = pd.read_csv(path, dtype=str)
    return [
        Label(r.series_id, parse_date(r.start), parse_date(r.end), r.type)
        for r in frame.itertuples(index=False)
    ]


def parse_reports(stdout: str) -> tuple[list[Report], int]:
    """Reports from JSON lines; lines that are not a report object are counted, not fatal."""
    reports, bad = [], 0
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            reports.append(
                Report(
                    series_id=obj["series_id"],
                    start=parse_date(obj["start"]),
                    end=parse_date(obj.get("end")),
                    detected_at=parse_date(obj.get("detected_at") or obj["start"]),
                    type=str(obj.get("type", "?")),
                )
            )
        except (ValueError, KeyError, TypeError):
            bad += 1
    return reports, bad


def run_detector(name: str, command: str, input_csv: Path, timeout: float) -> Run:
    cmd = command.format(input=shlex.quote(str(input_csv)))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(  # noqa: S603 - the command line is the benchmark's input
            shlex.split(cmd), cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Run(name, cmd, time.perf_counter() - t0, [], error=str(exc).splitlines()[0])
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        msg = tail[-1] if tail else ""
        return Run(name, cmd, seconds, [], error=f"exit {proc.returncode}: {msg}"[:200])
    reports, bad = parse_reports(proc.stdout)
    return Run(name, cmd, seconds, reports, unparsed_lines=bad)
