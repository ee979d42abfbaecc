"""What a settings change would have done: the anomalies a day-by-day replay of the last
PREVIEW_DAYS finds with the settings in force and with an unsaved change, nothing written.
The sensitivity page shows it before a CSM saves: the counts, and which anomalies the change
would add or remove."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from customers.models import Customer, CustomerStatus
from customers.selectors import customer_list_visible

from . import scan_inputs
from .detection import detect
from .detection.types import Finding
from .detection.vocabulary import SEVERITY_RANK, AnomalyType, Direction, Severity
from .detection_settings import detection_config_for_series
from .models import DetectionSettings

PREVIEW_DAYS = 90
# History the engine needs before the first previewed day to have a baseline (its window and
# the seasonal fit); with less, the first weeks of the preview would find nothing.
PREVIEW_WARMUP_DAYS = 120
# A preview runs the engine inside the request: past this many accounts it would take too
# long, so it counts the first ones (by name) and says so.
PREVIEW_MAX_CUSTOMERS = 200
# Anomalies listed per side (added, removed), worst first; the page says how many more.
PREVIEW_LIST_MAX = 20

Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class PreviewAnomaly:
    """An anomaly of the replay, named for the page."""

    customer_id: str
    customer_name: str
    metric: str
    type: AnomalyType
    severity: Severity
    direction: Direction
    start: dt.date


@dataclass(frozen=True)
class PreviewChanges:
    """The anomalies on one side of a change (added or removed): the first PREVIEW_LIST_MAX,
    worst and newest first, and how many there are."""

    listed: tuple[PreviewAnomaly, ...] = ()
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.listed)


@dataclass(frozen=True)
class Preview:
    new: int
    current: int
    customers: int
    capped: bool
    # Anomalies only one of the two replays finds: an event of the same series and direction
    # found by both on overlapping days is the same one, whatever its exact start.
    added: PreviewChanges = PreviewChanges()
    removed: PreviewChanges = PreviewChanges()
    days: int = PREVIEW_DAYS


def settings_preview(
    *, user, customer: Customer | None, metric: str, values: dict, as_of: dt.date
) -> Preview:
    """Anomalies found in the PREVIEW_DAYS up to `as_of` with the settings as they are
    (`current`) and with `values` saved on the scope (customer, metric) (`new`), and those
    only one of them finds. A customer's scope replays that account; a global or per-metric
    scope the user's accounts that have not churned."""
    if customer is not None:
        customers = [customer]
    else:
        customers = list(
            customer_list_visible(user=user)
            .exclude(status=CustomerStatus.CHURNED)
            .order_by("name", "pk")[: PREVIEW_MAX_CUSTOMERS + 1]
        )
    capped = len(customers) > PREVIEW_MAX_CUSTOMERS
    names = {str(c.pk): c.name for c in customers[:PREVIEW_MAX_CUSTOMERS]}
    ids = list(names)
    start = as_of - dt.timedelta(days=PREVIEW_DAYS + PREVIEW_WARMUP_DAYS - 1)
    frame = scan_inputs.usage_frame(customer_ids=ids, start=start, end=as_of)
    batch = scan_inputs.series_batch(frame, customer_ids=ids, start=start, end=as_of)
    if batch.n_series == 0:
        return Preview(new=0, current=0, customers=len(ids), capped=capped)
    first_day = as_of - dt.timedelta(days=PREVIEW_DAYS - 1)
    series = list(zip(batch.groups, batch.metrics, strict=True))
    unsaved = DetectionSettings(customer=customer, metric=metric, **values)

    def replay(override: DetectionSettings | None) -> list[Finding]:
        resolved = detection_config_for_series(series=series, override=override)
        return detect(batch, config=[r.config for r in resolved], backtest=True).findings

    now, then = replay(None), replay(unsaved)
    return Preview(
        new=sum(1 for f in then if f.start >= first_day),
        current=sum(1 for f in now if f.start >= first_day),
        customers=len(ids),
        capped=capped,
        added=_only_in(then, besides=now, first_day=first_day, names=names),
        removed=_only_in(now, besides=then, first_day=first_day, names=names),
    )


def finding_spans(findings: Iterable[Finding], since: dt.date) -> dict[tuple, list[Span]]:
    """Each series and direction's findings as (first, last day), those lasting to `since`
    or later."""
    spans = defaultdict(list)
    for f in findings:
        last = f.end or f.last_seen
        if last >= since:
            spans[(f.account, f.metric, str(f.direction))].append((f.start, last))
    return spans


def span_overlaps(span: Span, spans: Iterable[Span]) -> bool:
    first, last = span
    return any(s <= last and first <= e for s, e in spans)


def _only_in(
    findings: Sequence[Finding], *, besides: Sequence[Finding], first_day: dt.date, names: dict
) -> PreviewChanges:
    """The findings starting in the previewed days that `besides` has nothing of on
    overlapping days (same series and direction)."""
    # `besides` from any day: an event it found starting before the window is the same one.
    other = finding_spans(besides, since=dt.date.min)
    only = [
        f
        for f in findings
        if f.start >= first_day
        and not span_overlaps(
            (f.start, f.end or f.last_seen), other.get((f.account, f.metric, str(f.direction)), ())
        )
    ]
    only.sort(key=lambda f: (-SEVERITY_RANK[f.severity], -f.start.toordinal(), names[f.account]))
    return PreviewChanges(
        listed=tuple(
            PreviewAnomaly(
                customer_id=f.account,
                customer_name=names[f.account],
                metric=f.metric,
                type=f.type,
                severity=f.severity,
                direction=f.direction,
                start=f.start,
            )
            for f in only[:PREVIEW_LIST_MAX]
        ),
        total=len(only),
    )
