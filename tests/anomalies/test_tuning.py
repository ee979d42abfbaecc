"""Tuning proposals, the pure part (anomalies/tuning.py): hand-made counts in, drafts out."""

import pytest

from anomalies.tuning import (
    MAX_DROP_PERCENT,
    MAX_MIN_DURATION_DAYS,
    MIN_JUDGED,
    ScopeCounts,
    proposal_drafts,
)

MEDIUM = {"min_duration_days": 2, "drop_percent": 30.0, "spike_percent": 50.0, "z_threshold": 3.5}
THRESHOLDS = {"feature:*": MEDIUM, "api_calls": MEDIUM, "logins": MEDIUM}


def drafts(*counts, target=0.2, thresholds=THRESHOLDS):
    return proposal_drafts(counts, thresholds=thresholds, target=target)


def test_it_proposes_both_rungs_when_far_above_target():
    # 30 of 40 judged drops were false positives: 75 %, over twice the 20 % target.
    (draft,) = drafts(ScopeCounts("drop", "feature:*", judged=40, false_positives=30))
    assert draft.text == (
        "feature:* drops: minimum duration 2 → 3 days, drop threshold 30 % → 40 %"
    )
    assert draft.change == {
        "min_duration_days": {"from": 2, "to": 3},
        "drop_percent": {"from": 30.0, "to": 40.0},
    }


def test_it_proposes_one_rung_when_a_little_above_target():
    # 9 of 30 = 30 %: above 20 %, below 40 %.
    (draft,) = drafts(ScopeCounts("spike", "api_calls", judged=30, false_positives=9))
    assert draft.text == "api_calls spikes: minimum duration 2 → 3 days"


@pytest.mark.parametrize(
    ("judged", "false_positives"),
    [
        (MIN_JUDGED - 1, MIN_JUDGED - 1),  # every one a false positive, but too few
        (40, 8),  # exactly the target: not above it
        (40, 0),
        (0, 0),
    ],
)
def test_it_leaves_scopes_alone_that_are_small_or_within_target(judged, false_positives):
    assert drafts(ScopeCounts("drop", "feature:*", judged, false_positives)) == []


def test_a_scope_at_the_duration_bound_gets_its_threshold_step():
    at_bound = {**MEDIUM, "min_duration_days": MAX_MIN_DURATION_DAYS}
    (draft,) = drafts(
        ScopeCounts("drop", "logins", judged=25, false_positives=6),
        thresholds={"logins": at_bound},
    )
    assert draft.text == "logins drops: drop threshold 30 % → 40 %"


def test_a_scope_at_every_bound_gets_no_proposal():
    at_bounds = {
        **MEDIUM,
        "min_duration_days": MAX_MIN_DURATION_DAYS,
        "drop_percent": MAX_DROP_PERCENT,
    }
    counts = ScopeCounts("drop", "logins", judged=25, false_positives=25)
    assert drafts(counts, thresholds={"logins": at_bounds}) == []


def test_the_threshold_step_stops_at_its_bound():
    near = {**MEDIUM, "min_duration_days": MAX_MIN_DURATION_DAYS, "drop_percent": 75.0}
    (draft,) = drafts(
        ScopeCounts("feature_abandonment", "feature:*", judged=20, false_positives=20),
        thresholds={"feature:*": near},
    )
    assert draft.text == "feature:* feature abandonments: drop threshold 75 % → 80 %"


def test_types_without_a_percentage_raise_their_evidence_bar():
    (draft,) = drafts(
        ScopeCounts("pattern_change", "api_calls", judged=20, false_positives=19, severity="info")
    )
    assert draft.text == (
        "api_calls pattern changes (info): minimum duration 2 → 3 days, "
        "evidence bar (robust z) 3.5 → 4"
    )


def test_worst_scope_comes_first():
    result = drafts(
        ScopeCounts("spike", "api_calls", judged=30, false_positives=9),
        ScopeCounts("drop", "feature:*", judged=40, false_positives=30),
    )
    assert [d.counts.metric_family for d in result] == ["feature:*", "api_calls"]
    assert result[0].counts.false_positive_rate == pytest.approx(0.75)


@pytest.mark.parametrize("target", [0, 1, -0.2, 20])
def test_it_refuses_a_target_that_is_not_a_share(target):
    with pytest.raises(ValueError, match="target must be a share between 0 and 1"):
        drafts(ScopeCounts("drop", "feature:*", 40, 30), target=target)
