"""Reads of anomalies, scans and settings, scoped to what the user may see."""

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis
from django.core.cache import cache
from django.db.models import BooleanField, Case, Prefetch, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from customers.models import UsageMetric
from customers.selectors import customer_list_visible

from . import detection
from .detection import DetectionConfig, SeriesBatch, SeriesTrace, series_traces
from .detection.vocabulary import CORE_METRICS, FEATURE_FAMILY, SEVERITY_RANK
from .detection_settings import (
    DEFAULT_SENSITIVITY,
    detection_config_for_scopes,
    settings_scope_of,
)
from .filters import AnomalyFilterSet
from .models import (
    AnomalyAction,
    DetectionSettings,
    FollowUp,
    FollowUpStatus,
    ScanRun,
    TuningProposal,
    UsageAnomaly,
    scan_scope_key,
)
from .scan_inputs import detection_configs, usage_batch
from .scan_isolation import batch_rows

# Days shown around an anomaly: enough history to see the baseline, some after it.
SERIES_BEFORE_DAYS = 42
SERIES_AFTER_DAYS = 14
# History the replay needs before the first shown day for its baseline to be settled.
SERIES_WARMUP_DAYS = 120
# The sensitivity page offers the metrics with usage this recently: what scans still judge
# (the engine's window is 84 days) and the preview replays. Reading them through the
# (customer, date) covering index keeps the page fast on long histories.
METRIC_CHOICE_DAYS = 90
# The fields of a chart's series besides its metric (series_windows).
SERIES_FIELDS = ("dates", "actual", "expected", "expected_low", "expected_high")
# How long a chart's data stays in the cache. Its key changes with any change of its inputs
# (series_windows), so this only bounds the memory of answers nobody asks for again: usage
# arrives daily, and with it new keys.
SERIES_CACHE_SECONDS = 24 * 3600

logger = logging.getLogger(__name__)


def anomaly_list_visible(*, user) -> QuerySet[UsageAnomaly]:
    """The anomalies of the user's accounts (every one for staff). By the anomaly's own copy
    of its account's CSM (UsageAnomaly.csm, kept by the database): an index lookup of the
    user's rows, where filtering on the account's CSM joined every tenant's anomalies."""
    qs = UsageAnomaly.objects.select_related("customer", "dismissed_by")
    if user.is_staff:
        return qs
    return qs.filter(csm=user)


def anomaly_list_with_record(qs: QuerySet[UsageAnomaly]) -> QuerySet[UsageAnomaly]:
    """`qs` with what the anomaly's record shows (its outcome, the lifecycle change it was
    derived from, the actions taken: UsageAnomaly.action_records), in one more query for the
    actions of a whole page."""
    return qs.select_related("outcome_event", "outcome_set_by").prefetch_related(
        Prefetch(
            "actions",
            queryset=AnomalyAction.objects.select_related("user"),
            to_attr="prefetched_actions",
        )
    )


def anomaly_list_with_open_followups(qs: QuerySet[UsageAnomaly]) -> QuerySet[UsageAnomaly]:
    """`qs` with each anomaly's open follow-ups as `open_followups`, soonest due first (one
    more query for a whole page), so a card shows the work already planned on it."""
    return qs.prefetch_related(
        Prefetch(
            "followups",
            queryset=FollowUp.objects.filter(status=FollowUpStatus.OPEN).order_by("due_date"),
            to_attr="open_followups",
        )
    )


def anomaly_list_filtered(
    *, user, filters: AnomalyFilterSet, customer=None
) -> QuerySet[UsageAnomaly]:
    """Visible anomalies (of one customer, if given), narrowed and ordered by a validated
    AnomalyFilterSet: the API's lists, the table page and its export."""
    qs = anomaly_list_with_record(anomaly_list_visible(user=user))
    if customer is not None:
        qs = qs.filter(customer=customer)
    return filters.filter_queryset(qs)


# The period "Are there any usage anomalies for <customer>?" looks back over.
SUMMARY_DAYS = 30


def anomaly_list_for_summary(*, user, customer, since: dt.date) -> list[UsageAnomaly]:
    """What 'Are there any usage anomalies for <customer>?' lists (the API's summary and the
    page's ask box): non-dismissed anomalies that started since `since`, newest first, then
    older ones still open."""
    visible = anomaly_list_visible(user=user).filter(customer=customer)
    recent = (
        visible.exclude(status=UsageAnomaly.Status.DISMISSED)
        .filter(start_date__gte=since)
        .order_by("-detected_at")
    )
    older_open = visible.filter(status=UsageAnomaly.Status.OPEN, start_date__lt=since)
    return [*recent, *older_open]


