"""The pure detection engine: arrays and dataframes in, dataclasses out.

Nothing in this package may import Django: it runs in the scan workers, in the CLI
(`python -m anomalies.detection`) and in benchmarks alike.
"""

from .config import DetectionConfig, preset
from .engine import SeriesTrace, detect, detect_series, series_trace
from .types import DetectionResult, Finding, PortfolioEvent, SeriesBatch, SeriesHints

__all__ = [
    "DetectionConfig",
    "DetectionResult",
    "Finding",
    "PortfolioEvent",
    "SeriesBatch",
    "SeriesHints",
    "SeriesTrace",
    "detect",
    "detect_series",
    "preset",
    "series_trace",
]
