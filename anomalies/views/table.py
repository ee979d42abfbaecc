"""Every visible anomaly in a filterable, sortable table, and the same rows as CSV."""

import csv
import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from customers.metrics import metric_label
from customers.models import Severity

from ..filters import DEFAULT_SORT, SORTS, AnomalyFilterSet
from ..models import AnomalyStatus, AnomalyType
from ..selectors import anomaly_list_filtered
from ..text import suppression_note
from .portfolio import TIER_LABEL, anomaly_tier

PAGE_SIZE = 50
# A daily scan reports a day's usage the next day. An anomaly first reported later than this
# after its start was found by a backfill or a late import: the table then shows both dates.
REPORT_LAG_DAYS = 1

CSV_COLUMNS = (
    "customer",
    "external_id",
    "metric",
    "metric_slug",
    "type",
    "severity",
    "direction",
    "status",
    "start_date",
    "end_date",
    "baseline",
    "actual",
    "deviation_percent",
    "possible_cause",
    "detected_at",
)
# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _anomalies(request):
    """(queryset, or None when a filter is invalid; the bound AnomalyFilterSet)."""
    filters = AnomalyFilterSet(request.GET)
    if not filters.is_valid():
        return None, filters
    return anomaly_list_filtered(user=request.user, filters=filters), filters


def _errors(filters) -> dict[str, list[str]]:
    return {name: list(messages) for name, messages in filters.errors.items()}


def first_detectable(anomaly) -> dt.date | None:
    """The start of an event found late (see REPORT_LAG_DAYS), None for one reported on time."""
    reported = timezone.localdate(anomaly.detected_at)
    if (reported - anomaly.start_date).days > REPORT_LAG_DAYS:
        return anomaly.start_date
    return None


def _table_row(anomaly):
    """The words the cards use: the metric's display name, "Positive" for a gain."""
    tier = anomaly_tier(anomaly)
    anomaly.metric_label = metric_label(anomaly.metric_type)
    anomaly.tier = tier
    anomaly.tier_label = TIER_LABEL[tier]
    anomaly.first_detectable = first_detectable(anomaly)
    anomaly.suppression_note = suppression_note(suppressed_at=anomaly.suppressed_at)
    return anomaly


@login_required
def anomaly_table(request):
    qs, filters = _anomalies(request)
    page = Paginator(qs if qs is not None else [], PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = [_table_row(anomaly) for anomaly in page.object_list]
    context = {
        "page": page,
        "errors": _errors(filters),
        # An invalid sort is among the errors; the form then shows the default.
        "sort": filters.form.cleaned_data.get("sort") or DEFAULT_SORT,
        "values": {name: request.GET.get(name, "") for name in filters.filters},
        "statuses": AnomalyStatus.choices,
        "severities": Severity.choices,
        "types": AnomalyType.choices,
        "sorts": [(name, label) for name, (_, label) in SORTS.items()],
    }
    return render(request, "anomalies/table.html", context)


def _safe(value: str) -> str:
    if value and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(anomaly) -> list:
    return [
        _safe(anomaly.customer.name),
        _safe(anomaly.customer.external_id),
        _safe(metric_label(anomaly.metric_type)),
        _safe(anomaly.metric_type),
        anomaly.anomaly_type,
        anomaly.severity,
        anomaly.direction,
        anomaly.status,
        anomaly.start_date.isoformat(),
        anomaly.end_date.isoformat() if anomaly.end_date else "",
        str(anomaly.baseline_value),
        str(anomaly.actual_value),
        str(anomaly.deviation_percent),
        _safe(anomaly.possible_cause),
        anomaly.detected_at.isoformat(),
    ]


class _Echo:
    def write(self, value):
        return value


@login_required
def anomaly_export(request):
    qs, filters = _anomalies(request)
    if qs is None:
        text = "\n".join(f"{k}: {' '.join(v)}" for k, v in _errors(filters).items())
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for anomaly in qs.iterator(chunk_size=2000):
            yield writer.writerow(csv_row(anomaly))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="anomalies.csv"'
    return response
