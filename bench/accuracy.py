"""Accuracy of the detection engine and of three textbook peers, event by event.

    .venv/bin/python bench/accuracy.py [--corpus bench/out/corpus]
        [--nab ../shared/bench-data/nab_daily] [--engine-cmd "..."]
        [--peers naive_z,rolling_iqr,stl_mad] [--only corpus|nab]

Every detector is a command speaking the CLI contract (`{input}` is replaced by the CSV
path); it runs once with --backtest per data set and its JSON lines are scored by
bench/scoring.py. The synthetic corpus is generated with bench/corpus.py defaults when
missing. A detector that fails gets an error row; the others still run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus as corpus_mod  # noqa: E402
from bench import misses  # noqa: E402
from bench.scoring import LABEL_ORDER, MISSED, Label, Report, Score, score  # noqa: E402
from bench.series_io import read_wide, series_spans  # noqa: E402

DEFAULT_ENGINE_CMD = ".venv/bin/python -m anomalies.detection {input} --backtest"
PEERS = ("naive_z", "rolling_iqr", "stl_mad")
REPORT_TYPES = ("drop", "spike", "feature_abandonment", "pattern_change", "seasonal_deviation")
# The targets for the engine on the synthetic corpus, in backtest mode.
TARGET_F1 = 0.85
TARGET_FA_PER_CLEAN_SERIES_YEAR = 0.3
TARGET_DROP_MEDIAN_DELAY_DAYS = 2
TARGET_SLOW_RECALL = 0.70
TARGET_SECONDS_PER_600_SERIES_YEARS = 60


@dataclass
class Run:
    name: str
    command: str
    seconds: float
    reports: list[Report]
    error: str | None = None
    unparsed_lines: int = 0


@dataclass
class DataSet:
    name: str
    series_csv: Path
    labels: list[Label]
    spans: dict
    clean: set[str] | None
    outage: tuple[dt.date, dt.date] | None


def _date(text: str | None) -> dt.date | None:
    return None if text in (None, "") else dt.date.fromisoformat(text)


def read_labels(path: Path) -> list[Label]:
    frame = pd.read_csv(path, dtype=str)
    return [
        Label(r.series_id, _date(r.start), _date(r.end), r.type)
        for r in frame.itertuples(index=False)
    ]


def load_corpus(path: Path) -> DataSet:
    if not (path / "series.csv").exists():
        print(f"generating the corpus into {path} (bench/corpus.py defaults)", file=sys.stderr)
        corpus_mod.write(corpus_mod.generate(), path)
    meta = json.loads((path / "corpus_meta.json").read_text())
    outage = pd.read_csv(path / "outage.csv", dtype=str).iloc[0]
    return DataSet(
        name="corpus",
        series_csv=path / "series.csv",
        labels=read_labels(path / "labels.csv"),
        spans=series_spans(read_wide(path / "series.csv")),
        clean={s["series_id"] for s in meta["series"] if s["clean"]},
        outage=(_date(outage["start"]), _date(outage["end"])),
    )


def load_nab(path: Path) -> DataSet:
    return DataSet(
        name="nab",
        series_csv=path / "series.csv",
        labels=read_labels(path / "labels.csv"),
        spans=series_spans(read_wide(path / "series.csv")),
        clean=None,
        outage=None,
    )


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
                    start=_date(obj["start"]),
                    end=_date(obj.get("end")),
                    detected_at=_date(obj.get("detected_at") or obj["start"]),
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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def summary_table(ds: DataSet, results: list[tuple[Run, Score | None]]) -> str:
    fa_name = "FA/clean series-yr" if ds.clean is not None else "FA/series-yr (all)"
    header = ["detector", "reports", "precision", "recall", "F1", "chance recall"]
    header += ["recall above chance", fa_name]
    if ds.outage is not None:
        header.append("alerts during outage")
    header += ["drop delay median/p90 (d)", "seconds", "series-yr/s"]
    rows = []
    for run, sc in results:
        if sc is None:
            rows.append([run.name, f"error: {run.error}"] + [""] * (len(header) - 2))
            continue
        fa = (
            sc.false_alarms_per_clean_series_year
            if ds.clean is not None
            else sc.false_alarms_per_series_year
        )
        row = [run.name, str(sc.reports), _pct(sc.precision), _pct(sc.recall), _num(sc.f1)]
        row += [_pct(sc.chance_recall), _pct(sc.recall_above_chance), _num(fa)]
        if ds.outage is not None:
            row.append(str(sc.outage_alerts))
        row.append(f"{_num(sc.delay_median('drop'), 1)} / {_num(sc.delay_p90('drop'), 1)}")
        row += [f"{run.seconds:.1f}", f"{sc.series_years / run.seconds:.0f}"]
        rows.append(row)
    return _table(header, rows)


def by_type_table(results: list[tuple[Run, Score | None]], types: list[str]) -> str:
    scored = [(r, s) for r, s in results if s is not None]
    if not scored:
        return ""
    n = scored[0][1].labels_by_type
    header = ["detector"] + [f"{t} (n={n.get(t, 0)}) recall, delay med/p90" for t in types]
    rows = []
    for run, sc in scored:
        cells = [
            f"{_pct(sc.recall_of(t))}, {_num(sc.delay_median(t), 1)}/{_num(sc.delay_p90(t), 1)}"
            for t in types
        ]
        rows.append([run.name] + cells)
    return _table(header, rows)


def confusion_table(sc: Score, types: list[str]) -> str:
    seen = {k for row in sc.confusion.values() for k in row} - {MISSED}
    cols = [t for t in REPORT_TYPES if t in seen] + sorted(seen - set(REPORT_TYPES)) + [MISSED]
    rows = [[t] + [str(sc.confusion.get(t, {}).get(c, 0)) for c in cols] for t in types]
    return _table(["label \\ first matching report"] + cols, rows)


def targets_table(ds: DataSet, results: list[tuple[Run, Score | None]]) -> str:
    """The issue's targets, checked on the corpus; time scaled to 300 series x 2 years."""

    def mark(ok: bool | None) -> str:
        return "-" if ok is None else ("yes" if ok else "NO")

    header = ["detector", f"F1>={TARGET_F1}", f"FA<={TARGET_FA_PER_CLEAN_SERIES_YEAR}"]
    header += [f"drop median<={TARGET_DROP_MEDIAN_DELAY_DAYS}d"]
    header += [f"gradual>={TARGET_SLOW_RECALL:.0%}", f"pattern>={TARGET_SLOW_RECALL:.0%}"]
    header += ["0 outage alerts", f"<{TARGET_SECONDS_PER_600_SERIES_YEARS}s per 600 series-yr"]
    rows = []
    for run, sc in results:
        if sc is None:
            continue
        drop_delay = sc.delay_median("drop")
        grad, pat = sc.recall_of("gradual_decline"), sc.recall_of("pattern_change")
        per600 = run.seconds * 600 / sc.series_years
        rows.append(
            [
                run.name,
                mark(sc.f1 is not None and sc.f1 >= TARGET_F1),
                mark(
                    sc.false_alarms_per_clean_series_year is not None
                    and sc.false_alarms_per_clean_series_year <= TARGET_FA_PER_CLEAN_SERIES_YEAR
                ),
                mark(None if drop_delay is None else drop_delay <= TARGET_DROP_MEDIAN_DELAY_DAYS),
                mark(None if grad is None else grad >= TARGET_SLOW_RECALL),
                mark(None if pat is None else pat >= TARGET_SLOW_RECALL),
                mark(sc.outage_alerts == 0),
                f"{mark(per600 < TARGET_SECONDS_PER_600_SERIES_YEARS)} ({per600:.0f}s)",
            ]
        )
    return _table(header, rows)


