"""Inputs that once broke the engine (see regressions/README.md): each keeps running, and a
batch gives every series exactly what the series gives alone."""

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from anomalies.detection import SeriesBatch, detect

from .same_findings import assert_same_findings
from .test_cli import run

INPUTS = sorted((Path(__file__).parent / "regressions").glob("*.csv"))


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_backtest_exits_0(path):
    result = run(str(path), "--backtest")
    assert result.returncode == 0, result.stderr.decode()
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert events, "these inputs all contain anomalies"
    assert {e["direction"] for e in events} <= {"negative", "positive"}


def _batch(frame: pd.DataFrame) -> SeriesBatch:
    wide = frame.pivot(index="series_id", columns="date", values="value")
    ids = tuple(wide.index)
    return SeriesBatch(
        wide.to_numpy(float),
        dt.date.fromisoformat(wide.columns[0]),
        ids,
        tuple(i.split("/", 1)[1] for i in ids),
        tuple(i.split("/", 1)[0] for i in ids),
    )


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.stem)
def test_batch_equals_each_series_alone(path):
    frame = pd.read_csv(path)
    together = detect(_batch(frame), backtest=True).findings
    alone = []
    for _, part in frame.groupby("series_id"):
        alone += detect(_batch(part), backtest=True).findings
    assert_same_findings(together, alone)
