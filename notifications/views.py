"""The notifications pages: the in-app list behind the bell, opening one, marking all read,
and the preferences form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from .forms import PreferenceForm
from .models import Notification, NotificationPreference
from .services import preference_for, preference_update

PAGE_SIZE = 25


def _slack_failing(user) -> bool:
    return NotificationPreference.objects.filter(
        user=user, slack_failing_since__isnull=False
    ).exists()


@login_required
def notification_list(request):
    notifications = Notification.objects.filter(user=request.user).order_by("-created_at", "-pk")
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "has_unread": Notification.objects.filter(user=request.user, read_at__isnull=True).exists(),
        "slack_failing": _slack_failing(request.user),
    }
    return render(request, "notifications/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def notification_open(request, notification_id):
    # A link from the bell (GET) or a button (POST): either way it marks the one read.
    notification = get_object_or_404(Notification, pk=notification_id, user=request.user)
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    # The stored URL is ours, but never let a row turn into an open redirect.
    if notification.url and url_has_allowed_host_and_scheme(
        notification.url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(notification.url)
    return redirect("notification-list")


@login_required
@require_POST
def notification_mark_all_read(request):
    count = Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("notification-list")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request):
    preference = preference_for(request.user)
    status = 200
    if request.method == "POST":
        # Unbound to the row: validating a ModelForm writes into its instance, and
        # preference_update needs the row as it was.
        form = PreferenceForm(request.POST)
        if form.is_valid():
            values = {name: form.cleaned_data[name] for name in PreferenceForm.Meta.fields}
            preference_update(preference=preference, values=values)
            messages.success(request, "Notification preferences saved.")
            return redirect("notification-preferences")
        status = 400
    else:
        form = PreferenceForm(instance=preference)
    context = {"form": form, "slack_failing": preference.slack_failing_since is not None}
    return render(request, "notifications/preferences.html", context, status=status)