def evaluate(ds: DataSet, commands: dict[str, str], timeout: float) -> list:
    results = []
    for name, command in commands.items():
        print(f"[{ds.name}] running {name} ...", file=sys.stderr, flush=True)
        run = run_detector(name, command, ds.series_csv, timeout)
        sc = None
        if run.error is None:
            sc = score(run.reports, ds.labels, ds.spans, clean=ds.clean, outage=ds.outage)
            if run.unparsed_lines:
                print(f"  {name}: {run.unparsed_lines} output lines not reports", file=sys.stderr)
        else:
            print(f"  {name} failed: {run.error}", file=sys.stderr)
        results.append((run, sc))
    return results


def render(ds: DataSet, results: list) -> str:
    types = [t for t in LABEL_ORDER if any(lab.type == t for lab in ds.labels)]
    n_clean = len(ds.clean) if ds.clean is not None else None
    head = f"## {ds.name}: {len(ds.spans)} series"
    head += f" ({n_clean} clean)" if n_clean is not None else ""
    head += f", {len(ds.labels)} labels"
    if ds.outage:
        head += f", outage {ds.outage[0]} .. {ds.outage[1]}"
    parts = [head, summary_table(ds, results), "Recall and delay by label type:"]
    parts.append(by_type_table(results, types))
    if ds.clean is not None:
        parts += ["Targets:", targets_table(ds, results)]
    for run, sc in results:
        if sc is not None:
            parts += [f"Type confusion, {run.name}:", confusion_table(sc, types)]
    for run, sc in results:
        if run.name == "engine" and sc is not None:
            parts += ["Labels the engine missed, and why (bench/misses.py):", misses_table(ds, run)]
    return "\n\n".join(p for p in parts if p)


def misses_table(ds: DataSet, run: Run) -> str:
    wide = read_wide(ds.series_csv)
    rows = []
    for lab in misses.missed(run.reports, ds.labels, wide):
        why, detail = misses.reason(lab, wide)
        rows.append([lab.series_id, f"{lab.start} .. {lab.end}", lab.type, why, detail])
    if not rows:
        return "none"
    counts = {}
    for row in rows:
        counts[row[3]] = counts.get(row[3], 0) + 1
    tally = ", ".join(f"{why}: {n}" for why, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return _table(["series", "label", "type", "reason", "detail"], rows) + f"\n\n{tally}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench/out/corpus")
    parser.add_argument("--nab", type=Path, default=ROOT.parent / "shared/bench-data/nab_daily")
    parser.add_argument("--engine-cmd", default=DEFAULT_ENGINE_CMD)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--only", choices=("corpus", "nab"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per detector run")
    parser.add_argument("--save", type=Path, default=ROOT / "bench/out/accuracy.json")
    args = parser.parse_args(argv)

    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        sys.exit(f"unknown peers {sorted(unknown)}; choose from {', '.join(PEERS)}")
    commands = {"engine": args.engine_cmd} if args.engine_cmd else {}
    peer_cmd = f"{shlex.quote(sys.executable)} bench/peers.py {{name}} {{{{input}}}} --backtest"
    commands |= {p: peer_cmd.format(name=p) for p in peers}

    datasets = []
    if args.only in (None, "corpus"):
        datasets.append(load_corpus(args.corpus))
    if args.only in (None, "nab"):
        datasets.append(load_nab(args.nab))
    saved = {}
    for ds in datasets:
        results = evaluate(ds, commands, args.timeout)
        print(render(ds, results) + "\n", flush=True)
        saved[ds.name] = [
            {
                "detector": run.name,
                "command": run.command,
                "seconds": round(run.seconds, 2),
                "error": run.error,
                "score": None if sc is None else asdict(sc),
            }
            for run, sc in results
        ]
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(saved, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
