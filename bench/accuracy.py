"""Accuracy of the detection engine and of three textbook peers, on every data set in one run.

    .venv/bin/python bench/accuracy.py [--only real|corpus|nab] [--json OUT]
        [--real ../shared/bench-data/real_daily] [--corpus bench/out/corpus]
        [--nab ../shared/bench-data/nab_daily] [--engine-cmd "..."]
        [--peers naive_z,rolling_iqr,stl_mad]

Every detector is a command speaking the CLI contract (`{input}` is replaced by the CSV
path); it runs once with --backtest per data set and its JSON lines are scored: on
real_daily by bench/real_daily.py (alerts on the untouched series, attributed to failure
classes; precision, recall and onset delay on the injected ones), on the synthetic corpus
and NAB by bench/scoring.py. On the corpus the engine also runs on the file cut at two days
(bench/causality.py): what it reported up to a day may not change with later data. The
corpus is generated with bench/corpus.py defaults when missing. A detector that fails gets
an error row; the others still run. `--json OUT` writes every figure, for
bench/compare.py. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anomalies.detection.vocabulary import AnomalyType  # noqa: E402
from bench import causality, misses, real_daily  # noqa: E402
from bench import corpus as corpus_mod  # noqa: E402
from bench.runs import Run, parse_date, read_labels, run_detector  # noqa: E402
from bench.scoring import LABEL_ORDER, MISSED, Label, Score, score  # noqa: E402
from bench.series_io import read_wide, series_spans  # noqa: E402
from bench.tables import (  # noqa: E402
    Target,
    at_least,
    at_most,
    num,
    pct,
    table,
    targets_json,
    targets_table,
)

DEFAULT_ENGINE_CMD = ".venv/bin/python -m anomalies.detection {input} --backtest"
PEERS = ("naive_z", "rolling_iqr", "stl_mad")
# The type confusion table's columns: the engine's types, then any other detector's.
REPORT_TYPES = tuple(AnomalyType)
# The targets for the engine on the synthetic corpus, in backtest mode.
TARGET_F1 = 0.90
TARGET_FA_PER_CLEAN_SERIES_YEAR = 0.2
TARGET_DROP_MEDIAN_DELAY_DAYS = 2
TARGET_SLOW_RECALL = 0.70
TARGET_SECONDS_PER_600_SERIES_YEARS = 60
# The causality check cuts the corpus this many days before its end, and on the outage's
# last day: a rule that looks across the portfolio is where a peek at tomorrow would hide.
CAUSALITY_CUT_DAYS_BEFORE_END = 120


@dataclass
class DataSet:
    name: str
    series_csv: Path
    labels: list[Label]
    spans: dict
    clean: set[str] | None
    outage: tuple[dt.date, dt.date] | None


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
        outage=(parse_date(outage["start"]), parse_date(outage["end"])),
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
        row = [run.name, str(sc.reports), pct(sc.precision), pct(sc.recall), num(sc.f1)]
        row += [pct(sc.chance_recall), pct(sc.recall_above_chance), num(fa)]
        if ds.outage is not None:
            row.append(str(sc.outage_alerts))
        drop = AnomalyType.DROP
        row.append(f"{num(sc.delay_median(drop), 1)} / {num(sc.delay_p90(drop), 1)}")
        row += [f"{run.seconds:.1f}", f"{sc.series_years / run.seconds:.0f}"]
        rows.append(row)
    return table(header, rows)


def by_type_table(results: list[tuple[Run, Score | None]], types: list[str]) -> str:
    scored = [(r, s) for r, s in results if s is not None]
    if not scored:
        return ""
    n = scored[0][1].labels_by_type
    header = ["detector"] + [f"{t} (n={n.get(t, 0)}) recall, delay med/p90" for t in types]
    rows = []
    for run, sc in scored:
        cells = [
            f"{pct(sc.recall_of(t))}, {num(sc.delay_median(t), 1)}/{num(sc.delay_p90(t), 1)}"
            for t in types
        ]
        rows.append([run.name] + cells)
    return table(header, rows)


def confusion_table(sc: Score, types: list[str]) -> str:
    seen = {k for row in sc.confusion.values() for k in row} - {MISSED}
    cols = [t for t in REPORT_TYPES if t in seen] + sorted(seen - set(REPORT_TYPES)) + [MISSED]
    rows = [[t] + [str(sc.confusion.get(t, {}).get(c, 0)) for c in cols] for t in types]
    return table(["label \\ first matching report"] + cols, rows)


def shared_data() -> Path:
    """`../shared/bench-data` from the repository root; from a git worktree kept deeper
    (say /work/wt/<name>), the nearest such folder above it."""
    for folder in ROOT.parents:
        if (folder / "shared/bench-data").is_dir():
            return folder / "shared/bench-data"
    return ROOT.parent / "shared/bench-data"


def corpus_targets(
    run: Run, sc: Score, checks: list[causality.CutCheck] | None = None
) -> list[Target]:
    """The issue's targets on the corpus; time scaled to 600 series-years (300 series x 2
    years); causality only for the detector that was cut (the engine)."""
    mismatches = None
    if checks:
        failed = any(c.run.error for c in checks)
        mismatches = None if failed else sum(len(c.mismatches) for c in checks)
    return [
        at_least("F1", sc.f1, TARGET_F1),
        at_most(
            "FA/clean series-yr",
            sc.false_alarms_per_clean_series_year,
            TARGET_FA_PER_CLEAN_SERIES_YEAR,
        ),
        at_most(
            "drop delay median (d)",
            sc.delay_median(AnomalyType.DROP),
            TARGET_DROP_MEDIAN_DELAY_DAYS,
        ),
        at_least("gradual recall", sc.recall_of(AnomalyType.GRADUAL_DECLINE), TARGET_SLOW_RECALL),
        at_least("pattern recall", sc.recall_of(AnomalyType.PATTERN_CHANGE), TARGET_SLOW_RECALL),
        at_most("outage alerts", sc.outage_alerts, 0),
        at_most("causality mismatches", mismatches, 0),
        at_most(
            "s per 600 series-yr",
            run.seconds * 600 / sc.series_years,
            TARGET_SECONDS_PER_600_SERIES_YEARS,
        ),
    ]


def run_all(label: str, csv: Path, commands: dict[str, str], timeout: float) -> list[Run]:
    runs = []
    for name, command in commands.items():
        print(f"[{label}] running {name} ...", file=sys.stderr, flush=True)
        run = run_detector(name, command, csv, timeout)
        if run.error:
            print(f"  {name} failed: {run.error}", file=sys.stderr)
        elif run.unparsed_lines:
            print(f"  {name}: {run.unparsed_lines} output lines not reports", file=sys.stderr)
        runs.append(run)
    return runs


def evaluate(ds: DataSet, commands: dict[str, str], timeout: float) -> list:
    results = []
    for run in run_all(ds.name, ds.series_csv, commands, timeout):
        sc = None
        if run.error is None:
            sc = score(run.reports, ds.labels, ds.spans, clean=ds.clean, outage=ds.outage)
        results.append((run, sc))
    return results


def render(ds: DataSet, results: list, targets: list[tuple[str, list[Target]]]) -> str:
    types = [t for t in LABEL_ORDER if any(lab.type == t for lab in ds.labels)]
    n_clean = len(ds.clean) if ds.clean is not None else None
    head = f"## {ds.name}: {len(ds.spans)} series"
    head += f" ({n_clean} clean)" if n_clean is not None else ""
    head += f", {len(ds.labels)} labels"
    if ds.outage:
        head += f", outage {ds.outage[0]} .. {ds.outage[1]}"
    parts = [head, summary_table(ds, results), "Recall and delay by label type:"]
    parts.append(by_type_table(results, types))
    if targets:
        parts += ["Targets:", targets_table(targets)]
    for run, sc in results:
        if sc is not None:
            parts += [f"Type confusion, {run.name}:", confusion_table(sc, types)]
    for run, sc in results:
        if run.name == "engine" and sc is not None:
            why = misses.explain(run.reports, ds.labels, read_wide(ds.series_csv))
            parts += ["Labels the engine missed, and why (bench/misses.py):", why]
    return "\n\n".join(p for p in parts if p)


def entry(run: Run, figures: dict | None) -> dict:
    """One detector's figures in the JSON file, with its time and error."""
    return {"seconds": round(run.seconds, 2), "error": run.error, **(figures or {})}


