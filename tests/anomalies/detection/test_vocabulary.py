"""The vocabulary: ranks, labels, fixed directions and metric families, and that its words
leave the engine as plain strings."""

import datetime as dt
import json

import pytest

from anomalies.detection.types import Finding
from anomalies.detection.vocabulary import (
    SEVERITY_RANK,
    AnomalyType,
    Direction,
    Severity,
    feature_metric,
    feature_name,
    is_feature_metric,
)


def test_severities_rank_from_info_to_critical():
    assert [s.rank for s in (Severity.INFO, Severity.WARNING, Severity.CRITICAL)] == [0, 1, 2]
    # Rows from the database hold plain strings: they look their rank up the same way.
    assert SEVERITY_RANK["critical"] == Severity.CRITICAL.rank


@pytest.mark.parametrize(
    ("word", "label"),
    [
        (AnomalyType.FEATURE_ABANDONMENT, "Feature abandonment"),
        (AnomalyType.DROP, "Drop"),
        (Severity.CRITICAL, "Critical"),
        (Direction.POSITIVE, "Positive"),
    ],
)
def test_labels(word, label):
    assert word.label == label


@pytest.mark.parametrize(
    ("kind", "direction", "is_shift"),
    [
        (AnomalyType.DROP, Direction.NEGATIVE, False),
        (AnomalyType.SPIKE, Direction.POSITIVE, False),
        (AnomalyType.FEATURE_ABANDONMENT, Direction.NEGATIVE, False),
        (AnomalyType.SEASONAL_DEVIATION, None, False),
        (AnomalyType.PATTERN_CHANGE, None, True),
        (AnomalyType.GRADUAL_DECLINE, Direction.NEGATIVE, True),
    ],
)
def test_types_know_their_direction_and_whether_they_shift(kind, direction, is_shift):
    assert kind.direction == direction
    assert kind.is_shift == is_shift


@pytest.mark.parametrize(
    ("sign", "direction"), [(-1, "negative"), (-0.5, "negative"), (1, "positive"), (0, "positive")]
)
def test_direction_of_a_sign(sign, direction):
    assert Direction.of(sign) == direction


@pytest.mark.parametrize(
    ("metric", "is_feature", "name"),
    [
        ("feature:reports", True, "Reports"),
        ("feature:bulk_export", True, "Bulk Export"),
        ("feature:bulk-export", True, "Bulk Export"),
        ("logins", False, None),
    ],
)
def test_feature_metrics(metric, is_feature, name):
    assert is_feature_metric(metric) == is_feature
    if is_feature:
        assert feature_name(metric) == name
        assert feature_metric(metric.split(":", 1)[1]) == metric


def test_findings_print_the_words_as_plain_strings():
    day = dt.date(2024, 3, 1)
    finding = Finding(
        series_id="acme/logins",
        account="acme",
        metric="logins",
        type=AnomalyType.DROP,
        severity=Severity.WARNING,
        direction=Direction.NEGATIVE,
        start=day,
        end=None,
        detected_at=day,
        last_seen=day,
        baseline=100.0,
        actual=40.0,
        deviation_percent=-60.0,
        expected_low=80.0,
        expected_high=120.0,
        score=6.0,
        completeness=1.0,
        confidence="normal",
        possible_cause="",
    )
    text = json.dumps(finding.to_json())
    assert '"type": "drop", "severity": "warning", "direction": "negative"' in text
