"""Tuning proposals over the hand-checked portfolio (tuning_data.py): the counts, the
backtest, and accepting, rejecting and reverting with the settings they write."""

import datetime as dt

import pytest
from django.utils import timezone

from anomalies.detection_settings import detection_config_for_series
from anomalies.models import DetectionSettings, TuningProposal, UsageAnomaly
from anomalies.services.tuning import (
    TuningError,
    proposal_accept,
    proposal_reject,
    proposal_revert,
    proposals_create,
    scope_counts,
)
from tests.anomalies.scan_data import scan
from tests.anomalies.tuning_data import (
    AS_OF,
    EXPECTED_BACKTEST,
    PROPOSAL_TEXT,
    tuning_portfolio,
)

pytestmark = [pytest.mark.django_db]

QUIET_DROP = dt.date(2025, 5, 6)


@pytest.fixture
def portfolio(make_customer, csm):
    return tuning_portfolio(make_customer, csm)


@pytest.fixture
def proposal(portfolio):
    (created,) = proposals_create(as_of=AS_OF)
    return created


def feature_config(customer):
    (resolved,) = detection_config_for_series(series=[(customer.pk, "feature:reports")])
    return resolved.config


def test_it_counts_judgements_per_type_and_family(portfolio):
    (counts,) = scope_counts(since=AS_OF - dt.timedelta(days=179), until=AS_OF)
    assert (counts.anomaly_type, counts.metric_family) == ("drop", "feature:*")
    # 7 judged drops of the six accounts (Quiet's is not judged) and Padding Co's 16; all
    # but Acted's dismissed as false positives (Churner's too: the churn came later).
    assert (counts.judged, counts.false_positives) == (23, 22)


def test_it_proposes_the_hand_checked_change_with_its_backtest(proposal, portfolio):
    assert proposal.text == PROPOSAL_TEXT
    assert proposal.status == "pending"
    assert (proposal.judged, proposal.false_positives) == (23, 22)
    assert proposal.false_positive_rate == pytest.approx(22 / 23)
    assert proposal.target_rate == pytest.approx(0.2)
    assert proposal.settings_metric == "feature:*"
    backtest = {key: proposal.backtest[key] for key in EXPECTED_BACKTEST}
    assert backtest == EXPECTED_BACKTEST
    churner_drop = portfolio["stored"][("Churner", dt.date(2025, 3, 18))]
    assert proposal.hides_churn
    assert proposal.backtest["hidden_churn"] == [str(churner_drop.pk)]
    assert not DetectionSettings.objects.exists()  # proposing changes nothing


def test_a_new_run_replaces_the_waiting_proposal(proposal):
    (again,) = proposals_create(as_of=AS_OF)
    assert list(TuningProposal.objects.values_list("pk", flat=True)) == [again.pk]


def test_a_rejected_change_is_not_proposed_again_for_four_weeks(proposal, staff):
    proposal_reject(proposal=proposal, user=staff, reason="Feature blips are worth a look.")
    assert proposals_create(as_of=AS_OF) == []
    TuningProposal.objects.update(decided_at=timezone.now() - dt.timedelta(days=29))
    assert [p.text for p in proposals_create(as_of=AS_OF)] == [PROPOSAL_TEXT]


def test_within_target_nothing_is_proposed_and_a_waiting_proposal_is_withdrawn(proposal, settings):
    settings.TUNING_TARGET_FALSE_POSITIVE_RATE = 0.97  # 22 of 23 is 95.7 %
    assert proposals_create(as_of=AS_OF) == []
    assert not TuningProposal.objects.exists()


def test_a_reverted_change_is_not_proposed_again_for_four_weeks(proposal, staff):
    proposal_accept(proposal=proposal, user=staff, reason="Try it.")
    # Accepted: the family's judgements predate the change, nothing new is proposed.
    assert proposals_create(as_of=AS_OF) == []
    proposal_revert(proposal=proposal, user=staff, reason="Missed a real drop.")
    assert proposals_create(as_of=AS_OF) == []
    TuningProposal.objects.update(reverted_at=timezone.now() - dt.timedelta(days=29))
    assert [p.text for p in proposals_create(as_of=AS_OF)] == [PROPOSAL_TEXT]


def test_accept_writes_the_family_settings_with_who_when_and_why(proposal, staff, portfolio):
    blips = portfolio["accounts"]["Blips 1"]
    assert (feature_config(blips).min_duration_days, feature_config(blips).drop_percent) == (2, 30)

    accepted = proposal_accept(proposal=proposal, user=staff, reason="Too many blips dismissed.")

    row = DetectionSettings.objects.get()
    assert (row.customer_id, row.metric, row.sensitivity) == (None, "feature:*", "medium")
    assert (row.min_duration_days, row.drop_percent, row.spike_percent) == (3, 40, None)
    assert row.updated_by == staff
    accepted.refresh_from_db()
    assert accepted.status == "accepted"
    assert (accepted.decided_by, accepted.reason) == (staff, "Too many blips dismissed.")
    assert accepted.decided_at is not None
    assert accepted.previous == {"exists": False}
    assert (feature_config(blips).min_duration_days, feature_config(blips).drop_percent) == (3, 40)
    # Other metrics keep the preset.
    (api,) = detection_config_for_series(series=[(blips.pk, "api_calls")])
    assert (api.config.min_duration_days, api.config.drop_percent) == (2, 30)


