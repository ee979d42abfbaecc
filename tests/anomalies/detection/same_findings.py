"""The check that a batch gives each series what it gives alone (test_regressions.py and
test_portfolio_properties.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np


def finding_key(finding) -> tuple:
    """What must be equal to the letter."""
    return (
        finding.series_id,
        finding.start,
        finding.detected_at,
        finding.type,
        finding.end or dt.date.max,
        finding.severity,
        finding.direction,
        finding.confidence,
    )


def assert_same_findings(together: list, alone: list) -> None:
    together, alone = sorted(together, key=finding_key), sorted(alone, key=finding_key)
    assert [finding_key(f) for f in together] == [finding_key(f) for f in alone]
    if together:
        # Figures agree to rounding: a matrix product over more columns may sum in another
        # order. (Possible causes read the account's other series, so they differ alone.)
        np.testing.assert_allclose(
            [_figures(f) for f in together], [_figures(f) for f in alone], rtol=1e-6, atol=1e-6
        )


def _figures(finding) -> list[float]:
    return [finding.baseline, finding.actual, finding.score, finding.completeness]
