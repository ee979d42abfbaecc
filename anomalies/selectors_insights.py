"""Reads of the learning loop's report: which kinds of anomaly were followed by churn,
contraction or expansion (effectiveness), and how often they were judged false positives
(precision), over a period, for the accounts a user may see.

Definitions (the page and the API say the same):

- The **outcome window** is `settings.ANOMALY_OUTCOME_WINDOW_DAYS` (90 by default). An
  anomaly is *followed by a loss* when its customer has a churned or contracted lifecycle
  event dated from its start date to start date + window (both included), or its outcome
  (set by the CSM or derived) is churned or contracted; *followed by an expansion* likewise
  with expanded events and the expanded outcome.
- A **group** is anomaly type × severity × metric family (`insights.metric_family`): the
  anomalies of the group that *started* within the period (both ends included).
- The **base rate** of a group is measured on the accounts in scope that had no anomaly of
  that group starting in the period, in account-windows of the same length as an anomaly's
  outcome window: the period is cut into consecutive windows starting at its first day
  (start, start + W, start + 2W, ... while a window starts on or before the period's last
  day; each window covers W days, so the last one may reach past the period's end, as an
  anomaly's window does). Each (account, window) is one case, counted unless the account
  churned before the window starts; it is a loss case when the account has a churned or
  contracted event within it, an expansion case with an expanded event. So both rates are
  "the chance of the event within W days", and the lift rate_with / base_rate compares like
  with like.
- **Precision** (by week of the anomaly's start): among *judged* anomalies (dismissed with a
  reason, or with an outcome other than unknown, or acted on: an action other than dismiss,
  reopen or rescan), the share not dismissed as a false positive. The four dismissal reasons
  are counted separately; *mattered* counts the judged anomalies not dismissed whose outcome
  is churned, contracted or expanded or that were acted on.

Queries are a fixed handful whatever the size of the portfolio: the report aggregates in the
database, the base rate reads the lifecycle events of the scope once and sums in Python.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import TruncWeek

from customers.models import LifecycleEvent, LifecycleKind
from customers.selectors import customer_list_visible

from .detection import vocabulary
from .detection_settings import detection_config_for_series
from .insights import (
    FEATURE_FAMILY,
    Lift,
    Rate,
    family_order,
    lift,
    precision,
    rate,
)
from .models import (
    ActionKind,
    AnomalyAction,
    AnomalyStatus,
    DismissReason,
    Outcome,
    Sensitivity,
    UsageAnomaly,
)

DEFAULT_OUTCOME_WINDOW_DAYS = 90

LOSS_KINDS = (LifecycleKind.CHURNED, LifecycleKind.CONTRACTED)
GAIN_KINDS = (LifecycleKind.EXPANDED,)
LOSS_OUTCOMES = (Outcome.CHURNED, Outcome.CONTRACTED)
GAIN_OUTCOMES = (Outcome.EXPANDED,)
# What a CSM did about the account because of the anomaly; dismissing, reopening and
# rescanning are handling the alert, not acting on it.
ACTED_KINDS = tuple(
    kind
    for kind in ActionKind.values
    if kind not in (ActionKind.DISMISS, ActionKind.REOPEN, ActionKind.RESCAN)
)
DISMISS_REASONS = tuple(DismissReason.values)

PRECISION_GROUPINGS = ("type", "severity", "family", "metric", "sensitivity", "csm")


def outcome_window_days() -> int:
    # The outcomes work adds the setting; until then (and if unset) the 90 days.
    return int(getattr(settings, "ANOMALY_OUTCOME_WINDOW_DAYS", DEFAULT_OUTCOME_WINDOW_DAYS))


def family_expression():
    """An anomaly's metric family (`insights.metric_family`) in the database."""
    return Case(
        When(metric_type__startswith=vocabulary.FEATURE_PREFIX, then=Value(FEATURE_FAMILY)),
        default=F("metric_type"),
        output_field=CharField(),
    )


def insights_scope(*, user, csm=None):
    """The customers the report covers: the user's visible accounts, narrowed to one CSM's
    portfolio if given (staff choose any CSM; a CSM's own is all they can see anyway)."""
    customers = customer_list_visible(user=user)
    if csm is not None:
        customers = customers.filter(csm=csm)
    return customers


