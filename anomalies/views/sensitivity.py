"""The sensitivity page: the detection settings that apply to the user, a form to change one
scope, and a preview of what a change would have done to the last 90 days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils import timezone

from customers.models import Customer
from customers.selectors import customer_list_visible

from .. import scan_inputs, selectors, services
from ..detection import detect
from ..forms import SettingsForm
from ..models import DetectionSettings

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


@login_required
def sensitivity(request):
    customers = customer_list_visible(user=request.user).order_by("name", "pk")
    form = SettingsForm(request.POST or None, customers=customers)
    preview = None
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            customer = form.cleaned_data["customer"]
            metric = form.cleaned_data["metric"]
            if customer is None and not request.user.is_staff:
                raise PermissionDenied("Only staff may change global or per-metric settings.")
            if "preview" in request.POST:
                preview = _preview(
                    customers=[customer] if customer else customers.exclude(status="churned"),
                    customer=customer,
                    metric=metric,
                    values=form.values(),
                )
            else:
                services.settings_save(
                    customer_id=customer.pk if customer else None,
                    metric=metric,
                    values=form.values(),
                    user=request.user,
                )
                messages.success(request, "Settings saved.")
                return redirect("sensitivity")
    rows = selectors.settings_list_visible(user=request.user).order_by("customer__name", "metric")
    rows = sorted(rows, key=lambda r: r.customer_id is not None)  # global and per-metric first
    context = {
        "form": form,
        "preview": preview,
        "rows": rows,
        "has_global": any(r.customer_id is None and not r.metric for r in rows),
    }
    return render(request, "anomalies/sensitivity.html", context, status=status)


def _preview(*, customers, customer: Customer | None, metric: str, values: dict) -> Preview:
    """Anomalies a day-by-day replay of the last PREVIEW_DAYS finds with the settings as they
    are and with `values` saved on the scope (customer, metric); nothing is written."""
    ids = [c.pk for c in customers[: PREVIEW_MAX_CUSTOMERS + 1]]
    capped = len(ids) > PREVIEW_MAX_CUSTOMERS
    ids = [str(pk) for pk in ids[:PREVIEW_MAX_CUSTOMERS]]
    as_of = timezone.localdate()
    start = as_of - dt.timedelta(days=PREVIEW_DAYS + PREVIEW_WARMUP_DAYS - 1)
    frame = scan_inputs.usage_frame(customer_ids=ids, start=start, end=as_of)
    batch = scan_inputs.series_batch(frame, customer_ids=ids, start=start, end=as_of)
    if batch.n_series == 0:
        return Preview(new=0, current=0, customers=len(ids), capped=capped)
    first_day = as_of - dt.timedelta(days=PREVIEW_DAYS - 1)

    def count(configs) -> int:
        findings = detect(batch, config=configs, backtest=True).findings
        return sum(1 for f in findings if f.start >= first_day)

    return Preview(
        new=count(_configs_with(batch, customer, metric, values)),
        current=count(scan_inputs.detection_configs(batch=batch)),
        customers=len(ids),
        capped=capped,
    )


def _configs_with(batch, customer: Customer | None, metric: str, values: dict):
    """Each series' config as scan_inputs.detection_configs would build it if `values` were
    saved on the scope (customer, metric): the unsaved row takes that scope's place."""
    groups = sorted(set(batch.groups))
    rows = DetectionSettings.objects.filter(Q(customer__isnull=True) | Q(customer_id__in=groups))
    by_scope = {(str(r.customer_id) if r.customer_id else None, r.metric): r for r in rows}
    scope = (str(customer.pk) if customer else None, metric)
    by_scope[scope] = DetectionSettings(customer=customer, metric=metric, **values)
    cache = {}
    configs = []
    for group, series_metric in zip(batch.groups, batch.metrics, strict=True):
        keys = [(group, series_metric), (group, ""), (None, series_metric), (None, "")]
        scopes = [by_scope[k] for k in keys if k in by_scope]
        key = tuple(id(s) for s in scopes)  # the unsaved row has no pk to hash
        if key not in cache:
            cache[key] = scan_inputs.merged_config(scopes)
        configs.append(cache[key])
    return configs
