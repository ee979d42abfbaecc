import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from customers.admin import CustomerAdmin
from customers.models import Customer

from .forms import DismissForm
from .models import (
    AnomalyAction,
    AnomalyStatus,
    DataQualityEvent,
    DetectionSettings,
    FollowUp,
    ScanChunk,
    ScanRun,
    TuningProposal,
    UsageAnomaly,
)
from .services.anomalies import anomaly_dismiss
from .services.outcomes import outcomes_derive
from .services.scans import ScanAlreadyRunning, ScanNotQueued, scan_start
from .text import anomaly_sentence

SECONDS_PER_MINUTE = 60

# Enough of a note in the data-quality list for a cohort and a handful of account names.
NOTE_EXCERPT_CHARS = 400


# The customer page lists this many of its anomalies, newest first.
LATEST_ANOMALIES = 20


class LatestAnomaliesFormSet(BaseInlineFormSet):
    def get_queryset(self):
        # Sliced after the inline's filter on the customer: slicing in the inline's own
        # get_queryset would make that filter fail.
        return super().get_queryset()[:LATEST_ANOMALIES]


class CustomerAnomalyInline(admin.TabularInline):
    model = UsageAnomaly
    formset = LatestAnomaliesFormSet
    verbose_name_plural = f"anomalies (latest {LATEST_ANOMALIES})"
    fields = [
        "detected_at",
        "metric_type",
        "anomaly_type",
        "severity",
        "status",
        "deviation_percent",
        "start_date",
        "end_date",
    ]
    readonly_fields = fields
    ordering = ["-detected_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Customers know nothing of anomalies: their admin page gets its anomaly list from here.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithAnomaliesAdmin(CustomerAdmin):
    inlines = [*CustomerAdmin.inlines, CustomerAnomalyInline]


class AnomalyActionInline(admin.TabularInline):
    model = AnomalyAction
    fields = ["created_at", "kind", "user", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UsageAnomaly)
class UsageAnomalyAdmin(admin.ModelAdmin):
    """Read-only: every column is a scan's output or the record of what a CSM did (dismissal,
    outcome), each written by a service that keeps them consistent (an edit here could break
    `anomaly_dismissal_consistent` or the learning loop's record). Ops change anomalies through
    the actions, which call those services. Anomalies come from scans, so none is added here."""

    inlines = [AnomalyActionInline]
    actions = ["bulk_dismiss", "derive_outcomes"]
    list_display = [
        "customer",
        "metric_type",
        "anomaly_type",
        "severity_badge",
        "status",
        "deviation_percent",
        "start_date",
        "end_date",
        "detected_at",
    ]
    list_filter = [
        "severity",
        "anomaly_type",
        "status",
        "detected_at",
        "direction",
        "figures_clamped",
        "outcome",
        "outcome_derived",
        ("customer__csm", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["customer__name", "customer__external_id", "metric_type"]
    date_hierarchy = "detected_at"
    list_select_related = ["customer"]
    fields = [
        "id",
        "customer",
        "summary",
        "duration",
        *[
            f.name
            for f in UsageAnomaly._meta.fields
            if f.name not in ("id", "customer", "created_at", "updated_at")
        ],
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the page can be saved: no Save buttons to suggest otherwise.
        no_save = {"show_save": False, "show_save_and_continue": False}
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **no_save}
        )

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj):
        return format_html("<strong>{}</strong>", obj.get_severity_display().upper())

    @admin.display(description="summary")
    def summary(self, obj):
        return anomaly_sentence(
            anomaly_type=obj.anomaly_type,
            metric=obj.metric_type,
            deviation_percent=float(obj.deviation_percent),
        )

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.end_date is None:
            return f"ongoing since {obj.start_date:%Y-%m-%d}"
        days = (obj.end_date - obj.start_date).days + 1
        return f"{days} day{'s' if days != 1 else ''}"

    @admin.action(description="Dismiss selected anomalies…", permissions=["change"])
    def bulk_dismiss(self, request, queryset):
        """An intermediate page asks for the reason; its submit comes back here with `apply`.
        Each anomaly goes through anomaly_dismiss, like a CSM's dismissal."""
        form = DismissForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            dismissed = 0
            for anomaly in queryset.exclude(status=AnomalyStatus.DISMISSED):
                anomaly_dismiss(
                    anomaly=anomaly,
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                    until=form.cleaned_data["until"],
                )
                dismissed += 1
            self.message_user(
                request,
                f"Dismissed {dismissed} anomal{'y' if dismissed == 1 else 'ies'}.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Dismiss anomalies",
            "opts": self.model._meta,
            "form": form,
            "anomalies": queryset.select_related("customer"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/anomalies/dismiss_confirmation.html", context)

    @admin.action(
        description="Derive outcomes again from lifecycle changes", permissions=["change"]
    )
    def derive_outcomes(self, request, queryset):
        """Outcomes set by a CSM are kept (anomalies.services.outcomes)."""
        changed = outcomes_derive(
            customer_ids=queryset.order_by().values_list("customer_id", flat=True).distinct(),
            anomaly_ids=queryset.values_list("pk", flat=True),
        )
        self.message_user(request, f"{changed} outcome(s) changed.", messages.SUCCESS)


@admin.register(DetectionSettings)
class DetectionSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "sensitivity", "drop_percent", "spike_percent", "updated_at"]
    list_filter = ["sensitivity"]
    raw_id_fields = ["customer", "updated_by"]
    readonly_fields = ["updated_at"]


class ScanChunkInline(admin.TabularInline):
    model = ScanChunk
    fields = [
        "index",
        "status",
        "attempts",
        "series_count",
        "anomalies_new",
        "anomalies_updated",
        "anomalies_resolved",
        "timings",
        "errors",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DataQualityEvent)
class DataQualityEventAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "start_date",
        "end_date",
        "customer",
        "metric",
        "affected_share",
        "series_affected",
        "note_excerpt",
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["customer__name", "metric", "note"]
    date_hierarchy = "start_date"
    list_select_related = ["customer"]
    raw_id_fields = ["customer", "scan_run", "anomaly"]

    @admin.display(description="note")
    def note_excerpt(self, obj):
        # A cohort move's note names its cohort and accounts: what ops read it for.
        return Truncator(obj.note).chars(NOTE_EXCERPT_CHARS)


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    """Scan runs with their figures, and "Scan all accounts now" above the list (a scan of
    what the nightly one covers, through scan_start: refused while one is queued or running).
    Runs are made by scan_start only, so none is added by hand: a hand-made queued run would
    hold the scope's lock with no chunk to run."""

    inlines = [ScanChunkInline]
    change_list_template = "admin/anomalies/scanrun/change_list.html"
    list_display = [
        "created_at",
        "trigger",
        "triggered_by",
        "status",
        "took",
        "customers_done",
        "customers_total",
        "series_count",
        "anomalies_new",
        "anomalies_updated",
        "anomalies_resolved",
        "error_count",
        "progress",
    ]
    list_select_related = ["triggered_by"]
    list_filter = ["status", "trigger"]
    date_hierarchy = "created_at"
    readonly_fields = ["failures"] + [f.name for f in ScanRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        run_now = path(
            "run-now/",
            self.admin_site.admin_view(self.run_now_view),
            name="anomalies_scanrun_run_now",
        )
        return [run_now, *super().get_urls()]

    def run_now_view(self, request):
        """POST only (a GET would start a scan from a link or a prefetch)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            # The user trigger: a person started it (the admin is a page); triggered_by says who.
            run = scan_start(trigger=ScanRun.Trigger.USER, user=request.user)
        except ScanAlreadyRunning as exc:
            self.message_user(
                request,
                f"Not started: a scan of all accounts is already {exc.run.status} (since "
                f"{exc.run.created_at:%Y-%m-%d %H:%M}). Its figures appear here when it ends.",
                messages.WARNING,
            )
        except ScanNotQueued as exc:
            self.message_user(request, f"Not started: {exc}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Scan started: {run.customers_total} account{pluralize(run.customers_total)} in "
                f"{run.chunks_total} chunk{pluralize(run.chunks_total)}.",
                messages.SUCCESS,
            )
        return redirect("admin:anomalies_scanrun_changelist")

    @admin.display(description="duration", ordering="finished_at")
    def took(self, obj):
        if obj.duration is None:
            return "-" if obj.finished_at else f"{obj.get_status_display().lower()}…"
        seconds = obj.duration.total_seconds()
        if seconds < SECONDS_PER_MINUTE:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), SECONDS_PER_MINUTE)
        return f"{minutes} min {seconds:02d} s"

    @admin.display(description="failing accounts and series")
    def failures(self, obj):
        """The run's errors as a table, with the accounts' names (one query)."""
        if not obj.errors:
            return "none"
        ids = {e.get("customer_id") for e in obj.errors if e.get("customer_id")}
        names = dict(
            Customer.objects.filter(pk__in=[i for i in ids if _is_uuid(i)]).values_list(
                "pk", "name"
            )
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    names.get(_uuid(e.get("customer_id")), e.get("customer_id") or "-"),
                    e.get("metric") or "(all metrics)",
                    e.get("stage", "-"),
                    e.get("error", ""),
                )
                for e in obj.errors
            ),
        )
        return format_html(
            "<table><thead><tr><th>account</th><th>metric</th><th>stage</th><th>error</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="chunks")
    def progress(self, obj):
        return f"{obj.chunks_done} / {obj.chunks_total}"


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _is_uuid(value) -> bool:
    return _uuid(value) is not None


@admin.register(TuningProposal)
class TuningProposalAdmin(admin.ModelAdmin):
    """Read-only: proposals are made by the weekly task and decided on /insights/tuning/,
    where acceptance writes the settings and keeps what it replaced; an edit here would
    bypass both."""

    list_display = [
        "text",
        "status",
        "false_positive_rate",
        "hides_churn",
        "decided_by",
        "created_at",
    ]
    list_filter = ["status", "anomaly_type", "hides_churn"]
    list_select_related = ["decided_by"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FollowUpOverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        overdue = FollowUp.overdue_q(timezone.localdate())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    """Read-only: a follow-up is opened from an anomaly card or the API and closed on the
    follow-ups page, whose service also writes the anomaly's outcome; an edit here would
    leave the two apart. Deleting one is allowed (a task opened by mistake)."""

    list_display = [
        "title",
        "customer",
        "kind",
        "owner",
        "due_date",
        "overdue",
        "status",
        "closing_outcome",
        "closed_at",
    ]
    list_filter = [
        "status",
        FollowUpOverdueFilter,
        "kind",
        "closing_outcome",
        ("owner", admin.RelatedOnlyFieldListFilter),
        ("customer__csm", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["title", "customer__name", "customer__external_id", "closing_note"]
    date_hierarchy = "due_date"
    list_select_related = ["customer", "owner"]

    @admin.display(boolean=True, description="overdue")
    def overdue(self, obj):
        return obj.status == FollowUp.Status.OPEN and obj.due_date < timezone.localdate()

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