@dataclass(frozen=True)
class EffectivenessRow:
    anomaly_type: str
    severity: str
    family: str
    count: int
    accounts: int
    dismissed: dict[str, int]  # reason -> anomalies dismissed with it
    loss: Rate
    loss_base: Rate
    loss_lift: Lift
    gain: Rate
    gain_base: Rate
    gain_lift: Lift

    @property
    def small_sample(self) -> bool:
        """Neither lift means anything: grey the row."""
        return self.loss_lift.small_sample and self.gain_lift.small_sample

    def dismissed_share(self, reason: str) -> float | None:
        return self.dismissed[reason] / self.count if self.count else None


@dataclass(frozen=True)
class Effectiveness:
    start: dt.date
    end: dt.date
    window_days: int
    # False when the period ends less than a window ago: recent anomalies have not had
    # their whole window yet, so their rates are low.
    window_complete: bool
    accounts: int
    rows: list[EffectivenessRow]


def effectiveness_report(
    *, customers, start: dt.date, end: dt.date, today: dt.date
) -> Effectiveness:
    """The effectiveness table of `customers` (a queryset, e.g. `insights_scope`) for
    anomalies that started from `start` to `end`."""
    window_days = outcome_window_days()
    window = dt.timedelta(days=window_days)
    scope_ids = list(customers.order_by().values_list("pk", flat=True))
    anomalies = UsageAnomaly.objects.filter(
        customer_id__in=scope_ids, start_date__gte=start, start_date__lte=end
    ).annotate(family=family_expression())

    def followed_by(kinds, outcomes):
        events = LifecycleEvent.objects.filter(
            customer=OuterRef("customer_id"),
            kind__in=kinds,
            date__gte=OuterRef("start_date"),
            date__lte=ExpressionWrapper(OuterRef("start_date") + window, output_field=DateField()),
        )
        return Q(outcome__in=outcomes) | Q(Exists(events))

    dismissed = {
        reason: Count("pk", filter=Q(status=AnomalyStatus.DISMISSED, dismiss_reason=reason))
        for reason in DISMISS_REASONS
    }
    groups = (
        anomalies.values("anomaly_type", "severity", "family")
        .annotate(
            n=Count("pk"),
            n_accounts=Count("customer_id", distinct=True),
            n_loss=Count("pk", filter=followed_by(LOSS_KINDS, LOSS_OUTCOMES)),
            n_gain=Count("pk", filter=followed_by(GAIN_KINDS, GAIN_OUTCOMES)),
            **{f"n_{reason}": count for reason, count in dismissed.items()},
        )
        .order_by()
    )
    members: dict[tuple, set] = defaultdict(set)
    for row in (
        anomalies.values_list("anomaly_type", "severity", "family", "customer_id")
        .distinct()
        .order_by()
    ):
        members[row[:3]].add(row[3])
    cases = _AccountWindows(scope_ids=scope_ids, start=start, end=end, window_days=window_days)

    rows = []
    for group in groups:
        key = (group["anomaly_type"], group["severity"], group["family"])
        base = cases.without(members[key])
        loss, gain = rate(group["n_loss"], group["n"]), rate(group["n_gain"], group["n"])
        loss_base, gain_base = rate(base.loss, base.total), rate(base.gain, base.total)
        rows.append(
            EffectivenessRow(
                anomaly_type=key[0],
                severity=key[1],
                family=key[2],
                count=group["n"],
                accounts=group["n_accounts"],
                dismissed={reason: group[f"n_{reason}"] for reason in DISMISS_REASONS},
                loss=loss,
                loss_base=loss_base,
                loss_lift=lift(loss, loss_base),
                gain=gain,
                gain_base=gain_base,
                gain_lift=lift(gain, gain_base),
            )
        )
    rows.sort(key=_row_order)
    return Effectiveness(
        start=start,
        end=end,
        window_days=window_days,
        window_complete=end + window <= today,
        accounts=len(scope_ids),
        rows=rows,
    )


