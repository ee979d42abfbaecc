"""The CLI as other tools run it: `python -m anomalies.detection`, in a fresh process."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anomalies.detection import cli
from anomalies.detection.types import CONTRACT_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[3]
HEADER = "series_id,date,value"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # A failure of our own then shows its traceback here instead of one polite line.
    env[cli.DEBUG_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-m", "anomalies.detection", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def write(tmp_path, text: str | bytes) -> str:
    path = tmp_path / "input.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


# A few of each kind; test_io.py has the full table.
@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "line 1: the file is empty", id="empty"),
        pytest.param("series_id,value\na,1\n", "line 1: missing column date", id="no-date"),
        pytest.param(
            f"{HEADER}\na,2024-01-01,1\na,01/02/2024,1\n",
            "line 3: date '01/02/2024' is not in",
            id="bad-date",
        ),
        pytest.param(f"{HEADER}\na,2024-01-01,-1\n", "line 2: value '-1' is negative", id="neg"),
        pytest.param(f"{HEADER}\na,2024-01-01,inf\n", "line 2: value 'inf' is not", id="inf"),
        pytest.param(
            f"{HEADER}\na,2024-01-01,1\n".encode() + b"\xe9,2024-01-01,1\n",
            "line 3: not valid UTF-8",
            id="latin-1",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_line(tmp_path, content, message):
    path = write(tmp_path, content)
    result = run(path)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert f"{path}: {message}" in stderr
    assert "Traceback" not in stderr
    assert result.stdout == b""


def test_duplicates_name_both_lines(tmp_path):
    path = write(tmp_path, f"{HEADER}\na,2024-01-01,1\nb,2024-01-01,1\na,2024-01-01,2\n")
    result = run(path)
    assert result.returncode == 2
    assert result.stderr.decode() == f"{path}: line 4: series 'a' on 2024-01-01 repeats line 2\n"


def test_a_missing_file_exits_2(tmp_path):
    result = run(str(tmp_path / "nope.csv"))
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "cannot read the file: No such file or directory" in stderr
    assert "Traceback" not in stderr


def test_bad_input_on_stdin_exits_2():
    result = run("-", stdin=f"{HEADER}\na,2024-01-01,x\n".encode())
    assert result.returncode == 2
    assert "-: line 2: value 'x' is not a number" in result.stderr.decode()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["input.csv", "--sensitivity", "extreme"], id="bad-sensitivity"),
        pytest.param(["input.csv", "--sensitivity"], id="sensitivity-without-value"),
        pytest.param([], id="no-input"),
        pytest.param(["input.csv", "--verbose"], id="unknown-option"),
    ],
)
def test_bad_arguments_exit_2_with_usage(args):
    result = run(*args)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.startswith("usage: python -m anomalies.detection")
    assert "Traceback" not in stderr


# In-process: the error boundary itself.


def test_an_unexpected_error_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    def broken(source):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(cli, "read_series_batch", broken)
    path = write(tmp_path, f"{HEADER}\na,2024-01-01,1\n")

    assert cli.main([path]) == 1
    captured = capsys.readouterr()
    assert captured.err == "python -m anomalies.detection: internal error: RuntimeError: boom\n"
    assert captured.out == ""


def test_the_debug_switch_lets_an_unexpected_error_through(tmp_path, monkeypatch):
    def broken(source):
        raise RuntimeError("boom")

    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    monkeypatch.setattr(cli, "read_series_batch", broken)
    path = write(tmp_path, f"{HEADER}\na,2024-01-01,1\n")

    with pytest.raises(RuntimeError, match="boom"):
        cli.main([path])


# With the engine: what the CLI prints.


def series_csv(series: dict[str, np.ndarray], start=dt.date(2024, 1, 1)) -> str:
    rows = [HEADER]
    for series_id, values in series.items():
        for offset, value in enumerate(values):
            day = start + dt.timedelta(days=offset)
            rows.append(f"{series_id},{day:%Y-%m-%d},{'' if np.isnan(value) else f'{value:.1f}'}")
    return "\n".join(rows) + "\n"


def flat(n_days: int, seed: int) -> np.ndarray:
    return 1000.0 + np.random.default_rng(seed).normal(0.0, 25.0, n_days)


@pytest.fixture
def engine():
    pytest.importorskip("anomalies.detection.engine")
    pytest.importorskip("anomalies.detection.config")


def findings(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_an_ongoing_drop_is_one_open_finding(engine, tmp_path):
    values = flat(120, seed=1)
    values[-6:] = 300.0
    path = write(tmp_path, series_csv({"acme/feature:reports": values}))

    (finding,) = findings(run(path))

    first_low_day = dt.date(2024, 1, 1) + dt.timedelta(days=114)
    assert list(finding)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    assert finding["series_id"] == "acme/feature:reports"
    assert finding["type"] == "drop"
    assert finding["direction"] == "negative"
    assert finding["start"] == first_low_day.isoformat()
    assert finding["end"] is None
    assert finding["actual"] == pytest.approx(300.0, rel=0.05)
    assert finding["baseline"] == pytest.approx(1000.0, rel=0.05)
    assert finding["deviation_percent"] < -50


def test_a_clean_series_prints_nothing(engine, tmp_path):
    path = write(tmp_path, series_csv({"acme/logins": flat(120, seed=2)}))
    for args in ([], ["--backtest"], ["--sensitivity", "high"]):
        assert findings(run(path, *args)) == []


def test_backtest_also_prints_ended_events(engine, tmp_path):
    values = flat(150, seed=3)
    values[100:106] = 300.0  # a week-long drop that recovered long before the last day
    path = write(tmp_path, series_csv({"acme/exports": values}))

    assert findings(run(path)) == []
    backtest = findings(run(path, "--backtest"))
    drops = [f for f in backtest if f["type"] == "drop"]
    assert len(drops) == 1
    assert drops[0]["start"] == (dt.date(2024, 1, 1) + dt.timedelta(days=100)).isoformat()
    assert drops[0]["end"] is not None


# Group and country columns.


def test_group_and_country_columns_reach_the_engine(engine, tmp_path, monkeypatch):
    from anomalies.detection import engine as detection_engine

    seen = {}
    real_detect = detection_engine.detect

    def detect(batch, **kwargs):
        seen["batch"] = batch
        return real_detect(batch, **kwargs)

    monkeypatch.setattr(detection_engine, "detect", detect)
    rows = ["country,series_id,value,group,date"]
    for offset in range(60):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=offset)
        rows += [f"DE-BY,acme/logins,1000,emea,{day}", f",solo/logins,500,,{day}"]
    path = write(tmp_path, "\n".join(rows) + "\n")

    assert cli.main([path]) == 0

    batch = seen["batch"]
    assert batch.series_ids == ("acme/logins", "solo/logins")
    assert batch.cohorts == ("emea", "")
    assert batch.countries == ("DE-BY", None)


def test_a_file_with_group_and_country_runs(engine, tmp_path):
    values = flat(120, seed=4)
    values[-6:] = 300.0
    rows = [f"{HEADER},group,country"]
    for offset, value in enumerate(values):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=offset)
        rows.append(f"acme/exports,{day},{value:.1f},emea,GB-SCT")
        rows.append(f"beta/exports,{day},{1000 + offset % 7},na,US")
    path = write(tmp_path, "\n".join(rows) + "\n")

    (finding,) = findings(run(path))

    assert finding["series_id"] == "acme/exports"
    assert finding["type"] == "drop"


def test_a_series_in_two_groups_exits_2_naming_the_line(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER},group\na,2024-01-01,1,eu\na,2024-01-02,1,eu\na,2024-01-03,1,na\n",
    )
    result = run(path)
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"{path}: line 4: series 'a' has group 'na' here but 'eu' on line 2\n"
    )


def test_an_unknown_country_exits_2_naming_the_line(tmp_path):
    path = write(tmp_path, f"{HEADER},country\na,2024-01-01,1,US\nb,2024-01-01,1,XY\n")
    result = run(path)
    assert result.returncode == 2
    assert f"{path}: line 3: country 'XY' is not a country the holidays package knows" in (
        result.stderr.decode()
    )


# What the process loads: interpreter start and imports are part of every run's time.

IMPORTS_PROBE = """
import json, sys
from anomalies.detection.cli import main
main(sys.argv[1:])
heavy = {"pandas", "scipy", "statsmodels"}
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)), file=sys.stderr)
"""


def test_a_scan_loads_neither_pandas_nor_statsmodels(engine, tmp_path):
    path = write(tmp_path, series_csv({"acme/logins": flat(60, seed=5)}))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_PROBE, path],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stderr.decode().splitlines()[-1]) == []