def real_section(path: Path, commands: dict[str, str], timeout: float) -> dict:
    """Runs and prints real_daily; returns its figures."""
    data = real_daily.load(path)
    untouched = [
        (run, None if run.error else real_daily.untouched_score(run.reports, data))
        for run in run_all("real/untouched", data.untouched_csv, commands, timeout)
    ]
    print(real_daily.render_untouched(data, untouched) + "\n", flush=True)
    injected = [
        (run, None if run.error else real_daily.injected_score(run.reports, data))
        for run in run_all("real/injected", data.injected_csv, commands, timeout)
    ]
    print(real_daily.render_injected(data, injected) + "\n", flush=True)
    targets = [
        (run.name, real_daily.targets(u, inj))
        for (run, u), (_, inj) in zip(untouched, injected, strict=True)
    ]
    print("## real_daily targets\n\n" + targets_table(targets) + "\n", flush=True)
    figures = {
        "real_untouched": {
            "series_years": real_daily.series_years(sum(data.rows.values())),
            "detectors": {r.name: entry(r, u and u.figures()) for r, u in untouched},
        },
        "real_injected": {
            "detectors": {r.name: entry(r, i and i.figures()) for r, i in injected},
        },
        "real_targets": {name: targets_json(t) for name, t in targets},
    }
    for run, u in untouched:
        if run.name == "engine" and u is not None:
            figures["real_untouched"]["engine_by_series"] = real_daily.series_rates(u, data)
    return figures