def _row_order(row: EffectivenessRow):
    types = list(vocabulary.AnomalyType)
    kind = vocabulary.AnomalyType(row.anomaly_type)
    return (
        types.index(kind),
        -vocabulary.SEVERITY_RANK.get(row.severity, -1),
        family_order(row.family),
    )


@dataclass(frozen=True)
class _Cases:
    total: int
    loss: int
    gain: int


class _AccountWindows:
    """Per account of the scope, how many of its windows were at risk and how many of those
    had a loss or an expansion: three integer arrays in the order of `scope_ids`, so a
    group's base is the scope's sums minus its own accounts' (no loop over accounts)."""

    def __init__(self, *, scope_ids, start: dt.date, end: dt.date, window_days: int):
        self.index = {customer_id: i for i, customer_id in enumerate(scope_ids)}
        n_windows = (end - start).days // window_days + 1
        events = LifecycleEvent.objects.filter(
            customer_id__in=scope_ids,
            kind__in=(*LOSS_KINDS, *GAIN_KINDS),
            date__lt=start + dt.timedelta(days=n_windows * window_days),
        ).values_list("customer_id", "kind", "date")
        rows = [(self.index[c], kind, (date - start).days) for c, kind, date in events]
        account = np.array([r[0] for r in rows], dtype=np.int64)
        kind = np.array([r[1] for r in rows], dtype=object)
        day = np.array([r[2] for r in rows], dtype=np.int64)
        n = len(self.index)

        # An account is at risk in a window unless it churned before the window starts (a
        # churn within the window is that window's loss).
        first_churn = np.full(n, np.iinfo(np.int64).max)
        churned = kind == LifecycleKind.CHURNED
        np.minimum.at(first_churn, account[churned], day[churned])
        window_start = np.arange(n_windows) * window_days
        at_risk = first_churn[:, None] >= window_start[None, :]

        which = day // window_days
        inside = (day >= 0) & (which < n_windows)
        loss = np.zeros((n, n_windows), dtype=bool)
        gain = np.zeros((n, n_windows), dtype=bool)
        is_loss = np.isin(kind, LOSS_KINDS)
        loss[account[inside & is_loss], which[inside & is_loss]] = True
        gain[account[inside & ~is_loss], which[inside & ~is_loss]] = True

        self.total = at_risk.sum(axis=1)
        self.loss = (loss & at_risk).sum(axis=1)
        self.gain = (gain & at_risk).sum(axis=1)

    def without(self, accounts: Iterable) -> _Cases:
        """The cases of the scope's accounts other than `accounts`."""
        keep = np.ones(len(self.index), dtype=bool)
        keep[[self.index[a] for a in accounts if a in self.index]] = False
        return _Cases(
            total=int(self.total[keep].sum()),
            loss=int(self.loss[keep].sum()),
            gain=int(self.gain[keep].sum()),
        )


# --- Precision --------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionCounts:
    """One week's counts (`week` the Monday the anomalies started in), or a whole series'
    (`week` None)."""

    week: dt.date | None
    total: int
    judged: int
    dismissed: dict[str, int]
    mattered: int

    @property
    def precision(self) -> Rate:
        return precision(
            judged=self.judged, false_positives=self.dismissed[DismissReason.FALSE_POSITIVE]
        )


@dataclass(frozen=True)
class PrecisionSeries:
    key: str
    label: str
    weeks: list[PrecisionCounts]
    overall: PrecisionCounts


def _count_fields():
    acted = AnomalyAction.objects.filter(anomaly=OuterRef("pk"), kind__in=ACTED_KINDS)
    dismissed = Q(status=AnomalyStatus.DISMISSED)
    judged = dismissed | ~Q(outcome=Outcome.UNKNOWN) | Q(Exists(acted))
    mattered = ~dismissed & (Q(outcome__in=(*LOSS_OUTCOMES, *GAIN_OUTCOMES)) | Q(Exists(acted)))
    return {
        "n": Count("pk"),
        "n_judged": Count("pk", filter=judged),
        "n_mattered": Count("pk", filter=mattered),
        **{
            f"n_{reason}": Count("pk", filter=dismissed & Q(dismiss_reason=reason))
            for reason in DISMISS_REASONS
        },
    }


