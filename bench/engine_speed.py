"""Engine speed: the batch path against a per-series statsmodels loop, same process, same data;
then the CLI as a whole process on that data, and its reader against the pandas one it replaced.

    .venv/bin/python bench/engine_speed.py [--series 20000] [--days 180] [--naive-sample 300]

Both scans answer the daily scan's question for every series: what is anomalous as of the last
day. The naive path fits `STL(robust=True)` per series and scores the last days' residuals
with a MAD z-score; the engine runs its scan (a 42-day causal replay) on all series at once.
The naive loop runs on a sample and is reported per series. One thread: BLAS threads are
pinned to 1 before numpy loads, so the figure is per core.

The same series are then written once as the CLI's input (`series_id,date,value`, a row per
series and day, 1 % of values empty) and `python -m anomalies.detection FILE.csv` runs on it
as a subprocess: wall time from interpreter start to the last JSON line, BLAS pinned the same
way (pyarrow's CSV reader uses its own threads). Last, reading that file into a `SeriesBatch`
in this process: the CLI's reader (pyarrow, vectorized checks) against the previous one
(pandas `read_csv` with every field a Python string, `to_numeric`, string checks), kept below
as `naive_read`. Every figure is the median of three runs.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from statsmodels.tsa.seasonal import STL  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from anomalies.detection import SeriesBatch, detect, preset  # noqa: E402
from anomalies.detection.io import batch_from_long, read_series_batch  # noqa: E402
from anomalies.detection.robust import MAD_TO_SIGMA  # noqa: E402

START = dt.date(2026, 1, 5)


def synthetic(n: int, days: int, seed: int = 1) -> np.ndarray:
    """Weekly usage of accounts of many sizes with noise, 1 % missing days and a drop in
    every tenth series over its last week."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(20), np.log(100_000), n))
    dow = (START.weekday() + np.arange(days)) % 7
    weekend = rng.uniform(0.3, 0.9, n)
    week = np.where(dow[None, :] >= 5, weekend[:, None], 1.0)
    growth = np.exp(rng.normal(0, 0.3, n)[:, None] * np.arange(days)[None, :] / 365)
    noise = np.exp(rng.normal(0, 0.08, (n, days)))
    values = rng.poisson(level[:, None] * week * growth * noise).astype(float)
    values[::10, -7:] *= 0.3
    values[rng.random((n, days)) < 0.01] = np.nan
    return values


def naive_scan(values: np.ndarray, z_threshold: float = 3.5) -> int:
    """Per series: robust STL, then a MAD z-score of the last week's residuals."""
    flagged = 0
    for row in values:
        y = np.log1p(row)
        ok = ~np.isnan(y)
        y = np.where(ok, y, np.interp(np.arange(len(y)), np.flatnonzero(ok), y[ok]))
        resid = STL(y, period=7, robust=True).fit().resid
        mad = MAD_TO_SIGMA * np.median(np.abs(resid - np.median(resid)))
        flagged += int(np.any(np.abs(resid[-7:]) > z_threshold * max(mad, 1e-9)))
    return flagged


def write_input(batch: SeriesBatch, path: Path) -> None:
    """The CLI's input for a batch: a row per series and day, series by series, NaN empty."""
    n, days = batch.values.shape
    dates = [str(batch.day(j)) for j in range(days)]
    table = pa.table(
        {
            "series_id": np.repeat(np.array(batch.series_ids, dtype=object), days),
            "date": np.tile(np.array(dates, dtype=object), n),
            "value": pa.array(batch.values.ravel(), from_pandas=True),  # NaN -> empty
        }
    )
    body = io.BytesIO()
    # pyarrow quotes header names whatever the style; most exports do not.
    pacsv.write_csv(table, body, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    path.write_bytes(b"series_id,date,value\n" + body.getbuffer())


def naive_read(path: Path) -> SeriesBatch:
    """The CLI's reader before pyarrow, on a clean file: the same pandas operations, without
    the messages that name bad lines."""
    data = path.read_bytes()
    data.decode("utf-8")
    raw = pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        index_col=False,
        skip_blank_lines=False,
        encoding="utf-8-sig",
    )
    raw.columns = [str(name).strip() for name in raw.columns]
    raw = raw[["series_id", "date", "value"]]
    blank = (raw["series_id"] == "") & (raw["date"] == "") & (raw["value"] == "")
    raw = raw[~blank.to_numpy()].reset_index(drop=True)

    id_codes, ids = pd.factorize(raw["series_id"])
    ids = pd.Series(ids, dtype=str)
    bad_id = (
        (ids == "")
        | (ids != ids.str.strip())
        | ids.str.contains(r"[\x00-\x1f\x7f]")
        | ids.str.startswith("/")
        | ids.str.endswith("/")
    )
    date_codes, dates = pd.factorize(raw["date"])
    dates = pd.Series(dates, dtype=str)
    well_formed = dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").to_numpy()
    parsed = pd.to_datetime(dates.where(well_formed), format="%Y-%m-%d", errors="coerce")
    text = raw["value"]
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    empty = (text == "").to_numpy()
    keys = id_codes.astype(np.int64) * len(dates) + date_codes
    with np.errstate(invalid="ignore"):
        bad_value = (np.isnan(values) & ~empty) | np.isinf(values) | (values < 0)
    if bad_id.any() or parsed.isna().any() or bad_value.any():
        raise ValueError("the benchmark's input should be clean")
    if pd.Series(keys).duplicated().any():
        raise ValueError("the benchmark's input should be clean")
    days = parsed.to_numpy().astype("datetime64[D]")[date_codes]
    frame = pd.DataFrame(
        {
            "series_id": raw["series_id"],
            "date": pd.Series(days.astype("datetime64[s]")),
            "value": values + 0.0,
        }
    )
    return batch_from_long(frame)


