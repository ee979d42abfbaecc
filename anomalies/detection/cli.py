"""`python -m anomalies.detection INPUT.csv [--backtest] [--sensitivity low|medium|high]`

Reads a long CSV (`series_id,date,value`, optionally `group` and `country`; see `io.py`),
runs the engine on it and prints one JSON object per anomaly event on stdout, sorted by
series and start. Without `--backtest` it answers what a daily scan on the file's last date
reports: the events still open that day. With `--backtest` it replays the file day by day,
causally, and prints every event.

Exit status: 0 when the scan ran (with or without findings), 2 for bad input or arguments
(one message per bad line on stderr, never a traceback), 1 for a failure of our own. Set
ANOMALIES_DETECTION_DEBUG=1 to get the traceback of such a failure instead (the tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from .io import InputError, read_series_batch

PROG = "python -m anomalies.detection"
DEBUG_ENV = "ANOMALIES_DETECTION_DEBUG"
SENSITIVITIES = ("low", "medium", "high")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Find anomalies in daily usage series. Prints one JSON object per event.",
    )
    parser.add_argument(
        "input",
        metavar="INPUT.csv",
        help="CSV with the header series_id,date,value; '-' reads standard input",
    )
    parser.add_argument(
        "--backtest",
        action="store_true",
        help="replay the file day by day and print every event, ended ones included",
    )
    parser.add_argument("--sensitivity", choices=SENSITIVITIES, default="medium")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad usage, as argparse does
    debug = bool(os.environ.get(DEBUG_ENV))
    try:
        lines = scan_lines(args.input, backtest=args.backtest, sensitivity=args.sensitivity)
    except ValueError as exc:  # InputError, or the engine rejecting the data
        if debug and not isinstance(exc, InputError):
            traceback.print_exc()
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"{args.input}: {line}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        print(f"{PROG}: internal error: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1

    try:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): point stdout at /dev/null so the interpreter's final
        # flush does not fail with a traceback of its own.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


def scan_lines(path: str, *, backtest: bool, sensitivity: str) -> list[str]:
    """The JSON lines the CLI prints for this file."""
    batch = read_series_batch(sys.stdin.buffer if path == "-" else path)

    # Imported only now, so that input errors are reported even when the engine cannot load.
    from .config import preset
    from .engine import detect

    last_day = batch.day(batch.n_days - 1)
    result = detect(batch, config=preset(sensitivity), backtest=backtest, as_of=last_day)

    findings = result.findings if backtest else [f for f in result.findings if f.end is None]
    findings = sorted(findings, key=lambda f: (f.series_id, f.start))
    # to_json() puts the contract's keys first, in the contract's order.
    return [json.dumps(f.to_json()) + "\n" for f in findings]
