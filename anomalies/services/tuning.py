"""Tuning proposals: false-positive rates from the team's own judgements, a backtest of each
proposed change over stored usage, and the decisions (accept, reject, revert) that write the
detection settings with who, when and why. Nothing here changes a threshold on its own:
`proposals_create` only proposes; staff decide on /insights/tuning/.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from customers.models import LifecycleEvent, LifecycleKind, UsageMetric

from .. import scan_inputs
from ..detection import detect
from ..detection.config import PER_SERIES_FIELDS
from ..detection.types import SeriesBatch
from ..detection.vocabulary import FEATURE_FAMILY, FEATURE_PREFIX, metric_family
from ..detection_settings import detection_config_for_scope, detection_config_for_series
from ..models import (
    AnomalyAction,
    AnomalyStatus,
    DetectionSettings,
    DismissReason,
    Outcome,
    TuningProposal,
    TuningStatus,
    UsageAnomaly,
)
from ..scan_isolation import batch_rows
from ..selectors_insights import ACTED_KINDS, family_expression, outcome_window_days
from ..settings_preview import PREVIEW_WARMUP_DAYS, finding_spans, span_overlaps
from ..tuning import ScopeCounts, proposal_drafts
from .detection_settings import settings_delete, settings_save

logger = logging.getLogger(__name__)

# The brief's window: a change is judged on half a year of real stored usage.
BACKTEST_DAYS = 180
# False-positive rates are read from the anomalies that started in this many days: a year,
# since a scope needs MIN_JUDGED judged anomalies and a team of a few CSMs judges one
# scope's alerts a few times a month (the demo's feature drops: 11 in half a year, 37 in one).
JUDGEMENT_DAYS = 365
# A rejected change is not proposed again for four weeks (the team said no; a week's new
# judgements rarely change that).
REJECTED_QUIET_DAYS = 28
# The backtest reads usage and runs the engine this many accounts at a time, so memory stays
# bounded on a large portfolio.
BACKTEST_CUSTOMERS_PER_BATCH = 500


class Judgement(StrEnum):
    """How the team judged an anomaly, most telling first: a churn outranks a dismissal."""

    LED_TO_CHURN = "led_to_churn"
    ACTED_ON = "acted_on"
    FALSE_POSITIVE = "false_positive"
    DISMISSED_OTHER = "dismissed_other"
    OUTCOME_KNOWN = "outcome_known"
    UNJUDGED = "unjudged"


# The backtest table's columns, in the order the brief asks its question: how many false
# positives go, at the price of how many that were acted on or led to churn.
JUDGEMENT_COLUMNS = {
    Judgement.FALSE_POSITIVE: "Dismissed as false positive",
    Judgement.ACTED_ON: "Acted on",
    Judgement.LED_TO_CHURN: "Led to churn",
    Judgement.DISMISSED_OTHER: "Dismissed, other reason",
    Judgement.OUTCOME_KNOWN: "Outcome recorded",
    Judgement.UNJUDGED: "Not judged",
}


class TuningError(ValueError):
    """A decision that cannot be made as asked; the message says why, for the page."""


@dataclass
class Backtest:
    """A proposal's replay over stored usage: the stored anomalies of the affected series
    that the replay with the settings in force finds again, split into those the proposed
    settings would no longer find (`disappear`) and those they keep, by judgement."""

    days: int = BACKTEST_DAYS
    first_day: str = ""
    series: int = 0
    found_now: int = 0
    found_proposed: int = 0
    disappear: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Judgement, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Judgement, 0))
    # Stored anomalies the replay with today's settings does not find either (found by a
    # scan with other settings or hints): the proposal's effect on them is unknown.
    not_reproduced: int = 0
    hidden_churn: list[str] = field(default_factory=list)

    @property
    def disappear_total(self) -> int:
        return sum(self.disappear.values())


def judged_anomalies(queryset: QuerySet[UsageAnomaly] | None = None) -> QuerySet[Any]:
    """Anomalies annotated with their `judgement` (Judgement) and metric `family` (typed
    Any: the type checker cannot see annotations as fields)."""
    queryset = UsageAnomaly.objects.all() if queryset is None else queryset
    window = dt.timedelta(days=outcome_window_days())
    churn_after = LifecycleEvent.objects.filter(
        customer=OuterRef("customer"),
        kind=LifecycleKind.CHURNED,
        date__gte=OuterRef("start_date"),
        date__lte=OuterRef("start_date") + window,
    )
    dismissed = Q(status=AnomalyStatus.DISMISSED)
    return queryset.annotate(
        judgement=Case(
            When(
                Q(outcome=Outcome.CHURNED) | Exists(churn_after), then=Value(Judgement.LED_TO_CHURN)
            ),
            When(_acted_on(), then=Value(Judgement.ACTED_ON)),
            When(
                dismissed & Q(dismiss_reason=DismissReason.FALSE_POSITIVE),
                then=Value(Judgement.FALSE_POSITIVE),
            ),
            When(dismissed, then=Value(Judgement.DISMISSED_OTHER)),
            When(~Q(outcome=Outcome.UNKNOWN), then=Value(Judgement.OUTCOME_KNOWN)),
            default=Value(Judgement.UNJUDGED),
            output_field=CharField(),
        ),
        family=family_expression(),
    )


def _acted_on() -> Exists:
    """Whether a CSM acted on the anomaly (the insights' ACTED_KINDS)."""
    return Exists(AnomalyAction.objects.filter(anomaly=OuterRef("pk"), kind__in=ACTED_KINDS))


def scope_counts(*, since: dt.date, until: dt.date) -> list[ScopeCounts]:
    """Judged and false-positive counts per anomaly type and metric family, for anomalies
    that started between `since` and `until`, as /insights/ counts precision (judged:
    dismissed, an outcome other than unknown, or acted on; false positive: dismissed as
    one, whatever followed): one grouped query."""
    dismissed = Q(status=AnomalyStatus.DISMISSED)
    rows = (
        UsageAnomaly.objects.filter(start_date__range=(since, until))
        .annotate(family=family_expression(), acted_on=_acted_on())
        .values("anomaly_type", "family")
        .annotate(
            judged=Count("pk", filter=dismissed | ~Q(outcome=Outcome.UNKNOWN) | Q(acted_on=True)),
            false_positives=Count(
                "pk", filter=dismissed & Q(dismiss_reason=DismissReason.FALSE_POSITIVE)
            ),
        )
        .order_by("anomaly_type", "family")
    )
    return [
        ScopeCounts(r["anomaly_type"], r["family"], r["judged"], r["false_positives"]) for r in rows
    ]


def proposals_create(*, as_of: dt.date | None = None) -> list[TuningProposal]:
    """The weekly run: a proposal, backtested, for every scope whose false-positive rate over
    the last JUDGEMENT_DAYS exceeds TUNING_TARGET_FALSE_POSITIVE_RATE. It replaces every
    waiting proposal (last week's evidence is stale: a scope back within the target loses
    its proposal). Left alone: a family whose settings an accepted proposal changed within
    the window (its judgements predate the change), a scope whose proposal was rejected or
    reverted in the last REJECTED_QUIET_DAYS, and a change that would change nothing."""
    as_of = as_of or timezone.localdate()
    target = settings.TUNING_TARGET_FALSE_POSITIVE_RATE
    since = as_of - dt.timedelta(days=JUDGEMENT_DAYS - 1)
    now = timezone.now()
    settled = set(
        TuningProposal.objects.filter(
            status=TuningStatus.ACCEPTED, decided_at__gte=now - dt.timedelta(days=JUDGEMENT_DAYS)
        ).values_list("settings_metric", flat=True)
    )
    quiet_since = now - dt.timedelta(days=REJECTED_QUIET_DAYS)
    refused = set(
        TuningProposal.objects.filter(
            Q(status=TuningStatus.REJECTED, decided_at__gte=quiet_since)
            | Q(status=TuningStatus.REVERTED, reverted_at__gte=quiet_since)
        ).values_list("anomaly_type", "metric_family")
    )
    counts = [
        c
        for c in scope_counts(since=since, until=as_of)
        if c.metric_family not in settled and (c.anomaly_type, c.metric_family) not in refused
    ]
    thresholds = {
        family: _thresholds(detection_config_for_scope(metric=family).config)
        for family in {c.metric_family for c in counts}
    }
    proposals = []
    # The backtests take seconds each: run before the transaction that swaps the proposals.
    for draft in proposal_drafts(counts, thresholds=thresholds, target=target):
        family = draft.counts.metric_family
        backtest = proposal_backtest(family=family, change=draft.change, as_of=as_of)
        # A change that alters nothing, neither the stored anomalies nor the replay's own
        # findings, is not worth anyone's decision.
        if backtest.disappear_total == 0 and backtest.found_proposed >= backtest.found_now:
            logger.info("tuning: %s would hide nothing in %s days", draft.text, BACKTEST_DAYS)
            continue
        proposals.append(
            TuningProposal(
                anomaly_type=draft.counts.anomaly_type,
                metric_family=family,
                severity=draft.counts.severity,
                settings_metric=family,
                judged=draft.counts.judged,
                false_positives=draft.counts.false_positives,
                false_positive_rate=draft.counts.false_positive_rate,
                target_rate=target,
                judged_since=since,
                change=draft.change,
                text=draft.text,
                backtest=asdict(backtest),
                hides_churn=bool(backtest.hidden_churn),
            )
        )
    with transaction.atomic():
        TuningProposal.objects.filter(status=TuningStatus.PENDING).delete()
        return TuningProposal.objects.bulk_create(proposals)


def _thresholds(config) -> dict[str, float]:
    return {name: getattr(config, name) for name in PER_SERIES_FIELDS}


def proposal_backtest(*, family: str, change: dict, as_of: dt.date) -> Backtest:
    """Replay the last BACKTEST_DAYS of stored usage of every series in `family` (feature:*
    or one metric) with the settings in force and with `change` saved on the family's scope,
    and sort the stored anomalies of those series by what the change would do to them.

    The replay is the sensitivity preview's (settings_preview): the engine day by day over
    the stored usage, without the hints of dismissals a scan adds. A stored anomaly counts
    as found when a finding of its series and direction overlaps its days."""
    first_day = as_of - dt.timedelta(days=BACKTEST_DAYS - 1)
    start = first_day - dt.timedelta(days=PREVIEW_WARMUP_DAYS)
    in_family = (
        Q(metric__startswith=FEATURE_PREFIX) if family == FEATURE_FAMILY else Q(metric=family)
    )
    customer_ids = sorted(
        {
            str(pk)
            for pk in UsageMetric.objects.filter(in_family, date__range=(first_day, as_of))
            .values_list("customer_id", flat=True)
            .distinct()
        }
    )
    proposed = DetectionSettings(customer=None, metric=family, **_values_after(change, family))
    result = Backtest(first_day=first_day.isoformat())
    for i in range(0, len(customer_ids), BACKTEST_CUSTOMERS_PER_BATCH):
        ids = customer_ids[i : i + BACKTEST_CUSTOMERS_PER_BATCH]
        frame = scan_inputs.usage_frame(customer_ids=ids, start=start, end=as_of)
        batch = _family_only(
            scan_inputs.series_batch(frame, customer_ids=ids, start=start, end=as_of), family
        )
        if batch.n_series == 0:
            continue
        series = list(zip(batch.groups, batch.metrics, strict=True))
        now_configs = [r.config for r in detection_config_for_series(series=series)]
        new_configs = [
            r.config for r in detection_config_for_series(series=series, override=proposed)
        ]
        found_now = finding_spans(
            detect(batch, config=now_configs, backtest=True).findings, first_day
        )
        found_new = finding_spans(
            detect(batch, config=new_configs, backtest=True).findings, first_day
        )
        result.series += batch.n_series
        result.found_now += sum(len(v) for v in found_now.values())
        result.found_proposed += sum(len(v) for v in found_new.values())
        stored = judged_anomalies(
            UsageAnomaly.objects.filter(
                in_family_anomaly(family), customer_id__in=ids, start_date__range=(first_day, as_of)
            )
        ).values_list(
            "pk", "customer_id", "metric_type", "direction", "start_date", "end_date", "judgement"
        )
        for pk, customer, metric, direction, a_start, a_end, judgement in stored:
            key = (str(customer), metric, direction)
            span = (a_start, a_end or as_of)
            if not span_overlaps(span, found_now.get(key, ())):
                result.not_reproduced += 1
            elif span_overlaps(span, found_new.get(key, ())):
                result.kept[judgement] += 1
            else:
                result.disappear[judgement] += 1
                if judgement == Judgement.LED_TO_CHURN:
                    result.hidden_churn.append(str(pk))
    return result


def in_family_anomaly(family: str) -> Q:
    """The anomalies of a metric family."""
    if family == FEATURE_FAMILY:
        return Q(metric_type__startswith=FEATURE_PREFIX)
    return Q(metric_type=family)


def _family_only(batch: SeriesBatch, family: str) -> SeriesBatch:
    """The batch's series of one metric family (the others are not touched by the change)."""
    return batch_rows(batch, [i for i, m in enumerate(batch.metrics) if metric_family(m) == family])


def _row_values(row: DetectionSettings) -> dict:
    return {"sensitivity": row.sensitivity} | {
        name: getattr(row, name) for name in PER_SERIES_FIELDS
    }


def _values_after(change: dict, settings_metric: str, row: DetectionSettings | None = None) -> dict:
    """The scope's row values once `change` is applied. A scope without a row of its own
    gets one with the sensitivity it inherits (so only the changed thresholds differ)."""
    if row is None:
        row = DetectionSettings.objects.filter(customer=None, metric=settings_metric).first()
    if row is not None:
        values = _row_values(row)
    else:
        values = dict.fromkeys(PER_SERIES_FIELDS) | {
            "sensitivity": detection_config_for_scope(metric="").config.sensitivity
        }
    for name, step in change.items():
        values[name] = step["to"]
    return values


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise TuningError("reason: say why, for whoever reads the settings' history.")
    return reason


def _pending(proposal: TuningProposal) -> TuningProposal:
    locked = TuningProposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != TuningStatus.PENDING:
        raise TuningError(f"This proposal was already {locked.get_status_display().lower()}.")
    return locked


def proposal_accept(*, proposal: TuningProposal, user, reason: str) -> TuningProposal:
    """Write the proposed thresholds on the proposal's settings scope (through settings_save,
    which records the user), keeping the row's previous values for a revert. Refused if the
    thresholds in force are no longer those the proposal starts from."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _pending(proposal)
        in_force = detection_config_for_scope(metric=locked.settings_metric).config
        moved = [
            name for name, step in locked.change.items() if getattr(in_force, name) != step["from"]
        ]
        if moved:
            raise TuningError(
                f"The settings changed since this proposal was made ({', '.join(moved)}); "
                "the next weekly run proposes from the new values."
            )
        row = (
            DetectionSettings.objects.select_for_update()
            .filter(customer=None, metric=locked.settings_metric)
            .first()
        )
        locked.previous = (
            {"exists": False} if row is None else {"exists": True, "values": _row_values(row)}
        )
        settings_save(
            customer_id=None,
            metric=locked.settings_metric,
            values=_values_after(locked.change, locked.settings_metric, row),
            user=user,
        )
        _decide(locked, TuningStatus.ACCEPTED, user, reason)
    return locked


def proposal_reject(*, proposal: TuningProposal, user, reason: str) -> TuningProposal:
    reason = _reason(reason)
    with transaction.atomic():
        locked = _pending(proposal)
        _decide(locked, TuningStatus.REJECTED, user, reason)
    return locked


def _decide(proposal: TuningProposal, status: str, user, reason: str) -> None:
    proposal.status = status
    proposal.decided_by = user
    proposal.decided_at = timezone.now()
    proposal.reason = reason
    proposal.save()


def proposal_revert(*, proposal: TuningProposal, user, reason: str) -> TuningProposal:
    """Put back the settings row an accepted proposal replaced (or remove the row it
    created). Refused when a later accepted proposal changed the same scope (revert that one
    first) or someone changed the proposed thresholds since (the page is where to edit)."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = TuningProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != TuningStatus.ACCEPTED:
            raise TuningError("Only an accepted proposal can be reverted.")
        later = TuningProposal.objects.filter(
            status=TuningStatus.ACCEPTED,
            settings_metric=locked.settings_metric,
            decided_at__gt=locked.decided_at,
        ).first()
        if later is not None:
            raise TuningError(f"Revert the later accepted proposal first: {later.text}.")
        row = (
            DetectionSettings.objects.select_for_update()
            .filter(customer=None, metric=locked.settings_metric)
            .first()
        )
        edited = [
            name
            for name, step in locked.change.items()
            if row is None or getattr(row, name) != step["to"]
        ]
        if edited:
            raise TuningError(
                "The settings were changed after this proposal was accepted "
                f"({', '.join(edited)}); change them on the sensitivity page."
            )
        previous = locked.previous or {"exists": False}  # never None once accepted
        if previous["exists"]:
            settings_save(
                customer_id=None,
                metric=locked.settings_metric,
                values=previous["values"],
                user=user,
            )
        else:
            settings_delete(customer_id=None, metric=locked.settings_metric)
        locked.status = TuningStatus.REVERTED
        locked.reverted_by = user
        locked.reverted_at = timezone.now()
        locked.revert_reason = reason
        locked.save()
    return locked
