"""The sensitivity page: the detection settings that apply to the user, a form to change one
scope, a button to remove an override, and a preview of what a change would have done to the
last 90 days."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from customers.metrics import metric_label
from customers.selectors import customer_list_visible

from .. import selectors
from ..detection.vocabulary import AnomalyType
from ..detection_settings import (
    SettingsScope,
    detection_config_for_scopes,
    settings_scope_of,
)
from ..forms import SettingsForm, SettingsScopeForm
from ..models import DetectionSettings, Sensitivity
from ..services.detection_settings import settings_delete, settings_save
from ..settings_preview import PreviewChanges, settings_preview
from ..text import settings_metric_label, settings_scope_label, settings_source_label
from .portfolio import TIER_LABEL, anomaly_tier

# The columns of the settings table and the form's thresholds, in the page's order.
THRESHOLDS = SettingsForm.THRESHOLDS


@login_required
def sensitivity(request):
    form = _settings_form(request, request.POST or None)
    preview = None
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            customer, metric = form.scope()
            if customer is None and not request.user.is_staff:
                raise PermissionDenied("Only staff may change global or per-metric settings.")
            if "preview" in request.POST:
                preview = settings_preview(
                    user=request.user,
                    customer=customer,
                    metric=metric,
                    values=form.values(),
                    as_of=timezone.localdate(),
                )
            else:
                settings_save(
                    customer_id=customer.pk if customer else None,
                    metric=metric,
                    values=form.values(),
                    user=request.user,
                )
                messages.success(request, "Settings saved.")
                return redirect("sensitivity")
    _show_in_force(form)
    rows = selectors.settings_in_force_visible(user=request.user)
    context = {
        "form": form,
        "preview": preview,
        "added": _preview_rows(preview.added) if preview else None,
        "removed": _preview_rows(preview.removed) if preview else None,
        "rows": [_table_row(row, user=request.user) for row in rows],
    }
    return render(request, "anomalies/sensitivity.html", context, status=status)


@login_required
@require_GET
def sensitivity_in_force(request):
    """What each empty threshold would mean at a scope and sensitivity (the query string
    takes the form's customer, metric and sensitivity): the page's script updates the
    placeholders with it when the CSM picks another scope."""
    form = _settings_form(request, request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    _show_in_force(form)
    return JsonResponse(
        {
            name: {
                "placeholder": form.fields[name].widget.attrs["placeholder"],
                "help_text": form.fields[name].help_text,
            }
            for name in THRESHOLDS
        }
    )


@login_required
@require_POST
def sensitivity_remove(request):
    """Remove one scope's override (the settings API's DELETE): its series fall back to the
    broader scopes."""
    form = SettingsScopeForm(
        request.POST,
        customers=customer_list_visible(user=request.user),
        metrics=selectors.settings_metric_choices(user=request.user),
        allow_global=request.user.is_staff,
    )
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
        messages.error(request, f"Nothing was removed: {errors}")
        return redirect("sensitivity")
    customer, metric = form.scope()
    if customer is None and not request.user.is_staff:
        raise PermissionDenied("Only staff may change global or per-metric settings.")
    scope = settings_scope_label(customer_name=customer.name if customer else None, metric=metric)
    if settings_delete(customer_id=customer.pk if customer else None, metric=metric):
        messages.success(
            request, f"Removed the override of {scope}: it now follows the broader settings."
        )
    else:
        messages.info(request, f"{scope} had no override of its own: nothing was removed.")
    return redirect("sensitivity")


def _settings_form(request, data) -> SettingsForm:
    return SettingsForm(
        data,
        customers=customer_list_visible(user=request.user).order_by("name", "pk"),
        metrics=selectors.settings_metric_choices(user=request.user),
        allow_global=request.user.is_staff,
    )


def _show_in_force(form: SettingsForm) -> None:
    """Put on each threshold what leaving it empty means at the scope and sensitivity the
    form is on (what it was posted with, else what it opens on): the value the merge of the
    broader scopes and the chosen preset gives, and where it comes from."""
    chosen = getattr(form, "cleaned_data", {})  # an unbound form was never cleaned
    customer = chosen["customer"] if "customer" in chosen else form.fields["customer"].initial
    metric = chosen.get("metric", "")
    sensitivity = chosen.get("sensitivity") or Sensitivity.MEDIUM
    # The scope as if saved with this sensitivity and no thresholds of its own.
    unsaved = DetectionSettings(customer=customer, metric=metric, sensitivity=sensitivity)
    [in_force] = detection_config_for_scopes(scopes=[settings_scope_of(unsaved)], override=unsaved)
    name = customer.name if customer else ""
    form.show_in_force(
        {
            field: f"{_source(value.source, name, sensitivity, field)}: {_number(value.value)}"
            for field, value in in_force.values().items()
            if field in THRESHOLDS
        }
    )


def _number(value) -> str:
    """A threshold as the API and the form take it: 30, 42.5, 3.5 (no trailing zeros)."""
    return value if isinstance(value, str) else f"{value:g}"


def _source(source: SettingsScope | None, customer_name: str, sensitivity: str, field: str):
    return settings_source_label(
        source=source, customer_name=customer_name, sensitivity=sensitivity, field=field
    )


def _table_row(row: DetectionSettings, *, user) -> dict:
    """A row of the settings table: each value in force, with where it comes from when that
    is not the row's own scope, and whether the user may remove the override."""
    own = settings_scope_of(row)
    name = row.customer.name if row.customer_id else ""
    sensitivity = row.in_force.config.sensitivity  # type: ignore[attr-defined]
    cells = {
        field: {
            "value": value.value,
            "text": _number(value.value),
            "from": "" if value.source == own else _source(value.source, name, sensitivity, field),
        }
        for field, value in row.in_force.values().items()  # type: ignore[attr-defined]
    }
    return {
        "row": row,
        "customer": name or "All customers",
        "metric": row.metric,
        "metric_label": settings_metric_label(row.metric),
        "sensitivity": {**cells["sensitivity"], "text": Sensitivity(sensitivity).label},
        "thresholds": [cells[field] for field in THRESHOLDS],
        "removable": row.pk is not None and (user.is_staff or row.customer_id is not None),
    }


def _preview_rows(changes: PreviewChanges) -> dict:
    """One side of a preview in the words the cards use."""
    return {
        "total": changes.total,
        "more": changes.more,
        "anomalies": [
            {
                "customer_id": a.customer_id,
                "customer_name": a.customer_name,
                "metric_label": metric_label(a.metric),
                "type_label": AnomalyType(a.type).label,
                "start": a.start,
                "tier": anomaly_tier(a),
                "tier_label": TIER_LABEL[anomaly_tier(a)],
            }
            for a in changes.listed
        ],
    }