def corpus_section(ds: DataSet, commands: dict[str, str], timeout: float) -> tuple[dict, list]:
    """Runs, cuts and prints the corpus; returns its figures and its detailed results."""
    results = evaluate(ds, commands, timeout)
    checks = []
    engine = next((run for run, _ in results if run.name == "engine" and not run.error), None)
    if engine is not None:
        last = max(span[1] for span in ds.spans.values())
        cuts = sorted({last - dt.timedelta(days=CAUSALITY_CUT_DAYS_BEFORE_END), ds.outage[1]})
        print(f"[corpus] causality: engine cut at {', '.join(map(str, cuts))}", file=sys.stderr)
        checks = causality.check(
            "engine",
            commands["engine"],
            ds.series_csv,
            engine.reports,
            cuts,
            ROOT / "bench/out/causality",
            timeout,
        )
    targets = [
        (run.name, corpus_targets(run, sc, checks if run.name == "engine" else None))
        for run, sc in results
        if sc is not None
    ]
    text = render(ds, results, targets)
    if checks:
        text += "\n\nCausality (bench/causality.py): the engine on the corpus cut after a day\n\n"
        text += causality.render(checks)
    print(text + "\n", flush=True)
    figures = {
        "detectors": {run.name: entry(run, sc and sc.figures()) for run, sc in results},
        "causality": {
            str(c.cut): {
                "compared": c.compared,
                "mismatches": None if c.run.error else len(c.mismatches),
            }
            for c in checks
        },
        "targets": {name: targets_json(t) for name, t in targets},
    }
    return figures, results


def nab_section(ds: DataSet, commands: dict[str, str], timeout: float) -> tuple[dict, list]:
    results = evaluate(ds, commands, timeout)
    print(render(ds, results, []) + "\n", flush=True)
    return {
        "detectors": {run.name: entry(run, sc and sc.figures()) for run, sc in results}
    }, results


def detail(results: list) -> list[dict]:
    return [
        {
            "detector": run.name,
            "command": run.command,
            "seconds": round(run.seconds, 2),
            "error": run.error,
            "score": None if sc is None else asdict(sc),
        }
        for run, sc in results
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = shared_data()
    parser.add_argument("--real", type=Path, default=shared / "real_daily")
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench/out/corpus")
    parser.add_argument("--nab", type=Path, default=shared / "nab_daily")
    parser.add_argument("--engine-cmd", default=DEFAULT_ENGINE_CMD)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--only", choices=("real", "corpus", "nab"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per detector run")
    parser.add_argument("--save", type=Path, default=ROOT / "bench/out/accuracy.json")
    parser.add_argument("--json", type=Path, help="write every figure here (bench/compare.py)")
    args = parser.parse_args(argv)

    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        sys.exit(f"unknown peers {sorted(unknown)}; choose from {', '.join(PEERS)}")
    commands = {"engine": args.engine_cmd} if args.engine_cmd else {}
    peer_cmd = f"{shlex.quote(sys.executable)} bench/peers.py {{name}} {{{{input}}}} --backtest"
    commands |= {p: peer_cmd.format(name=p) for p in peers}

    figures: dict = {"commands": commands}
    saved = {}
    if args.only in (None, "real"):
        figures |= real_section(args.real, commands, args.timeout)
    if args.only in (None, "corpus"):
        figures["corpus"], saved["corpus"] = corpus_section(
            load_corpus(args.corpus), commands, args.timeout
        )
    if args.only in (None, "nab"):
        figures["nab"], saved["nab"] = nab_section(load_nab(args.nab), commands, args.timeout)
    for path, content in (
        (args.save, {k: detail(v) for k, v in saved.items()}),
        (args.json, figures),
    ):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
