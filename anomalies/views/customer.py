"""One account: its usage charts, its anomalies, and what a CSM can do about them (dismiss,
reopen, rescan, record what they led to)."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from customers.metrics import metric_importance, metric_label
from customers.selectors import customer_get_visible, customer_metrics

from ..charts import usage_chart_svg
from ..detection.calendar import holiday_mask
from ..detection.config import DetectionConfig
from ..detection.vocabulary import SEVERITY_RANK
from ..forms import DismissForm, OutcomeForm
from ..models import AnomalyStatus, ScanRun
from ..selectors import (
    anomaly_get_visible,
    anomaly_list_visible,
    anomaly_list_with_record,
    followup_list_visible,
    scan_run_latest_of_customer,
    series_windows,
)

# The views share the services' names (anomaly_dismiss...): the modules keep them apart.
from ..services import anomalies as anomaly_services
from ..services import outcomes as outcome_services
from ..services import scans as scan_services
from ..text import (
    anomaly_sentence,
    evidence_explanation,
    holiday_name,
    projection_text,
    suppression_note,
)
from ..throttles import scan_throttle_allows
from .followups import followup_rows
from .health import health_panel
from .portfolio import TIER_LABEL, anomaly_tier

# The charts' range switch (?days=), in days; anything else shows the default.
CHART_RANGES = (30, 90, 180, 365)
CHART_DAYS = 90
# A finished Rescan is shown on the page this long; a running one refreshes the page this
# often (a meta refresh: no script).
RESCAN_SHOWN_FOR = dt.timedelta(minutes=10)
RESCAN_REFRESH_SECONDS = 3


@login_required
def customer_detail(request, customer_id):
    customer = customer_get_visible(user=request.user, customer_id=customer_id)
    return _render_page(request, customer)


@login_required
@require_POST
def anomaly_dismiss(request, anomaly_id):
    anomaly = anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
    form = DismissForm(request.POST, prefix=str(anomaly.pk))
    if not form.is_valid():
        return _render_page(request, anomaly.customer, bound_form=(anomaly.pk, form), status=400)
    already = anomaly.status == AnomalyStatus.DISMISSED
    try:
        anomaly_services.anomaly_dismiss(
            anomaly=anomaly,
            user=request.user,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            until=form.cleaned_data["until"],
        )
    except anomaly_services.AnomalyAlreadyDismissed as exc:
        # The API's 409: the dismissal in force stays (a second tab, a colleague's dismissal).
        messages.error(request, f"Not changed: {_sentence(anomaly)}. {exc}")
    else:
        # The same dismissal sent again (a double submit) changes nothing, and says so.
        done = "Already dismissed" if already else "Dismissed"
        messages.success(request, f"{done}: {_sentence(anomaly)}.")
    return redirect(_customer_url(anomaly.customer_id, anomaly.metric_type, _posted_days(request)))


@login_required
@require_POST
def anomaly_reopen(request, anomaly_id):
    anomaly = anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
    if anomaly.status == AnomalyStatus.DISMISSED:
        anomaly_services.anomaly_reopen(anomaly=anomaly, user=request.user)
        messages.success(request, f"Reopened: {_sentence(anomaly)}.")
    return redirect(_customer_url(anomaly.customer_id, anomaly.metric_type, _posted_days(request)))


@login_required
@require_POST
def anomaly_outcome(request, anomaly_id):
    anomaly = anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
    form = OutcomeForm(request.POST, prefix=f"outcome-{anomaly.pk}")
    if not form.is_valid():
        return _render_page(request, anomaly.customer, bound_form=(anomaly.pk, form), status=400)
    anomaly = outcome_services.anomaly_outcome_set(
        anomaly=anomaly,
        user=request.user,
        outcome=form.cleaned_data["outcome"],
        note=form.cleaned_data["note"],
    )
    messages.success(request, f"Outcome: {anomaly.get_outcome_display()} ({_sentence(anomaly)}).")
    return redirect(_customer_url(anomaly.customer_id, anomaly.metric_type, _posted_days(request)))


@login_required
@require_POST
def customer_rescan(request, customer_id):
    customer = customer_get_visible(user=request.user, customer_id=customer_id)
    if not scan_throttle_allows(request.user):
        messages.warning(request, "You have started too many scans lately; try again later.")
        return redirect("customer-detail", customer_id=customer.pk)
    try:
        # On the workers, like every scan: the web process stays free, and the page shows
        # the run until it finishes.
        scan_services.scan_start(trigger="user", user=request.user, customer_ids=[customer.pk])
    except scan_services.ScanAlreadyRunning:
        messages.warning(request, "A scan of this account is already running.")
    except scan_services.ScanNotQueued as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Scan queued: this page shows the result when it is done.")
    return redirect("customer-detail", customer_id=customer.pk)


def _render_page(request, customer, *, bound_form=None, status=200):
    anomalies = list(
        anomaly_list_with_record(anomaly_list_visible(user=request.user))
        .filter(customer=customer)
        .order_by("-start_date", "-detected_at")
    )
    selected = request.GET.get("metric", "")
    if bound_form is not None:
        selected = next(a.metric_type for a in anomalies if a.pk == bound_form[0])
    days, days_error = _chart_days(request.GET.get("days"))
    for anomaly in anomalies:
        # The badge word of the cards and the table: "Positive" for a gain.
        anomaly.tier = anomaly_tier(anomaly)
        anomaly.tier_label = TIER_LABEL[anomaly.tier]
    charts, future_metrics = _charts(customer, anomalies, selected, days)
    for anomaly in anomalies:
        anomaly.sentence = _sentence(anomaly)
        anomaly.projection = projection_text(
            anomaly_type=anomaly.anomaly_type, projected_value=anomaly.projected_value
        )
        anomaly.start_holiday = holiday_name(
            calendar=customer.holiday_calendar, day=anomaly.start_date
        )
        anomaly.metric_label = metric_label(anomaly.metric_type)
        anomaly.evidence_note = evidence_explanation(
            metric=anomaly.metric_type, evidence_factor=anomaly.evidence_factor
        )
        anomaly.suppression_note = suppression_note(suppressed_at=anomaly.suppressed_at)
        anomaly.dismiss_form = DismissForm(prefix=str(anomaly.pk))
        anomaly.outcome_form = OutcomeForm(
            prefix=f"outcome-{anomaly.pk}",
            initial={"outcome": anomaly.outcome, "note": anomaly.outcome_note},
        )
        if bound_form is not None and bound_form[0] == anomaly.pk:
            name = "outcome_form" if isinstance(bound_form[1], OutcomeForm) else "dismiss_form"
            setattr(anomaly, name, bound_form[1])
    # The open ones lead the page, most severe first; the rest follow, newest first.
    open_ones = [a for a in anomalies if a.status == AnomalyStatus.OPEN]
    open_ones.sort(key=lambda a: -SEVERITY_RANK[a.severity])
    context = {
        "customer": customer,
        "rescan": _rescan_state(customer),
        "charts": charts,
        "future_metrics": future_metrics,
        "selected_metric": selected,
        "chart_days": days,
        "chart_days_error": days_error,
        "chart_ranges": [
            (n, "?" + urlencode({"days": n, **({"metric": selected} if selected else {})}))
            for n in CHART_RANGES
        ],
        "anomalies": anomalies,
        "open_anomalies": open_ones,
        "earlier_anomalies": [a for a in anomalies if a.status != AnomalyStatus.OPEN],
        # An earlier anomaly's form that came back with errors is shown unfolded.
        "earlier_bound": bound_form is not None
        and any(a.pk == bound_form[0] and a.status != AnomalyStatus.OPEN for a in anomalies),
        "open_count": len(open_ones),
        # Health (issue 13): score, trend, the anomalies that move it, risk signals.
        "health": health_panel(customer=customer, anomalies=anomalies, today=timezone.localdate()),
        "followups": followup_rows(
            followup_list_visible(user=request.user, customer=customer),
            today=timezone.localdate(),
        ),
    }
    return render(request, "anomalies/customer.html", context, status=status)


def _rescan_state(customer) -> dict | None:
    """The latest Rescan of this account while it runs, or for a while after it ended."""
    run = scan_run_latest_of_customer(customer=customer)
    if run is None:
        return None
    active = run.status in ScanRun.ACTIVE_STATUSES
    if not active and timezone.now() - (run.finished_at or run.created_at) > RESCAN_SHOWN_FOR:
        return None
    return {"run": run, "active": active, "refresh_seconds": RESCAN_REFRESH_SECONDS}


def _chart_days(value: str | None) -> tuple[int, str]:
    """The range the charts show from ?days=, and what was wrong with it (or "")."""
    if value is None or value == "":
        return CHART_DAYS, ""
    if value.isdigit() and int(value) in CHART_RANGES:
        return int(value), ""
    allowed = ", ".join(str(n) for n in CHART_RANGES)
    return CHART_DAYS, f"days must be one of {allowed}; showing {CHART_DAYS} days."


def _chart_window(
    metrics: list[dict], today: dt.date, days: int = CHART_DAYS
) -> tuple[dt.date, dt.date, int]:
    """The days the charts show: `days` up to the latest day with data, but never past
    today (a row dated in the future must not move every chart there) and never before the
    calendar's first day (a row dated 0001-01-05 must not overflow it). Also returns how many
    metrics have data dated after today, which the page mentions."""
    latest = max(m["last_date"] for m in metrics)
    last = min(latest, today)
    last = max(last, dt.date.min + dt.timedelta(days=days - 1))
    future = sum(m["last_date"] > today for m in metrics)
    return last - dt.timedelta(days=days - 1), last, future


def _chart_order(names: list[str], anomalies, selected: str) -> list[str]:
    """The metric asked for (?metric=) first, then those with an open anomaly, the most
    severe first, then the rest by importance: core metrics, other metrics, features."""
    worst: dict[str, int] = {}
    for anomaly in anomalies:
        if anomaly.status == AnomalyStatus.OPEN:
            rank = SEVERITY_RANK[anomaly.severity]
            worst[anomaly.metric_type] = max(rank, worst.get(anomaly.metric_type, rank))
    return sorted(
        names,
        key=lambda name: (name != selected, -worst.get(name, -1), metric_importance(name)),
    )


def _charts(customer, anomalies, selected: str, days: int) -> tuple[list[dict], int]:
    metrics = customer_metrics(customer=customer)
    if not metrics:
        return [], 0
    # One window for every metric, so the charts line up day for day.
    first, last, future = _chart_window(metrics, timezone.localdate(), days)
    # The account's own holidays, as the engine sees them.
    calendar = customer.holiday_calendar or DetectionConfig().holiday_country
    mask = holiday_mask(calendar, first, days)
    holidays = [first + dt.timedelta(days=int(i)) for i in mask.nonzero()[0]]
    names = _chart_order([m["metric"] for m in metrics], anomalies, selected)
    charts = []
    for series in series_windows(customer=customer, metrics=names, first=first, last=last):
        name = series["metric"]
        label = metric_label(name)
        svg = usage_chart_svg(
            dates=series["dates"],
            actual=series["actual"],
            expected=series["expected"],
            low=series["expected_low"],
            high=series["expected_high"],
            # A dismissed event was judged not to be one: it is not shaded. A gain is shaded
            # as the good news its badge says it is.
            anomalies=[
                (a.start_date, a.end_date, a.tier)
                for a in anomalies
                if a.metric_type == name and a.status != AnomalyStatus.DISMISSED
            ],
            holidays=holidays,
            title=label,
            unit=f"{label} per day",
        )
        charts.append(
            {
                "metric": name,
                "label": label,
                "anchor": _anchor(name),
                "selected": name == selected,
                # Safe: usage_chart_svg escapes every text it draws.
                "svg": mark_safe(svg),  # noqa: S308
            }
        )
    return charts, future


def _anchor(metric: str) -> str:
    return "metric-" + metric.replace(":", "-")


def _customer_url(customer_id, metric: str, days: int = CHART_DAYS) -> str:
    url = reverse("customer-detail", args=[customer_id])
    query = {"metric": metric, **({"days": days} if days != CHART_DAYS else {})}
    return f"{url}?{urlencode(query)}#{_anchor(metric)}"


def _posted_days(request) -> int:
    """The charts' range the page's form was sent from (a hidden `days` field), so a dismissal
    or an outcome brings the CSM back to the range they were looking at."""
    return _chart_days(request.POST.get("days"))[0]


def _sentence(anomaly) -> str:
    return anomaly_sentence(
        anomaly_type=anomaly.anomaly_type,
        metric=anomaly.metric_type,
        deviation_percent=anomaly.deviation_percent,
    )