# The portfolio of nobody: accounts without a CSM (?csm=(none) on the portfolio page). No
# username can take it: Django's usernames hold letters, digits and @.+-_ only.
UNOWNED_PORTFOLIO = "(none)"


def anomalies_of_portfolio(
    qs: QuerySet[UsageAnomaly], *, csm_username: str
) -> QuerySet[UsageAnomaly]:
    """`qs` narrowed to one CSM's accounts, to the unowned ones (UNOWNED_PORTFOLIO), or left
    whole ("")."""
    if csm_username == UNOWNED_PORTFOLIO:
        return qs.filter(csm__isnull=True)
    if csm_username:
        return qs.filter(csm__username=csm_username)
    return qs


def anomaly_list_portfolio_summary(*, user, csm_username: str = "") -> list[tuple]:
    """What 'Are there any usage anomalies for my accounts?' lists: each visible account
    (of one CSM, when staff look at their portfolio) with open anomalies as (customer, its
    open anomalies), most severe account first; within an account, most severe and largest
    deviation first. One query."""
    qs = anomalies_of_portfolio(
        anomaly_list_visible(user=user).filter(status=UsageAnomaly.Status.OPEN),
        csm_username=csm_username,
    )
    by_customer: dict = {}
    for anomaly in qs:
        by_customer.setdefault(anomaly.customer_id, []).append(anomaly)

    def worst_first(anomaly):
        return (-SEVERITY_RANK[anomaly.severity], -abs(float(anomaly.deviation_percent)))

    groups = [sorted(rows, key=worst_first) for rows in by_customer.values()]
    groups.sort(key=lambda rows: (*worst_first(rows[0]), rows[0].customer.name.lower()))
    return [(rows[0].customer, rows) for rows in groups]


def anomaly_get_visible(*, user, anomaly_id) -> UsageAnomaly:
    anomaly = (
        anomaly_list_with_record(anomaly_list_visible(user=user)).filter(pk=anomaly_id).first()
    )
    if anomaly is None:
        raise Http404("No such anomaly.")
    return anomaly


def anomaly_series(*, anomaly: UsageAnomaly, today: dt.date) -> dict:
    """The days around an anomaly with what the engine expected of each: for a chart."""
    last = min(today, (anomaly.end_date or today) + dt.timedelta(days=SERIES_AFTER_DAYS))
    first = anomaly.start_date - dt.timedelta(days=SERIES_BEFORE_DAYS)
    return series_window(
        customer=anomaly.customer, metric=anomaly.metric_type, first=first, last=last
    )


def series_window(*, customer, metric: str, first: dt.date, last: dt.date) -> dict:
    return series_windows(customer=customer, metrics=[metric], first=first, last=last)[0]


def series_windows(*, customer, metrics: list[str], first: dt.date, last: dt.date) -> list[dict]:
    """Each metric's days first..last with what the engine expected of each (for a chart),
    in the order given: one read of the account's usage and settings, one replay of all the
    metrics together (`series_traces`), and no replay at all while the usage, the settings
    and the engine are those of an answer in the cache."""
    inputs = series_inputs(customer=customer, metrics=metrics, first=first, last=last)
    key = inputs.cache_key()
    windows = _cache_get(key)
    if windows is None:
        traces = series_traces(
            inputs.batch.values,
            start=inputs.batch.start,
            metrics=inputs.batch.metrics,
            configs=inputs.configs,
        )
        windows = inputs.windows(traces)
        _cache_set(key, windows)
    return windows


