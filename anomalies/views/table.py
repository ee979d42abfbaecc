"""Every visible anomaly in a filterable, sortable table, and the same rows as CSV."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render

from customers.validators import SEARCH_MAX_LENGTH

from ..api import AnomalyFilterSerializer
from ..models import AnomalyStatus, AnomalyType
from ..selectors import anomaly_list_filtered

PAGE_SIZE = 50
FILTER_FIELDS = ("status", "severity", "anomaly_type", "metric", "since", "until")

_SEVERITY_RANK = Case(
    When(severity="critical", then=Value(0)),
    When(severity="warning", then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
# ?sort= values and what they order by; anything else falls back to the default.
SORTS = {
    "severity": ("severity_rank", "-detected_at"),
    "-severity": ("-severity_rank", "-detected_at"),
    "detected_at": ("detected_at",),
    "-detected_at": ("-detected_at",),
    "start_date": ("start_date",),
    "-start_date": ("-start_date",),
    "customer": ("customer__name", "-detected_at"),
    "-customer": ("-customer__name", "-detected_at"),
    "metric": ("metric_type", "-detected_at"),
    "-metric": ("-metric_type", "-detected_at"),
}
DEFAULT_SORT = "-detected_at"

CSV_COLUMNS = (
    "customer",
    "external_id",
    "metric",
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
    """(queryset or None, errors, sort) for the filters in the query string."""
    # A submitted GET form sends every field, empty ones as "": those mean "any".
    data = {k: request.GET[k] for k in FILTER_FIELDS if request.GET.get(k, "") != ""}
    filters = AnomalyFilterSerializer(data=data)
    errors = {}
    if not filters.is_valid():
        errors = {k: [str(m) for m in v] for k, v in filters.errors.items()}
    search = request.GET.get("q", "").strip()
    if len(search) > SEARCH_MAX_LENGTH or "\x00" in search:
        errors["q"] = [f"Enter at most {SEARCH_MAX_LENGTH} plain characters."]
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort not in SORTS:
        sort = DEFAULT_SORT
    if errors:
        return None, errors, sort
    qs = anomaly_list_filtered(user=request.user, filters=filters.validated_data)
    if search:
        qs = qs.filter(customer__name__icontains=search)
    qs = qs.annotate(severity_rank=_SEVERITY_RANK).order_by(*SORTS[sort], "pk")
    return qs, errors, sort


@login_required
def anomaly_table(request):
    qs, errors, sort = _anomalies(request)
    page = Paginator(qs if qs is not None else [], PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "errors": errors,
        "sort": sort,
        "values": {k: request.GET.get(k, "") for k in (*FILTER_FIELDS, "q")},
        "statuses": AnomalyStatus.choices,
        "severities": [("critical", "Critical"), ("warning", "Warning"), ("info", "Info")],
        "types": AnomalyType.choices,
        "sorts": [
            ("-detected_at", "Newest detected"),
            ("detected_at", "Oldest detected"),
            ("severity", "Severity, worst first"),
            ("-start_date", "Start date, newest"),
            ("start_date", "Start date, oldest"),
            ("customer", "Customer A-Z"),
            ("-customer", "Customer Z-A"),
            ("metric", "Metric"),
        ],
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
    qs, errors, _sort = _anomalies(request)
    if errors:
        text = "\n".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for anomaly in qs.iterator(chunk_size=2000):
            yield writer.writerow(csv_row(anomaly))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="anomalies.csv"'
    return response
