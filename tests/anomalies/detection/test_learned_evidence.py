"""Learned sensitivity (detection.learned): the formula, its bounds, and the engine needing
more evidence, recording the factor in force on each finding."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anomalies.detection import SeriesBatch, SeriesHints, detect
from anomalies.detection.flags import MAX_EVIDENCE_FACTOR
from anomalies.detection.learned import (
    EVIDENCE_STEP,
    MATTERED_WEIGHT,
    MIN_EVIDENCE_FACTOR,
    learned_evidence,
)
from tests import synth
from tests.synth import START

METRICS = ["api_calls", "logins", "active_users", "feature:reports", "seats"]
counts = st.floats(0, 50, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from(METRICS), counts, counts), min_size=1, max_size=20))
def test_the_factor_stays_within_its_bounds(rows):
    metrics = [m for m, _, _ in rows]
    ignored = np.array([[i, i / 2] for _, i, _ in rows])
    mattered = np.array([[m, m * 2] for _, _, m in rows])

    factors = learned_evidence(ignored, mattered, metrics)

    assert factors.shape == (len(rows), 2)
    assert np.all(factors <= MAX_EVIDENCE_FACTOR)
    core = np.array([m in ("api_calls", "logins", "active_users") for m in metrics])
    assert np.all(factors[core] >= 1.0)
    assert np.all(factors[~core] >= MIN_EVIDENCE_FACTOR)


@pytest.mark.parametrize(
    ("ignored", "mattered", "metric", "expected"),
    [
        (0, 0, "api_calls", 1.0),
        (1, 0, "api_calls", 1 + EVIDENCE_STEP),
        (1.5, 0, "logins", 1 + 1.5 * EVIDENCE_STEP),
        (3, 1, "api_calls", 1 + EVIDENCE_STEP * (3 - MATTERED_WEIGHT)),
        (20, 0, "api_calls", MAX_EVIDENCE_FACTOR),
        (0, 1, "api_calls", 1.0),  # a core metric never goes below the configured bar
        (0, 1, "feature:reports", MIN_EVIDENCE_FACTOR),
        (2, 1.1, "feature:reports", 1 + EVIDENCE_STEP * (2 - MATTERED_WEIGHT * 1.1)),
    ],
)
def test_the_formula(ignored, mattered, metric, expected):
    factors = learned_evidence(np.array([[ignored, 0.0]]), np.array([[mattered, 0.0]]), [metric])

    assert factors[0].tolist() == pytest.approx([expected, 1.0])


N = 200


def _two_accounts(row, metric="api_calls"):
    return SeriesBatch(
        np.array([row, row]),
        START,
        (f"a/{metric}", f"b/{metric}"),
        (metric, metric),
        ("a", "b"),
    )


def test_a_higher_factor_needs_more_evidence_and_is_recorded():
    # A three-day 45 % drop: news for an account whose excursions mattered, its normal for
    # one whose last excursions were all dismissed.
    row = synth.scaled(synth.usage(N, seed=11), slice(N - 3, N), 0.55)
    batch = _two_accounts(row)
    plain = detect(batch, hints=SeriesHints(evidence=np.ones((2, 2)))).findings
    assert [f.series_id for f in plain] == ["a/api_calls", "b/api_calls"]
    assert {f.evidence for f in plain} == {1.0}

    doubted = detect(batch, hints=SeriesHints(evidence=np.array([[2.5, 1.0], [1.0, 1.0]])))

    [finding] = doubted.findings
    assert (finding.series_id, finding.type, finding.evidence) == ("b/api_calls", "drop", 1.0)


def test_the_factor_in_force_is_the_directions_own():
    row = synth.scaled(synth.usage(N, seed=12), slice(N - 6, N), 0.35)
    batch = _two_accounts(row)

    findings = detect(batch, hints=SeriesHints(evidence=np.array([[1.6, 1.0], [1.0, 2.0]])))

    assert [(f.series_id, f.direction, f.evidence) for f in findings.findings] == [
        ("a/api_calls", "negative", 1.6),
        ("b/api_calls", "negative", 1.0),
    ]
    assert findings.findings[0].to_json()["evidence"] == 1.6


def test_a_lower_factor_on_a_feature_finds_a_shorter_drop():
    # A two-day halving of a noisy feature: short of the configured z bar, past it when
    # what mattered before lowered the bar by a fifth.
    row = synth.scaled(synth.usage(N, seed=13, level=500, noise=0.15), slice(N - 2, N), 0.5)
    batch = _two_accounts(row, metric="feature:reports")
    factors = np.array([[1.0, 1.0], [MIN_EVIDENCE_FACTOR, 1.0]])

    result = detect(batch, hints=SeriesHints(evidence=factors))

    assert [(f.series_id, f.evidence) for f in result.findings] == [
        ("b/feature:reports", MIN_EVIDENCE_FACTOR)
    ]