@dataclass(frozen=True)
class SeriesInputs:
    """What the charts of `metrics` over first..last are computed from: the account's usage
    from SERIES_WARMUP_DAYS before `first` (the batch, one row per metric with data) and each
    row's detection settings."""

    metrics: tuple[str, ...]
    first: dt.date
    last: dt.date
    batch: SeriesBatch
    configs: list[DetectionConfig]

    def cache_key(self) -> str:
        """A digest of everything the windows depend on: the values themselves (a corrected
        or late row changes it), the settings, the window and the engine's code. Keyed on
        the inputs rather than on a scan or a timestamp, no write has to remember to
        invalidate it."""
        digest = hashlib.sha256()
        for part in (
            _engine_version(),
            self.first.isoformat(),
            self.last.isoformat(),
            self.batch.start.isoformat(),
            repr(self.metrics),
            repr(self.batch.metrics),
            repr(self.configs),
            repr(self.batch.values.shape),
        ):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(np.ascontiguousarray(self.batch.values).tobytes())
        return f"series-windows:{digest.hexdigest()}"

    def windows(self, traces: Sequence[SeriesTrace]) -> list[dict]:
        """The charts' data, in the order of `metrics`, from one trace per batch row."""
        of_metric = dict(zip(self.batch.metrics, traces, strict=True))
        shown = slice((self.first - self.batch.start).days, (self.last - self.batch.start).days + 1)
        days = [
            (self.first + dt.timedelta(days=i)).isoformat()
            for i in range((self.last - self.first).days + 1)
        ]

        def clean(values: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else round(float(v), 2) for v in values[shown]]

        windows: list[dict[str, object]] = []
        for metric in self.metrics:
            trace = of_metric.get(metric)
            if trace is None:
                windows.append({"metric": metric, **{name: [] for name in SERIES_FIELDS}})
                continue
            windows.append(
                {
                    "metric": metric,
                    "dates": list(days),
                    "actual": clean(trace.actual),
                    "expected": clean(trace.expected),
                    "expected_low": clean(trace.expected_low),
                    "expected_high": clean(trace.expected_high),
                }
            )
        return windows


def series_inputs(*, customer, metrics: list[str], first: dt.date, last: dt.date) -> SeriesInputs:
    """The usage and settings the charts of `metrics` over first..last are computed from."""
    # Not before the calendar's first day (a row dated 0001-01-05 would overflow it).
    warmup = first - dt.timedelta(days=min(SERIES_WARMUP_DAYS, (first - dt.date.min).days))
    # The scan's own read (one binary COPY row per series), narrowed to the charted metrics.
    batch = usage_batch(customer_ids=[customer.pk], start=warmup, end=last)
    wanted = set(metrics)
    batch = batch_rows(batch, [i for i, m in enumerate(batch.metrics) if m in wanted])
    return SeriesInputs(tuple(metrics), first, last, batch, detection_configs(batch=batch))


