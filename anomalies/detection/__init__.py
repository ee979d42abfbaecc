"""The pure detection engine: arrays and dataframes in, dataclasses out.

Nothing in this package may import Django: it runs in the scan workers, in the CLI
(`python -m anomalies.detection`) and in benchmarks alike.

The names below load on first use, not with the package: the CLI imports the package before
anything else, and its `--help` or a rejected input should not wait for the engine.
"""

import importlib

_EXPORTS = {
    "DetectionConfig": "config",
    "preset": "config",
    "SeriesTrace": "engine",
    "detect": "engine",
    "detect_series": "engine",
    "series_trace": "engine",
    "series_traces": "engine",
    "CohortEvent": "types",
    "DetectionResult": "types",
    "Finding": "types",
    "PortfolioEvent": "types",
    "SeriesBatch": "types",
    "SeriesHints": "types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
