"""The pure detection engine: arrays and dataframes in, dataclasses out.

Nothing in this package may import Django: it runs in the scan workers, in the CLI
(`python -m anomalies.detection`) and in benchmarks alike.
"""

from .config import DetectionConfig, preset
from .engine import detect, detect_series
from .types import DetectionResult, Finding, PortfolioEvent, SeriesBatch, SeriesHints

__all__ = [
    "DetectionConfig",
    "DetectionResult",
    "Finding",
    "PortfolioEvent",
    "SeriesBatch",
    "SeriesHints",
    "detect",
    "detect_series",
    "preset",
]
