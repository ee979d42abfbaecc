"""The ops page of the learning loop: which kinds of anomaly were worth acting on (the
effectiveness table, a chart per type, a CSV), and how precise they were week by week.

A CSM sees their own portfolio, staff every account or one CSM's. Definitions are in
`anomalies/selectors_insights.py`; the page says them in a sentence each.
"""

from __future__ import annotations

import csv
from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from customers.metrics import metric_label

from ..detection import vocabulary
from ..insights import FEATURE_FAMILY, MIN_ANOMALIES, MIN_EVENTS
from ..insights_charts import ChartRow, outcome_rates_svg, sparkline_svg
from ..insights_query import insights_query_parse
from ..models import DismissReason
from ..selectors_insights import (
    PRECISION_GROUPINGS,
    effectiveness_report,
    outcome_window_days,
    precision_weekly,
)


def family_label(family: str) -> str:
    return "All features" if family == FEATURE_FAMILY else metric_label(family)


def _query(request):
    return insights_query_parse(data=request.GET, user=request.user, today=timezone.localdate())


def _report(query):
    return effectiveness_report(
        customers=query["customers"],
        start=query["start"],
        end=query["end"],
        today=timezone.localdate(),
    )


def _types(report) -> list[dict]:
    """The table's rows by anomaly type, each type with its chart."""
    types = []
    for anomaly_type, rows in groupby(report.rows, key=lambda r: r.anomaly_type):
        rows = [
            {
                "row": row,
                "family_label": family_label(row.family),
                "dismissed": [
                    (row.dismissed[reason], row.dismissed_share(reason))
                    for reason in DismissReason.values
                ],
            }
            for row in rows
        ]
        label = vocabulary.AnomalyType(anomaly_type).label
        chart = outcome_rates_svg(
            title=f"{label}: outcomes after the anomaly against the base rate",
            window_days=report.window_days,
            rows=[
                ChartRow(
                    label=f"{r['row'].severity.capitalize()} · {r['family_label']}",
                    loss=r["row"].loss,
                    loss_base=r["row"].loss_base,
                    gain=r["row"].gain,
                    gain_base=r["row"].gain_base,
                    small_sample=r["row"].small_sample,
                )
                for r in rows
            ],
        )
        types.append({"label": label, "rows": rows, "chart": mark_safe(chart)})  # noqa: S308 escaped
    return types


def _precision(series) -> list[dict]:
    return [
        {
            "series": s,
            "sparkline": mark_safe(  # noqa: S308 the SVG escapes its text
                sparkline_svg(
                    values=[w.precision.value for w in s.weeks],
                    label=f"Weekly precision of {s.label}",
                )
            ),
            "first_week": s.weeks[0].week if s.weeks else None,
        }
        for s in series
    ]


@login_required
def insights(request):
    form, query = _query(request)
    context = {
        "form": form,
        "errors": {name: list(messages) for name, messages in form.errors.items()},
        "min_anomalies": MIN_ANOMALIES,
        "min_events": MIN_EVENTS,
        "window_days": outcome_window_days(),
        "groupings": PRECISION_GROUPINGS,
        "csm_choices": form.fields["csm"].queryset if request.user.is_staff else None,
    }
    if query is not None:
        report = _report(query)
        series = precision_weekly(
            customers=query["customers"], start=query["start"], end=query["end"], by=query["by"]
        )
        context |= {
            "report": report,
            "types": _types(report),
            "precision": _precision(series),
            "values": {
                "start": report.start.isoformat(),
                "end": report.end.isoformat(),
                "csm": query["csm"].pk if query["csm"] else "",
                "by": query["by"],
            },
        }
    else:
        context["values"] = {name: request.GET.get(name, "") for name in ("start", "end", "by")}
    return render(request, "anomalies/insights.html", context)


CSV_OUTCOMES = (("churn_or_contraction", "loss"), ("expansion", "gain"))


def _number(value, digits=4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _csv_header() -> list[str]:
    header = ["anomaly_type", "severity", "metric_family", "anomalies", "accounts"]
    header += [f"dismissed_{reason}" for reason in DismissReason.values]
    for name, _ in CSV_OUTCOMES:
        header += [
            f"{name}_events",
            f"{name}_rate",
            f"{name}_rate_low",
            f"{name}_rate_high",
            f"{name}_base_events",
            f"{name}_base_cases",
            f"{name}_base_rate",
            f"{name}_lift",
            f"{name}_lift_low",
            f"{name}_lift_high",
        ]
    return [*header, "small_sample"]


def _csv_row(row) -> list:
    line = [row.anomaly_type, row.severity, row.family, row.count, row.accounts]
    line += [row.dismissed[reason] for reason in DismissReason.values]
    for _, attr in CSV_OUTCOMES:
        rate, base, lift = (
            getattr(row, attr),
            getattr(row, f"{attr}_base"),
            getattr(row, f"{attr}_lift"),
        )
        line += [
            rate.events,
            _number(rate.value),
            _number(rate.low),
            _number(rate.high),
            base.events,
            base.total,
            _number(base.value),
            _number(lift.value, 3),
            _number(lift.low, 3),
            _number(lift.high, 3),
        ]
    return [*line, "yes" if row.small_sample else "no"]


@login_required
def insights_effectiveness_csv(request):
    form, query = _query(request)
    if query is None:
        text = "\n".join(f"{name}: {' '.join(m)}" for name, m in form.errors.items())
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    report = _report(query)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"effectiveness_{report.start}_{report.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(_csv_header())
    for row in report.rows:
        writer.writerow(_csv_row(row))
    return response
