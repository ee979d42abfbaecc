"""Outcomes of anomalies: what happened to the account after each one, the learning loop's
ground truth. A CSM sets it (`anomaly_outcome_set`), or it is derived from the account's
lifecycle changes (`outcomes_derive`).

How derivation is triggered: customers never import anomalies, so every customers entry point
that records, changes or deletes a lifecycle change (admin, `PUT /api/customers/<id>/lifecycle`,
`import_lifecycle`) sends `customers.signals.lifecycle_changed` inside its transaction;
anomalies.apps connects `outcomes_on_lifecycle_changed` to it. One synchronous path for every
entry point, committed with the change itself (no broker, no window in which a recorded churn
has not reached its anomalies yet).

The rule, in one place:
- an anomaly's outcome is derived from the earliest lifecycle change dated on or after the
  day the anomaly started and at most ANOMALY_OUTCOME_WINDOW_DAYS after it (both days
  included): churned -> churned, contracted -> contracted, expanded -> expanded,
  renewed -> renewed. The earliest wins because it is the first thing that happened to the
  account after the signal; a later change is a consequence of that one as much as of the
  anomaly. Two changes on one day: churned, contracted, expanded, renewed, in that order
  (the bigger news first).
- a CSM-set outcome is never overwritten: only anomalies whose outcome is derived, or unknown
  and never set by anyone, are (re)derived. A derived outcome whose change no longer falls
  in the window (deleted, moved, or the window shortened) goes back to unknown.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import LifecycleEvent, LifecycleKind

from ..models import Outcome, UsageAnomaly

OUTCOME_OF_LIFECYCLE = {
    LifecycleKind.CHURNED: Outcome.CHURNED,
    LifecycleKind.CONTRACTED: Outcome.CONTRACTED,
    LifecycleKind.EXPANDED: Outcome.EXPANDED,
    LifecycleKind.RENEWED: Outcome.RENEWED,
}
# Two lifecycle changes on one day: the first of these wins.
_SAME_DAY_RANK = {kind: rank for rank, kind in enumerate(OUTCOME_OF_LIFECYCLE)}
# Rows per UPDATE of bulk_update (SQLite's parameter limit, PostgreSQL's statement size).
_UPDATE_BATCH = 500
# Customers read per round of a whole-portfolio re-derivation, bounding memory.
_CUSTOMER_CHUNK = 2000


def outcome_window_days() -> int:
    return settings.ANOMALY_OUTCOME_WINDOW_DAYS


def _derivable() -> Q:
    """Anomalies derivation may write: derived ones, and unknown ones nobody has set."""
    return Q(outcome_derived=True) | Q(outcome=Outcome.UNKNOWN, outcome_set_at__isnull=True)


def outcomes_derive(
    *,
    customer_ids: Iterable | None = None,
    anomaly_ids: Iterable | None = None,
    removed_event_ids: Iterable = (),
    window_days: int | None = None,
) -> int:
    """(Re)derive the outcomes of the anomalies of `customer_ids` (None: every customer;
    `anomaly_ids` narrows to those anomalies). `removed_event_ids` are lifecycle changes
    about to be deleted: ignored, so nothing points at them afterwards. Returns how many
    anomalies changed.

    Three queries per round of customers (lifecycle changes, anomalies, one UPDATE per
    batch of changed rows), whatever the number of anomalies.
    """
    window = dt.timedelta(days=window_days if window_days is not None else outcome_window_days())
    removed = list(removed_event_ids)
    if customer_ids is None:
        ids = list(
            UsageAnomaly.objects.filter(_derivable())
            .order_by()
            .values_list("customer_id", flat=True)
            .distinct()
        )
    else:
        ids = list(dict.fromkeys(customer_ids))
    changed = 0
    with transaction.atomic():
        for start in range(0, len(ids), _CUSTOMER_CHUNK):
            changed += _derive_for(
                ids[start : start + _CUSTOMER_CHUNK],
                anomaly_ids=anomaly_ids,
                removed=removed,
                window=window,
            )
    return changed


def _derive_for(customer_ids: list, *, anomaly_ids, removed: list, window) -> int:
    events = LifecycleEvent.objects.filter(customer_id__in=customer_ids)
    if removed:
        events = events.exclude(pk__in=removed)
    by_customer: defaultdict[object, list[tuple]] = defaultdict(list)
    for event_id, customer_id, kind, day in events.values_list("id", "customer_id", "kind", "date"):
        by_customer[customer_id].append((day, _SAME_DAY_RANK[LifecycleKind(kind)], event_id, kind))
    for events_of_one in by_customer.values():
        events_of_one.sort()
    days = {customer: [e[0] for e in timeline] for customer, timeline in by_customer.items()}

    candidates = UsageAnomaly.objects.filter(_derivable(), customer_id__in=customer_ids)
    if anomaly_ids is not None:
        candidates = candidates.filter(pk__in=list(anomaly_ids))
    # Locked, so a CSM setting an outcome meanwhile waits for us (and then wins) instead of
    # being overwritten by what we read before their change.
    rows = candidates.select_for_update().values_list(
        "id", "customer_id", "start_date", "outcome", "outcome_derived", "outcome_event_id"
    )
    now = timezone.now()
    updates = []
    for anomaly_id, customer_id, start, outcome, derived, event_id in rows:
        new: tuple[str, bool, Any] = (Outcome.UNKNOWN.value, False, None)
        timeline = by_customer.get(customer_id)
        if timeline:
            i = bisect.bisect_left(days[customer_id], start)
            if i < len(timeline) and timeline[i][0] <= start + window:
                _, _, found_id, kind = timeline[i]
                new = (OUTCOME_OF_LIFECYCLE[kind].value, True, found_id)
        if new != (outcome, derived, event_id):
            updates.append(
                UsageAnomaly(
                    pk=anomaly_id,
                    outcome=new[0],
                    outcome_derived=new[1],
                    outcome_event_id=new[2],
                    updated_at=now,
                )
            )
    UsageAnomaly.objects.bulk_update(
        updates,
        ["outcome", "outcome_derived", "outcome_event", "updated_at"],
        batch_size=_UPDATE_BATCH,
    )
    return len(updates)


def outcomes_on_lifecycle_changed(sender, *, customer_ids, removed_event_ids=(), **kwargs):
    """Receiver of customers.signals.lifecycle_changed (connected in anomalies.apps)."""
    outcomes_derive(customer_ids=customer_ids, removed_event_ids=removed_event_ids)


def anomaly_outcome_set(*, anomaly: UsageAnomaly, user, outcome: str, note: str = ""):
    """The CSM's word on what the anomaly led to; it is never overwritten by derivation.

    `unknown` is "no judgement": it clears a CSM-set outcome and hands the anomaly back to
    derivation, so a lifecycle change in its window shows again (and a mistaken outcome
    can be undone).
    """
    if outcome not in Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction.atomic():
        anomaly = UsageAnomaly.objects.select_for_update().get(pk=anomaly.pk)
        anomaly.outcome = outcome
        anomaly.outcome_note = note
        anomaly.outcome_derived = False
        anomaly.outcome_event = None
        if outcome == Outcome.UNKNOWN:
            anomaly.outcome_set_at = anomaly.outcome_set_by = None
        else:
            anomaly.outcome_set_at = timezone.now()
            anomaly.outcome_set_by = user
        anomaly.save()
        if outcome == Outcome.UNKNOWN:
            outcomes_derive(customer_ids=[anomaly.customer_id], anomaly_ids=[anomaly.pk])
            anomaly.refresh_from_db()
    return anomaly