def test_revert_removes_the_row_acceptance_created(proposal, staff, portfolio):
    proposal_accept(proposal=proposal, user=staff, reason="Try it.")
    reverted = proposal_revert(proposal=proposal, user=staff, reason="Missed a real drop.")
    assert reverted.status == "reverted"
    assert (reverted.reverted_by, reverted.revert_reason) == (staff, "Missed a real drop.")
    assert not DetectionSettings.objects.exists()
    blips = portfolio["accounts"]["Blips 1"]
    assert (feature_config(blips).min_duration_days, feature_config(blips).drop_percent) == (2, 30)


def test_accept_and_revert_keep_an_existing_row(portfolio, staff, other_csm):
    row = DetectionSettings.objects.create(
        metric="feature:*", sensitivity="medium", min_volume=25, updated_by=other_csm
    )
    (proposal,) = proposals_create(as_of=AS_OF)
    proposal_accept(proposal=proposal, user=staff, reason="Try it.")
    row.refresh_from_db()
    assert (row.min_duration_days, row.drop_percent, row.min_volume) == (3, 40, 25)
    proposal.refresh_from_db()
    assert proposal.previous["values"]["min_volume"] == 25

    proposal_revert(proposal=proposal, user=staff, reason="Back.")
    row.refresh_from_db()
    assert (row.min_duration_days, row.drop_percent, row.min_volume) == (None, None, 25)
    assert row.updated_by == staff


def test_accept_is_refused_when_the_settings_moved_since(proposal, staff):
    DetectionSettings.objects.create(metric="feature:*", sensitivity="medium", drop_percent=35)
    with pytest.raises(TuningError, match=r"settings changed since .*\(drop_percent\)"):
        proposal_accept(proposal=proposal, user=staff, reason="Try it.")
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_revert_is_refused_after_a_manual_edit(proposal, staff):
    proposal_accept(proposal=proposal, user=staff, reason="Try it.")
    DetectionSettings.objects.update(drop_percent=45)
    with pytest.raises(TuningError, match=r"changed after this proposal was accepted"):
        proposal_revert(proposal=proposal, user=staff, reason="Back.")
    assert DetectionSettings.objects.get().drop_percent == 45


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_decision_needs_a_reason(proposal, staff, reason):
    with pytest.raises(TuningError, match="reason"):
        proposal_accept(proposal=proposal, user=staff, reason=reason)
    with pytest.raises(TuningError, match="reason"):
        proposal_reject(proposal=proposal, user=staff, reason=reason)
    assert not DetectionSettings.objects.exists()


def test_a_proposal_is_decided_once(proposal, staff):
    proposal_reject(proposal=proposal, user=staff, reason="No.")
    with pytest.raises(TuningError, match="already rejected"):
        proposal_accept(proposal=proposal, user=staff, reason="Yes after all.")
    with pytest.raises(TuningError, match="Only an accepted proposal"):
        proposal_revert(proposal=proposal, user=staff, reason="?")
    assert not DetectionSettings.objects.exists()


def quiet_drops_after_scan(portfolio):
    quiet = portfolio["accounts"]["Quiet"]
    UsageAnomaly.objects.filter(customer=quiet).delete()  # the stored one: the scan decides
    run = scan(as_of=AS_OF, customer_ids=[quiet.pk])
    assert run.status == "succeeded"
    return list(
        UsageAnomaly.objects.filter(customer=quiet, start_date=QUIET_DROP).values_list(
            "anomaly_type", flat=True
        )
    )


def test_the_scan_reports_the_short_drop_with_the_settings_in_force(portfolio):
    assert quiet_drops_after_scan(portfolio) == ["drop"]


def test_the_next_scan_uses_the_accepted_setting(proposal, staff, portfolio):
    proposal_accept(proposal=proposal, user=staff, reason="Too many blips dismissed.")
    assert quiet_drops_after_scan(portfolio) == []


def test_the_family_row_sits_between_a_metric_row_and_the_global_one(make_customer):
    customer = make_customer()
    DetectionSettings.objects.create(sensitivity="medium", drop_percent=25, min_duration_days=4)
    DetectionSettings.objects.create(metric="feature:*", sensitivity="medium", drop_percent=40)
    DetectionSettings.objects.create(metric="feature:export", sensitivity="medium", drop_percent=50)
    reports, export, api = detection_config_for_series(
        series=[
            (customer.pk, "feature:reports"),
            (customer.pk, "feature:export"),
            (customer.pk, "api_calls"),
        ]
    )
    assert (reports.config.drop_percent, reports.config.min_duration_days) == (40, 4)
    assert (export.config.drop_percent, export.config.min_duration_days) == (50, 4)
    assert (api.config.drop_percent, api.config.min_duration_days) == (25, 4)


def test_a_change_that_would_alter_nothing_is_not_proposed(make_customer, make_anomaly):
    # Judged drops over the target, but no usage behind them: the replay finds nothing
    # either way, so there is nothing for anyone to decide.
    customer = make_customer()
    for k in range(25):
        make_anomaly(
            customer,
            metric_type="feature:reports",
            start_date=AS_OF - dt.timedelta(days=7 * k),
            status="dismissed",
            dismiss_reason="false_positive",
            dismissed_at=timezone.now(),
        )
    (counts,) = scope_counts(since=AS_OF - dt.timedelta(days=179), until=AS_OF)
    assert (counts.judged, counts.false_positives) == (25, 25)
    assert proposals_create(as_of=AS_OF) == []
