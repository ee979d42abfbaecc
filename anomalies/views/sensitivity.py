"""The sensitivity page: the detection settings that apply to the user, a form to change one
scope, and a preview of what a change would have done to the last 90 days."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone

from customers.selectors import customer_list_visible

from .. import selectors
from ..forms import SettingsForm
from ..services.detection_settings import settings_save
from ..settings_preview import settings_preview


@login_required
def sensitivity(request):
    customers = customer_list_visible(user=request.user).order_by("name", "pk")
    form = SettingsForm(
        request.POST or None, customers=customers, allow_global=request.user.is_staff
    )
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
    rows = selectors.settings_list_visible(user=request.user).order_by("customer__name", "metric")
    rows = sorted(rows, key=lambda r: r.customer_id is not None)  # global and per-metric first
    context = {
        "form": form,
        "preview": preview,
        "rows": rows,
        "has_global": any(r.customer_id is None and not r.metric for r in rows),
    }
    return render(request, "anomalies/sensitivity.html", context, status=status)
