"""Learned sensitivity: each series' own reviewed history sets its evidence bar.

An excursion of a series that nobody acted on (dismissed as a false positive or as expected,
or over with no action and nothing coming of it) says the series' moves of that size are its
normal; one that mattered (an action on the card, a churn, contraction or expansion after
it, a new normal) says they are news. Per series and direction:

    factor = 1 + EVIDENCE_STEP * (ignored - MATTERED_WEIGHT * mattered)

clamped to [floor, MAX_EVIDENCE_FACTOR], where the floor is 1 for the core metrics (a drop
in API calls, logins or active users is never taken more lightly than configured) and
MIN_EVIDENCE_FACTOR for the others. `ignored` and `mattered` are weighted counts (the
caller's weights: a false-positive dismissal counts fully, a silent one less).

The factor multiplies the z bar and the minimum duration of that direction (flags.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .flags import MAX_EVIDENCE_FACTOR
from .vocabulary import CORE_METRICS

# One fully ignored excursion (a false-positive dismissal) raises the bar by half the
# configured evidence: four of them reach the cap.
EVIDENCE_STEP = 0.5
# One excursion that mattered outweighs two that were ignored: missing a churn costs more
# than reading a false alarm.
MATTERED_WEIGHT = 2.0
# Non-core metrics (features) whose excursions keep mattering may get a slightly lower bar,
# never below this: a fifth less evidence.
MIN_EVIDENCE_FACTOR = 0.8


def evidence_floor(metrics: Sequence[str]) -> np.ndarray:
    """(n,) the lowest factor each series may have: 1 for a core metric, else
    MIN_EVIDENCE_FACTOR."""
    core = np.array([m in CORE_METRICS for m in metrics], dtype=bool)
    return np.where(core, 1.0, MIN_EVIDENCE_FACTOR)


def learned_evidence(
    ignored: np.ndarray, mattered: np.ndarray, metrics: Sequence[str]
) -> np.ndarray:
    """(n, 2) evidence factors (column 0 falls, 1 rises) from (n, 2) weighted counts of
    ignored and mattered excursions of each series (see the module docstring)."""
    ignored = np.asarray(ignored, dtype=float)
    mattered = np.asarray(mattered, dtype=float)
    raw = 1.0 + EVIDENCE_STEP * (ignored - MATTERED_WEIGHT * mattered)
    floor = evidence_floor(metrics)[:, None]
    return np.clip(raw, floor, MAX_EVIDENCE_FACTOR)
