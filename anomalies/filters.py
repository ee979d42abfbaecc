"""The anomaly list's filters and sorts, each defined once.

The API's two list endpoints, the table page and its CSV export all read their query string
through AnomalyFilterSet, so the same `?severity=warning&sort=customer` means the same rows
everywhere, a bad value is refused with the same message, and the OpenAPI schema documents
exactly these parameters (drf-spectacular's django-filter integration).
"""

import django_filters as filters
from django import forms

from customers.metrics import METRIC_MAX_LENGTH
from customers.models import Severity
from customers.validators import SEARCH_MAX_LENGTH

from .models import AnomalyStatus, AnomalyType, UsageAnomaly

# ?sort= values: what each orders by, and its label on the page. Ties fall to newest detected
# first, then to the primary key, so a row never appears on two pages. The ranks are stored
# columns (UsageAnomaly.status_rank, severity_rank): the default order is an index's.
SORTS = {
    # The default: open ones first, the worst of them first, the latest start first. The scan
    # timestamp is no order of its own: one scan detects many anomalies at the same instant.
    "status": (
        ("status_rank", "-severity_rank", "-start_date", "-detected_at"),
        "Open, worst first",
    ),
    "-detected_at": (("-detected_at",), "Newest detected"),
    "detected_at": (("detected_at",), "Oldest detected"),
    "severity": (("-severity_rank", "-detected_at"), "Severity, worst first"),
    "-severity": (("severity_rank", "-detected_at"), "Severity, mildest first"),
    "-start_date": (("-start_date",), "Start date, newest"),
    "start_date": (("start_date",), "Start date, oldest"),
    "customer": (("customer__name", "-detected_at"), "Customer A-Z"),
    "-customer": (("-customer__name", "-detected_at"), "Customer Z-A"),
    "metric": (("metric_type", "-detected_at"), "Metric A-Z"),
    "-metric": (("-metric_type", "-detected_at"), "Metric Z-A"),
}
DEFAULT_SORT = "status"
# What a browser's date input sends, and all the API's `format: date` promises.
DATE_FORMATS = ["%Y-%m-%d"]
DATE_ERRORS = {"invalid": "Enter a date as YYYY-MM-DD."}


class SortFilter(filters.ChoiceFilter):
    """?sort=: one of SORTS. Applied without a value too: every list has a stable order."""

    def __init__(self, **kwargs):
        super().__init__(choices=[(name, label) for name, (_, label) in SORTS.items()], **kwargs)

    def filter(self, qs, value):
        terms, _label = SORTS[value or DEFAULT_SORT]
        return qs.order_by(*terms, "pk")


class AnomalyFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "must not be before since")
        return data


class AnomalyFilterSet(filters.FilterSet):
    """Every filter and sort of an anomaly list. An empty value means "any", as a submitted
    form sends its empty fields."""

    status = filters.ChoiceFilter(choices=AnomalyStatus.choices)
    severity = filters.ChoiceFilter(choices=Severity.choices)
    anomaly_type = filters.ChoiceFilter(choices=AnomalyType.choices)
    metric = filters.CharFilter(field_name="metric_type", max_length=METRIC_MAX_LENGTH)
    since = filters.DateFilter(
        field_name="start_date",
        lookup_expr="gte",
        input_formats=DATE_FORMATS,
        error_messages=DATE_ERRORS,
        help_text="start_date on or after",
    )
    until = filters.DateFilter(
        field_name="start_date",
        lookup_expr="lte",
        input_formats=DATE_FORMATS,
        error_messages=DATE_ERRORS,
        help_text="start_date on or before",
    )
    customer = filters.UUIDFilter()
    # Django's CharField refuses NUL characters, which PostgreSQL text cannot hold.
    q = filters.CharFilter(
        field_name="customer__name",
        lookup_expr="icontains",
        max_length=SEARCH_MAX_LENGTH,
        help_text="customer name contains",
    )
    sort = SortFilter(help_text=f"the order of the list; without it, {DEFAULT_SORT}")

    class Meta:
        model = UsageAnomaly
        fields = []  # all declared above
        form = AnomalyFilterForm


class CustomerAnomalyFilterSet(AnomalyFilterSet):
    """One account's anomalies: the account is in the path, so no filter picks another."""

    customer = None
    q = None