@functools.cache
def _engine_version() -> str:
    """A digest of the engine's source: a deploy that changes what the engine expects must
    not serve charts the previous engine drew from the cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(detection.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_get(key: str) -> list[dict] | None:
    # The cache only saves time: when Redis is unreachable the page replays instead.
    try:
        return cache.get(key)
    except redis.RedisError as exc:
        logger.warning("Chart cache unreachable, replaying: %s", exc)
        return None


def _cache_set(key: str, windows: list[dict]) -> None:
    try:
        cache.set(key, windows, SERIES_CACHE_SECONDS)
    except redis.RedisError as exc:
        logger.warning("Chart cache unreachable, not kept: %s", exc)


def scan_run_latest_of_customer(*, customer) -> ScanRun | None:
    """The latest scan of this one account (a Rescan from its page), if any."""
    return (
        ScanRun.objects.filter(scope_key=scan_scope_key([customer.pk]))
        .order_by("-created_at")
        .first()
    )


def scan_run_get_visible(*, user, run_id) -> ScanRun:
    qs = ScanRun.objects.all()
    if not user.is_staff:
        qs = qs.filter(triggered_by=user)
    run = qs.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such scan.")
    return run


def settings_list_visible(*, user) -> QuerySet[DetectionSettings]:
    qs = DetectionSettings.objects.select_related("updated_by", "customer")
    if user.is_staff:
        return qs
    return qs.filter(customer__isnull=True) | qs.filter(customer__csm=user)


def settings_in_force_visible(*, user) -> list[DetectionSettings]:
    """The settings rows the user sees, global and per-metric first, each with `in_force`:
    the ConfigInForce at its scope (its own values merged with the broader scopes' and the
    preset's). Global is always there: an unsaved row when nobody saved global settings, so
    the values in force read the same whether or not someone did. Two queries."""
    rows = sorted(
        settings_list_visible(user=user).order_by("customer__name", "customer_id", "metric"),
        # Global, then per metric, then the customers' (the sort is stable).
        key=lambda r: (r.customer_id is not None, r.customer_id is None and r.metric != ""),
    )
    if not rows or rows[0].customer_id is not None or rows[0].metric:
        rows.insert(0, DetectionSettings(customer=None, metric="", sensitivity=DEFAULT_SENSITIVITY))
    return settings_with_in_force(rows)


def settings_with_in_force(rows: list[DetectionSettings]) -> list[DetectionSettings]:
    """`rows`, each with `in_force`: the ConfigInForce at its scope (one read of the settings
    for all of them)."""
    configs = detection_config_for_scopes(scopes=[settings_scope_of(row) for row in rows])
    for row, config in zip(rows, configs, strict=True):
        # An annotation, like a queryset's: the serializer and the page read it off the row.
        row.in_force = config  # type: ignore[attr-defined]
    return rows


def settings_metric_choices(*, user) -> list[str]:
    """The metrics a settings scope may name on the sensitivity page: those of the user's
    accounts' recent usage (METRIC_CHOICE_DAYS), the core metrics the rules know (a scope
    may be set before their data arrives), and those of the overrides the user sees (so
    each can be changed or removed)."""
    since = timezone.localdate() - dt.timedelta(days=METRIC_CHOICE_DAYS)
    usage = (
        UsageMetric.objects.filter(customer__in=customer_list_visible(user=user), date__gte=since)
        .values_list("metric", flat=True)
        .distinct()
    )
    saved = settings_list_visible(user=user).values_list("metric", flat=True).distinct()
    others = {*usage, *saved} - {"", FEATURE_FAMILY, *CORE_METRICS}
    # The core metrics first, as the account page charts them.
    return [*CORE_METRICS, *sorted(others)]


def usage_exists(*, customer, metric: str) -> bool:
    return UsageMetric.objects.filter(customer=customer, metric=metric).exists()


def visible_customer_ids(*, user, ids) -> list:
    """The given ids if all are visible to the user; 404 otherwise (unknown reads the same
    as another CSM's)."""
    found = set(customer_list_visible(user=user).filter(pk__in=ids).values_list("pk", flat=True))
    if len(found) != len(set(ids)):
        raise Http404("No such customer.")
    return sorted(found)


def tuning_proposal_list() -> QuerySet[TuningProposal]:
    """Every tuning proposal, newest first, with the people who decided."""
    return TuningProposal.objects.select_related("decided_by", "reverted_by").order_by(
        "-created_at"
    )


def anomaly_list_by_ids(*, ids) -> dict[str, UsageAnomaly]:
    """Anomalies by their id as a string, with their customers (for staff pages that name
    anomalies kept by id, e.g. a tuning proposal's backtest); unknown ids are left out."""
    anomalies = UsageAnomaly.objects.filter(pk__in=ids).select_related("customer")
    return {str(a.pk): a for a in anomalies}


def followup_list_visible(
    *, user, customer=None, today: dt.date | None = None
) -> QuerySet[FollowUp]:
    """The follow-ups `user` may see (of one customer, if given): those of their own
    accounts (whoever opened them), or every one for staff; each with `overdue` (open, due
    before `today`). Open ones first, the most urgent first; closed ones latest first."""
    today = today or timezone.localdate()
    qs = FollowUp.objects.select_related("customer", "anomaly", "owner", "closed_by").annotate(
        overdue=Case(
            When(FollowUp.overdue_q(today), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        is_open=Case(
            When(status=FollowUpStatus.OPEN, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    )
    if not user.is_staff:
        qs = qs.filter(customer__csm=user)
    if customer is not None:
        qs = qs.filter(customer=customer)
    return qs.order_by("-is_open", "due_date", "-closed_at", "created_at")


def followup_list_mine(*, user, status: str = "", everyone: bool = False) -> QuerySet[FollowUp]:
    """The "My follow-ups" page and the API's list: a CSM's are every follow-up of their
    accounts; staff's are the ones they own or on accounts they own, or every one with
    `everyone`. `status` narrows to one FollowUpStatus ("" for all)."""
    qs = followup_list_visible(user=user)
    if user.is_staff and not everyone:
        qs = qs.filter(Q(owner=user) | Q(customer__csm=user))
    if status:
        qs = qs.filter(status=status)
    return qs


def followup_get_visible(*, user, followup_id) -> FollowUp:
    """The follow-up, or 404 when it does not exist or is of another CSM's account."""
    followup = followup_list_visible(user=user).filter(pk=followup_id).first()
    if followup is None:
        raise Http404("No such follow-up.")
    return followup