def _add(into: dict, row: dict) -> None:
    for name, value in row.items():
        if name.startswith("n"):
            into[name] = into.get(name, 0) + value


def _counts(row: dict, week: dt.date | None = None) -> PrecisionCounts:
    return PrecisionCounts(
        week=week,
        total=row.get("n", 0),
        judged=row.get("n_judged", 0),
        dismissed={reason: row.get(f"n_{reason}", 0) for reason in DISMISS_REASONS},
        mattered=row.get("n_mattered", 0),
    )


def precision_weekly(*, customers, start: dt.date, end: dt.date, by: str) -> list[PrecisionSeries]:
    """Weekly precision of the anomalies of `customers` that started from `start` to `end`,
    one series per value of `by` (one of PRECISION_GROUPINGS). Every week of the period is
    listed, empty ones with zero counts, so series line up.

    `sensitivity` is the preset in force *now* for each anomaly's series (customer and
    metric, resolved in bulk by `detection_config_for_series`): the settings keep no history,
    so an anomaly found under an earlier preset is counted under today's."""
    if by not in PRECISION_GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(PRECISION_GROUPINGS)}, got {by!r}")
    anomalies = UsageAnomaly.objects.filter(
        customer__in=customers.order_by().values("pk"), start_date__gte=start, start_date__lte=end
    ).annotate(week=TruncWeek("start_date"), family=family_expression())
    columns = {
        "type": ["anomaly_type"],
        "severity": ["severity"],
        "family": ["family"],
        "metric": ["metric_type"],
        "sensitivity": ["customer_id", "metric_type"],
        "csm": ["customer__csm_id"],
    }[by]
    rows = list(
        anomalies.values(*columns, "week").annotate(**_count_fields()).order_by(*columns, "week")
    )
    labels = _labels(by=by, rows=rows)
    if by == "sensitivity":
        # A series has a row per week: resolve each series once.
        series = sorted({(row["customer_id"], row["metric_type"]) for row in rows}, key=str)
        configs = detection_config_for_series(series=series)
        preset = {pair: str(c.config.sensitivity) for pair, c in zip(series, configs, strict=True)}
        for row in rows:
            row["key"] = preset[row["customer_id"], row["metric_type"]]
    else:
        for row in rows:
            value = row[columns[0]]
            row["key"] = "" if value is None else str(value)

    first_week = start - dt.timedelta(days=start.weekday())
    weeks = [first_week + dt.timedelta(weeks=i) for i in range((end - first_week).days // 7 + 1)]
    by_key: dict[str, dict[dt.date, dict]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], dt.datetime) else row["week"]
        _add(by_key[row["key"]][week], row)
    series = []
    for key in sorted(by_key, key=lambda k: _series_order(by, k, labels)):
        overall: dict = {}
        for counts in by_key[key].values():
            _add(overall, counts)
        series.append(
            PrecisionSeries(
                key=key,
                label=labels.get(key, key),
                weeks=[_counts(by_key[key].get(w, {}), w) for w in weeks],
                overall=_counts(overall),
            )
        )
    return series


def _labels(*, by: str, rows: list[dict]) -> dict[str, str]:
    if by == "type":
        return {t.value: t.label for t in vocabulary.AnomalyType}
    if by == "severity":
        return {s.value: s.label for s in vocabulary.Severity}
    if by == "sensitivity":
        return {value: f"{label} (in force now)" for value, label in Sensitivity.choices}
    if by == "csm":
        ids = {row["customer__csm_id"] for row in rows} - {None}
        users = get_user_model().objects.filter(pk__in=ids)
        labels = {str(u.pk): u.get_full_name() or u.username for u in users}
        return labels | {"": "No CSM"}
    return {}


def _series_order(by: str, key: str, labels: dict[str, str]):
    if by == "type":
        return list(vocabulary.AnomalyType).index(vocabulary.AnomalyType(key))
    if by == "severity":
        return -vocabulary.SEVERITY_RANK.get(key, -1)
    if by == "family":
        return family_order(key)
    if by == "sensitivity":
        return Sensitivity.values.index(key) if key in Sensitivity.values else len(Sensitivity)
    return labels.get(key, key).lower()
