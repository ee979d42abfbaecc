"""Checking what `detect()` is given, once, at the entry: configs, values and hints.

Each function either returns arrays the replay can trust or raises a ValueError that names
the bad series, day or field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .config import PER_SERIES_FIELDS, SHARED_FIELDS, DetectionConfig, preset
from .flags import MAX_EVIDENCE_FACTOR
from .learned import MIN_EVIDENCE_FACTOR, evidence_floor
from .types import SeriesBatch, SeriesHints


def resolve_configs(
    config: DetectionConfig | Sequence[DetectionConfig] | None, n_series: int
) -> tuple[DetectionConfig, dict[str, np.ndarray]]:
    """The config shared by all series (its statistical fields) and each series' thresholds
    (PER_SERIES_FIELDS, as arrays). Per-series configs may differ only in those."""
    if config is None:
        config = preset("medium")
    if isinstance(config, DetectionConfig):
        return config, {
            name: np.full(n_series, float(getattr(config, name))) for name in PER_SERIES_FIELDS
        }
    configs = list(config)
    if len(configs) != n_series:
        raise ValueError(f"got {len(configs)} configs for {n_series} series")
    if not configs:
        return preset("medium"), {name: np.zeros(0) for name in PER_SERIES_FIELDS}
    shared = configs[0]
    for index, other in enumerate(configs[1:], start=1):
        for name in SHARED_FIELDS:
            if getattr(other, name) != getattr(shared, name):
                raise ValueError(
                    f"config of series {index} differs in {name}: per-series configs may only "
                    f"change {', '.join(PER_SERIES_FIELDS)}"
                )
    thresholds = {
        name: np.array([getattr(c, name) for c in configs], dtype=float)
        for name in PER_SERIES_FIELDS
    }
    return shared, thresholds


def validated_values(batch: SeriesBatch) -> np.ndarray:
    """A copy of the batch's values, checked: 2-D, one id, metric and account per series,
    every value finite and non-negative or NaN (a missing day)."""
    values = np.asarray(batch.values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (series, days), got shape {values.shape}")
    n = values.shape[0]
    for name in ("series_ids", "metrics", "groups"):
        if len(getattr(batch, name)) != n:
            raise ValueError(f"{name} has {len(getattr(batch, name))} entries for {n} series")
    for name in ("cohorts", "countries"):
        given = getattr(batch, name)
        if given is not None and len(given) != n:
            raise ValueError(f"{name} has {len(given)} entries for {n} series")
    bad = np.isinf(values) | (values < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"series {batch.series_ids[i]!r} on {batch.day(j)}: value {values[i, j]} is not a "
            "finite non-negative number (use NaN for a missing day)"
        )
    return values.copy()


def apply_hints(values: np.ndarray, hints: SeriesHints | None) -> np.ndarray:
    """Days known to be bad data and history before a new normal become missing days."""
    if hints is None:
        return values
    n, t = values.shape
    if hints.exclude is not None:
        exclude = np.asarray(hints.exclude, dtype=bool)
        if exclude.shape[0] != n or exclude.shape[1] < t:
            raise ValueError(f"hints.exclude must have shape ({n}, >= {t}), got {exclude.shape}")
        values[exclude[:, :t]] = np.nan
    if hints.rebaseline_from is not None:
        starts = np.asarray(hints.rebaseline_from)
        if starts.shape != (n,):
            raise ValueError(f"hints.rebaseline_from must have shape ({n},), got {starts.shape}")
        values[np.arange(t)[None, :] < starts[:, None]] = np.nan
    return values


def evidence_factors(hints: SeriesHints | None, batch: SeriesBatch) -> np.ndarray:
    """(n, 2) factors on the evidence a negative / positive event needs: between
    MIN_EVIDENCE_FACTOR and MAX_EVIDENCE_FACTOR, and at least 1 for a core metric
    (learned.py)."""
    n = batch.n_series
    if hints is None or hints.evidence is None:
        return np.ones((n, 2))
    evidence = np.asarray(hints.evidence, dtype=float)
    if evidence.shape != (n, 2) or not np.all(
        (evidence >= MIN_EVIDENCE_FACTOR) & (evidence <= MAX_EVIDENCE_FACTOR)
    ):
        raise ValueError(
            f"hints.evidence must be ({n}, 2) factors between {MIN_EVIDENCE_FACTOR} and "
            f"{MAX_EVIDENCE_FACTOR}"
        )
    below = evidence < evidence_floor(batch.metrics)[:, None]
    if below.any():
        row = int(np.argwhere(below)[0][0])
        raise ValueError(
            f"hints.evidence of series {batch.series_ids[row]!r} is below 1: a core metric "
            "never needs less than the configured evidence"
        )
    return evidence
