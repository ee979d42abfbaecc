"""What a person does about an anomaly: dismiss it, reopen it, and the action trail behind both
(and behind the portfolio's other buttons)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from customers.models import RiskSignal

from ..models import AnomalyAction, AnomalyStatus, DataQualityEvent, DismissReason, UsageAnomaly
from ..scan_results import risk_signals_sync


class AnomalyAlreadyDismissed(Exception):
    """A dismissal of an anomaly dismissed already with another reason, note or date.

    Refused rather than applied or ignored: the first dismissal already steered later scans
    (see anomaly_dismiss) and is what the audit trail and the learning loop recorded, and
    ignoring the second one silently lost what its author wrote. To change a dismissal, reopen
    the anomaly and dismiss it again: both steps are then recorded. `anomaly` is the anomaly
    as it is, with the dismissal in force.
    """

    def __init__(self, anomaly: UsageAnomaly):
        by = f" by {anomaly.dismissed_by}" if anomaly.dismissed_by_id else ""
        on = f" on {anomaly.dismissed_at:%Y-%m-%d}" if anomaly.dismissed_at else ""
        super().__init__(
            f"Already dismissed as '{anomaly.get_dismiss_reason_display()}'{on}{by}: "
            "reopen it first to dismiss it with another reason or note."
        )
        self.anomaly = anomaly


def anomaly_dismiss(
    *,
    anomaly: UsageAnomaly,
    user,
    reason: str,
    note: str = "",
    until: dt.date | None = None,
) -> UsageAnomaly:
    """Dismiss with a reason. Dismissing an already dismissed anomaly again with the same
    reason, note and until date changes nothing (a retried request is harmless); with any
    other one it raises AnomalyAlreadyDismissed and changes nothing either.

    The reason steers later scans (see anomalies.scan_inputs): `expected` suppresses this
    series and type until `until`; `new_normal` re-baselines the series from the event's
    start; `data_issue` keeps its days out of every baseline and shows them to ops;
    `false_positive` raises the evidence the series needs in that direction.
    """
    if reason not in DismissReason.values:
        raise ValueError(f"unknown dismiss reason {reason!r}")
    # Only an expected dismissal has an end; any other one lasts until reopened.
    until = until if reason == DismissReason.EXPECTED else None
    with transaction.atomic():
        anomaly = UsageAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        if anomaly.status == AnomalyStatus.DISMISSED:
            if _dismissal_of(anomaly) != (reason, note, until):
                raise AnomalyAlreadyDismissed(anomaly)
            return anomaly
        now = timezone.now()
        anomaly.status = AnomalyStatus.DISMISSED
        anomaly.dismissed_at = now
        anomaly.dismissed_by = user
        anomaly.dismiss_reason = reason
        anomaly.dismiss_note = note
        anomaly.dismissed_until = until
        # A dismissal of one suppressed by settings replaces that state (and its reopening
        # asks the next scan afresh).
        anomaly.suppressed_at = None
        anomaly.save()
        RiskSignal.objects.filter(anomaly=anomaly, resolved_at__isnull=True).update(resolved_at=now)
        # Every dismissal is an action for the audit trail and the learning loop, whatever
        # the entry point (page, admin, API).
        anomaly_action_record(anomaly=anomaly, user=user, kind="dismiss", note=note)
        if reason == DismissReason.DATA_ISSUE:
            DataQualityEvent.objects.get_or_create(
                anomaly=anomaly,
                defaults={
                    "kind": DataQualityEvent.Kind.DATA_ISSUE,
                    "customer_id": anomaly.customer_id,
                    "metric": anomaly.metric_type,
                    "start_date": anomaly.start_date,
                    "end_date": anomaly.end_date or timezone.localdate(),
                    "note": note,
                },
            )
    return anomaly


def _dismissal_of(anomaly: UsageAnomaly) -> tuple[str, str, dt.date | None]:
    return (anomaly.dismiss_reason, anomaly.dismiss_note, anomaly.dismissed_until)


def anomaly_reopen(*, anomaly: UsageAnomaly, user) -> UsageAnomaly:
    """Undo a dismissal. The next scan decides whether the event is still going on."""
    with transaction.atomic():
        anomaly = UsageAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        if anomaly.status != AnomalyStatus.DISMISSED:
            return anomaly
        status = AnomalyStatus.RESOLVED if anomaly.end_date else AnomalyStatus.OPEN
        if (
            status == AnomalyStatus.OPEN
            and UsageAnomaly.objects.filter(
                customer_id=anomaly.customer_id,
                metric_type=anomaly.metric_type,
                anomaly_type=anomaly.anomaly_type,
                status=AnomalyStatus.OPEN,
            ).exists()
        ):
            # A newer open event of this kind exists: this one stays in the past.
            status = AnomalyStatus.RESOLVED
            anomaly.end_date = anomaly.end_date or anomaly.start_date
        anomaly.status = status
        anomaly.dismissed_at = None
        anomaly.dismissed_by = None
        anomaly.dismiss_reason = ""
        anomaly.dismiss_note = ""
        anomaly.dismissed_until = None
        anomaly.save()
        DataQualityEvent.objects.filter(anomaly=anomaly).delete()
        # The dismissal resolved its risk signal; an anomaly open again needs it back now (a
        # rescan only touches signals of anomalies whose values changed).
        risk_signals_sync(anomalies=[anomaly], now=timezone.now())
        anomaly_action_record(anomaly=anomaly, user=user, kind="reopen")
    return anomaly


def anomaly_action_record(*, anomaly: UsageAnomaly, user, kind: str, note: str = ""):
    """Record that `user` did `kind` about `anomaly` (see AnomalyAction)."""
    if kind not in AnomalyAction.Kind.values:
        raise ValueError(f"unknown action {kind!r}")
    return AnomalyAction.objects.create(anomaly=anomaly, user=user, kind=kind, note=note)
