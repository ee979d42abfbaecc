"""Follow-ups: the "My follow-ups" page, and the forms that close, reopen or move one (also
shown on the customer page, which they return to)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from ..forms import FollowUpCloseForm, FollowUpDueDateForm
from ..models import FollowUpStatus
from ..selectors import followup_get_visible, followup_list_mine
from ..services import followups as followup_services
from ..text import overdue_text
from .portfolio import redirect_next

# The page's ?status= choices; "all" lists every status.
STATUS_ALL = "all"
STATUS_FILTERS = {**dict(FollowUpStatus.choices), STATUS_ALL: "All"}
DEFAULT_STATUS = FollowUpStatus.OPEN.value


def followup_rows(followups, *, today) -> list[dict]:
    """Each follow-up (from a followup_list_* selector, which annotates `overdue`) with its
    forms and, when overdue, by how much in words: the page says it, not only its colour."""
    rows = []
    for followup in followups:
        rows.append(
            {
                "followup": followup,
                "overdue_text": (
                    overdue_text(due_date=followup.due_date, today=today)
                    if followup.overdue
                    else ""
                ),
                "close_form": FollowUpCloseForm(
                    prefix=f"close-{followup.pk}", initial={"action": FollowUpCloseForm.DONE}
                ),
                "due_form": FollowUpDueDateForm(
                    prefix=f"due-{followup.pk}", initial={"due_date": followup.due_date}
                ),
            }
        )
    return rows


@login_required
def followup_list(request):
    status = request.GET.get("status", "").strip() or DEFAULT_STATUS
    http_status = 200
    if status not in STATUS_FILTERS:
        messages.error(
            request,
            f"status: unknown value {status[:40]!r}; choose one of {', '.join(STATUS_FILTERS)}.",
        )
        status, http_status = DEFAULT_STATUS, 400
    everyone = request.user.is_staff and request.GET.get("everyone") == "1"
    followups = followup_list_mine(
        user=request.user, status="" if status == STATUS_ALL else status, everyone=everyone
    )
    context = {
        "rows": followup_rows(followups, today=timezone.localdate()),
        "status": status,
        "statuses": STATUS_FILTERS.items(),
        "everyone": everyone,
        "next_url": request.get_full_path(),
    }
    return render(request, "anomalies/followups.html", context, status=http_status)


def _errors(form) -> str:
    """'Outcome: say what it led to…': each error with the field it is about."""
    return " ".join(
        f"{name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )


def _back(request):
    return redirect_next(request, default="followup-list")


@login_required
@require_POST
def followup_close(request, followup_id):
    followup = followup_get_visible(user=request.user, followup_id=followup_id)
    form = FollowUpCloseForm(request.POST, prefix=f"close-{followup.pk}")
    if not form.is_valid():
        messages.error(request, f"Not closed: {followup.title}. {_errors(form)}")
        return _back(request)
    cancel = form.cleaned_data["action"] == FollowUpCloseForm.CANCEL
    try:
        followup = followup_services.followup_close(
            followup=followup,
            user=request.user,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
            cancel=cancel,
        )
    except followup_services.FollowUpClosed as exc:
        messages.error(request, f"Not changed: {followup.title}. {exc}")
        return _back(request)
    if cancel:
        messages.success(request, f"Cancelled: {followup.title}.")
    else:
        messages.success(
            request, f"Done: {followup.title}. Outcome: {followup.get_closing_outcome_display()}."
        )
    return _back(request)


@login_required
@require_POST
def followup_reopen(request, followup_id):
    followup = followup_get_visible(user=request.user, followup_id=followup_id)
    try:
        followup_services.followup_reopen(followup=followup)
    except followup_services.FollowUpAlreadyOpen as exc:
        messages.error(request, f"Not reopened: {followup.title}. {exc}")
    else:
        messages.success(request, f"Reopened: {followup.title}.")
    return _back(request)


@login_required
@require_POST
def followup_due_date(request, followup_id):
    followup = followup_get_visible(user=request.user, followup_id=followup_id)
    form = FollowUpDueDateForm(request.POST, prefix=f"due-{followup.pk}")
    if not form.is_valid():
        messages.error(request, f"Not moved: {followup.title}. {_errors(form)}")
        return _back(request)
    try:
        followup = followup_services.followup_reschedule(
            followup=followup, due_date=form.cleaned_data["due_date"]
        )
    except followup_services.FollowUpClosed as exc:
        messages.error(request, f"Not moved: {followup.title}. {exc}")
    else:
        due = date_format(followup.due_date, "M j, Y")
        messages.success(request, f"Moved: {followup.title}, now due {due}.")
    return _back(request)
