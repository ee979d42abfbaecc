"""Follow-ups: the work a CSM takes on about an account (a training to schedule, an expansion
to explore, congratulations to send), due on a day, closed with what it led to.

Closing one as done asks what the anomaly led to; that answer goes through
`anomaly_outcome_set`, the one way a CSM's outcome is written, unless the CSM says "no
change" (the anomaly keeps the outcome it has, CSM-set or derived).
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer

from ..models import (
    CLOSING_NO_CHANGE,
    ActionKind,
    ClosingOutcome,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    UsageAnomaly,
)
from ..text import anomaly_sentence
from .anomalies import anomaly_action_record
from .outcomes import anomaly_outcome_set

# Days until a follow-up opened from a card is due: an expansion lead cools fastest and
# congratulations are only worth sending while the news is fresh; a training needs a slot
# in the customer's calendar. A CSM moves the date when it does not fit.
DUE_IN_DAYS = {
    FollowUpKind.SCHEDULE_TRAINING: 7,
    FollowUpKind.EXPLORE_EXPANSION: 3,
    FollowUpKind.SEND_CONGRATULATIONS: 2,
    FollowUpKind.CONTACT_CUSTOMER: 3,
    FollowUpKind.OTHER: 7,
}
# A due date further out than this is a typo (a year 2062), not a plan.
MAX_DUE_DAYS_AHEAD = 366
TITLE_MAX_LENGTH = FollowUp._meta.get_field("title").max_length or 200


class FollowUpClosed(Exception):
    """A change to a follow-up that is no longer open (closed in another tab, or by a
    colleague): refused, so the outcome recorded first is the one that stands."""

    def __init__(self, followup: FollowUp):
        super().__init__(
            f"This follow-up is already {followup.get_status_display().lower()}"
            f"{f' since {followup.closed_at:%Y-%m-%d}' if followup.closed_at else ''}."
        )
        self.followup = followup


class FollowUpAlreadyOpen(Exception):
    """Reopening a follow-up while another open one covers the same anomaly and action."""


def due_date_error(due_date: dt.date, *, today: dt.date) -> str:
    """Why `due_date` cannot be a follow-up's due date ("" when it can): the page's form,
    the API and the services say the same thing."""
    if due_date < today:
        return "The due date cannot be in the past."
    if due_date > today + dt.timedelta(days=MAX_DUE_DAYS_AHEAD):
        return f"The due date must be within {MAX_DUE_DAYS_AHEAD} days."
    return ""


def followup_default_title(*, kind: str, customer: Customer, anomaly: UsageAnomaly | None) -> str:
    """'Schedule training: CloudFirst Inc (Feature abandonment: reports module -80%)'."""
    title = f"{FollowUpKind(kind).label}: {customer.name}"
    if anomaly is not None:
        sentence = anomaly_sentence(
            anomaly_type=anomaly.anomaly_type,
            metric=anomaly.metric_type,
            deviation_percent=float(anomaly.deviation_percent),
        )
        title += f" ({sentence})"
    return title[:TITLE_MAX_LENGTH]


def followup_create(
    *,
    customer: Customer,
    user,
    kind: str,
    anomaly: UsageAnomaly | None = None,
    due_date: dt.date | None = None,
    title: str = "",
    today: dt.date | None = None,
) -> tuple[FollowUp, bool]:
    """Open a follow-up owned by `user`, due `due_date` (default: DUE_IN_DAYS of its kind
    from today). Returns (follow-up, created): an open follow-up of this anomaly and kind
    already exists, it is returned unchanged (a double click opens one task).

    A new follow-up of an anomaly is also an action on it (AnomalyAction, the learning
    loop's record that the anomaly led to something), recorded once, like the task.
    """
    if kind not in FollowUpKind.values:
        raise ValueError(f"unknown follow-up kind {kind!r}")
    if anomaly is not None and anomaly.customer_id != customer.pk:
        raise ValueError("the anomaly belongs to another customer")
    today = today or timezone.localdate()
    if due_date is None:
        due_date = today + dt.timedelta(days=DUE_IN_DAYS[FollowUpKind(kind)])
    elif message := due_date_error(due_date, today=today):
        raise ValueError(message)
    title = title.strip()[:TITLE_MAX_LENGTH] or followup_default_title(
        kind=kind, customer=customer, anomaly=anomaly
    )
    with transaction.atomic():
        if anomaly is not None:
            # Two clicks at once: the second waits here, then finds the first one's task.
            UsageAnomaly.objects.select_for_update().filter(pk=anomaly.pk).first()
            existing = FollowUp.objects.filter(
                anomaly=anomaly, kind=kind, status=FollowUpStatus.OPEN
            ).first()
            if existing is not None:
                return existing, False
        followup = FollowUp.objects.create(
            customer=customer,
            anomaly=anomaly,
            owner=user,
            kind=kind,
            title=title,
            due_date=due_date,
        )
        if anomaly is not None and kind in ActionKind.values:
            anomaly_action_record(anomaly=anomaly, user=user, kind=kind)
    return followup, True


def _locked_open(followup: FollowUp) -> FollowUp:
    locked = FollowUp.objects.select_for_update().get(pk=followup.pk)
    if locked.status != FollowUpStatus.OPEN:
        raise FollowUpClosed(locked)
    return locked


def followup_reschedule(
    *, followup: FollowUp, due_date: dt.date, today: dt.date | None = None
) -> FollowUp:
    """Move an open follow-up's due date."""
    if message := due_date_error(due_date, today=today or timezone.localdate()):
        raise ValueError(message)
    with transaction.atomic():
        followup = _locked_open(followup)
        followup.due_date = due_date
        followup.save(update_fields=["due_date"])
    return followup


def followup_close(
    *,
    followup: FollowUp,
    user,
    outcome: str = "",
    note: str = "",
    cancel: bool = False,
) -> FollowUp:
    """Close an open follow-up: done, with what it led to (`outcome`, a ClosingOutcome), or
    cancelled (no outcome: nothing was done). A done follow-up's outcome other than "no
    change" becomes its anomaly's outcome, with the note, through anomaly_outcome_set.
    Raises FollowUpClosed when it is closed already."""
    if cancel:
        if outcome:
            raise ValueError("a cancelled follow-up has no outcome")
    elif outcome not in ClosingOutcome.values:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction.atomic():
        followup = _locked_open(followup)
        followup.status = FollowUpStatus.CANCELLED if cancel else FollowUpStatus.DONE
        followup.closed_at = timezone.now()
        followup.closed_by = user
        followup.closing_outcome = outcome
        followup.closing_note = note
        followup.save()
        anomaly = followup.anomaly
        if not cancel and outcome != CLOSING_NO_CHANGE and anomaly is not None:
            anomaly_outcome_set(anomaly=anomaly, user=user, outcome=outcome, note=note)
    return followup


def followup_reopen(*, followup: FollowUp) -> FollowUp:
    """Open a closed follow-up again (closed by mistake). The anomaly's outcome set when it
    was closed stays: it is the CSM's word and has its own form to change it."""
    with transaction.atomic():
        followup = FollowUp.objects.select_for_update().get(pk=followup.pk)
        if followup.status == FollowUpStatus.OPEN:
            return followup
        followup.status = FollowUpStatus.OPEN
        followup.closed_at = None
        followup.closed_by = None
        followup.closing_outcome = ""
        followup.closing_note = ""
        try:
            with transaction.atomic():
                followup.save()
        except IntegrityError as exc:
            raise FollowUpAlreadyOpen(
                "Another open follow-up covers this anomaly and action: close it first."
            ) from exc
    return followup