def median_seconds(run, times: int = 3) -> tuple[float, object]:
    """Median wall time of `times` calls, and the last call's result."""
    seconds = []
    for _ in range(times):
        began = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - began)
    return float(np.median(seconds)), result


def line(label: str, n: int, seconds: float, note: str = "") -> str:
    return f"{label:<27}{n:>7,} series {seconds:8.2f} s {n / seconds:>10,.0f} series/s   {note}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--naive-sample", type=int, default=300)
    args = parser.parse_args()

    values = synthetic(args.series, args.days)
    ids = tuple(f"acct-{i // 10:05d}/metric_{i % 10}" for i in range(args.series))
    batch = SeriesBatch(
        values,
        START,
        ids,
        tuple(s.rpartition("/")[2] for s in ids),
        tuple(s.rpartition("/")[0] for s in ids),
    )
    config = preset("medium")
    detect(SeriesBatch(values[:10], START, ids[:10], batch.metrics[:10], batch.groups[:10]))

    # The machine is shared and noisy: every figure is the median of three runs.
    engine_s, result = median_seconds(lambda: detect(batch, config=config))
    open_events = sum(f.ongoing for f in result.findings)

    sample = values[: args.naive_sample]
    began = time.perf_counter()
    naive_flagged = naive_scan(sample)
    naive_s = time.perf_counter() - began

    n = args.series
    print(f"{n:,} series x {args.days} days, one thread")
    print(line("engine batch scan", n, engine_s, f"({open_events:,} open events)"))
    print(line("naive STL(robust) loop", len(sample), naive_s, f"({naive_flagged:,} flagged)"))
    print(f"engine / naive: {(n / engine_s) / (len(sample) / naive_s):,.0f}x")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.csv"
        write_input(batch, path)
        size_mb = path.stat().st_size / 1e6

        def cli():
            return subprocess.run(
                [sys.executable, "-m", "anomalies.detection", str(path)],
                cwd=PROJECT_ROOT,
                capture_output=True,
                check=True,
            )

        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_s, done = median_seconds(cli)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU of one run: user time is the work; system time is mostly the kernel handing
        # out fresh pages, which is what varies on a shared machine.
        user_s = (children.ru_utime - children_before.ru_utime) / 3
        sys_s = (children.ru_stime - children_before.ru_stime) / 3
        printed = done.stdout.count(b"\n")
        new_read_s, new_batch = median_seconds(lambda: read_series_batch(path))
        naive_read_s, naive_batch = median_seconds(lambda: naive_read(path))
    assert np.array_equal(new_batch.values, naive_batch.values, equal_nan=True)
    assert new_batch.series_ids == naive_batch.series_ids

    print()
    print(f"the CLI on the same series: {values.size:,} rows, {size_mb:,.0f} MB of CSV")
    print(line("CLI, whole process", n, cli_s, f"({printed:,} JSON lines: the open events)"))
    print(line("CLI, user CPU", n, user_s, f"(plus {sys_s:.2f} s system CPU per run)"))
    print(f"in-process engine / whole process: {cli_s / engine_s:.1f}x the time")
    print(line("read: pyarrow + checks", n, new_read_s, "(CSV to SeriesBatch, in process)"))
    print(line("read: pandas (before)", n, naive_read_s, "(CSV to SeriesBatch, in process)"))
    print(f"pandas / pyarrow reader: {naive_read_s / new_read_s:.1f}x the time")


if __name__ == "__main__":
    main()
