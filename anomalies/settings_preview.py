"""What a settings change would have done: the anomalies a day-by-day replay of the last
PREVIEW_DAYS finds with the settings in force and with an unsaved change, nothing written.
The sensitivity page shows it before a CSM saves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from customers.models import Customer, CustomerStatus
from customers.selectors import customer_list_visible

from . import scan_inputs
from .detection import detect
from .detection_settings import detection_config_for_series
from .models import DetectionSettings

PREVIEW_DAYS = 90
# History the engine needs before the first previewed day to have a baseline (its window and
# the seasonal fit); with less, the first weeks of the preview would find nothing.
PREVIEW_WARMUP_DAYS = 120
# A preview runs the engine inside the request: past this many accounts it would take too
# long, so it counts the first ones (by name) and says so.
PREVIEW_MAX_CUSTOMERS = 200


@dataclass(frozen=True)
class Preview:
    new: int
    current: int
    customers: int
    capped: bool
    days: int = PREVIEW_DAYS


def settings_preview(
    *, user, customer: Customer | None, metric: str, values: dict, as_of: dt.date
) -> Preview:
    """Anomalies found in the PREVIEW_DAYS up to `as_of` with the settings as they are
    (`current`) and with `values` saved on the scope (customer, metric) (`new`). A customer's
    scope replays that account; a global or per-metric scope the user's accounts that have
    not churned."""
    if customer is not None:
        customers = [customer]
    else:
        customers = (
            customer_list_visible(user=user)
            .exclude(status=CustomerStatus.CHURNED)
            .order_by("name", "pk")
        )
    ids = [c.pk for c in customers[: PREVIEW_MAX_CUSTOMERS + 1]]
    capped = len(ids) > PREVIEW_MAX_CUSTOMERS
    ids = [str(pk) for pk in ids[:PREVIEW_MAX_CUSTOMERS]]
    start = as_of - dt.timedelta(days=PREVIEW_DAYS + PREVIEW_WARMUP_DAYS - 1)
    frame = scan_inputs.usage_frame(customer_ids=ids, start=start, end=as_of)
    batch = scan_inputs.series_batch(frame, customer_ids=ids, start=start, end=as_of)
    if batch.n_series == 0:
        return Preview(new=0, current=0, customers=len(ids), capped=capped)
    first_day = as_of - dt.timedelta(days=PREVIEW_DAYS - 1)
    series = list(zip(batch.groups, batch.metrics, strict=True))
    unsaved = DetectionSettings(customer=customer, metric=metric, **values)

    def count(override: DetectionSettings | None) -> int:
        resolved = detection_config_for_series(series=series, override=override)
        findings = detect(batch, config=[r.config for r in resolved], backtest=True).findings
        return sum(1 for f in findings if f.start >= first_day)

    return Preview(
        new=count(unsaved),
        current=count(None),
        customers=len(ids),
        capped=capped,
    )
