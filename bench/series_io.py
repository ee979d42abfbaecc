"""Reading the CLI's input format (`series_id,date,value`, empty value = missing day)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class WideSeries:
    """All series of a file on one calendar: `values[i, j]` is series i on day `start + j`.

    NaN is a missing day or a day outside the series' own span; `first[i]` and `last[i]` are
    the indexes of the first and last day the file has a row for series i.
    """

    series_ids: list[str]
    start: dt.date
    values: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def day(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(index))


def read_long(path: Path | str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"series_id": str, "date": str, "value": float})
    missing = {"series_id", "date", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    return df


def to_wide(df: pd.DataFrame) -> WideSeries:
    start = df["date"].min()
    n_days = (df["date"].max() - start).days + 1
    ids = sorted(df["series_id"].unique())
    row = pd.Series(np.arange(len(ids)), index=ids)[df["series_id"]].to_numpy()
    col = (df["date"] - start).dt.days.to_numpy()
    values = np.full((len(ids), n_days), np.nan)
    values[row, col] = df["value"].to_numpy()
    first = np.full(len(ids), n_days, dtype=int)
    last = np.full(len(ids), -1, dtype=int)
    np.minimum.at(first, row, col)
    np.maximum.at(last, row, col)
    return WideSeries(ids, start.date(), values, first, last)


def read_wide(path: Path | str) -> WideSeries:
    return to_wide(read_long(path))


def series_spans(wide: WideSeries) -> dict[str, tuple[dt.date, dt.date]]:
    """First and last day of each series, as written in the file (missing days included)."""
    return {
        sid: (wide.day(f), wide.day(la))
        for sid, f, la in zip(wide.series_ids, wide.first, wide.last, strict=True)
    }
