from django.contrib import admin
from django.db.models import Count, Max
from django.utils.html import format_html, format_html_join

from .models import Customer, HealthScoreHistory, LifecycleEvent, RiskSignal, UsageMetric
from .selectors import customer_list_unowned
from .services import lifecycle_changed_apply, lifecycle_events_delete

# The owner filter's value for accounts without a CSM (?owner=none).
OWNER_NONE = "none"


class OwnerFilter(admin.SimpleListFilter):
    """Owner: none lists the accounts nobody owns (not churned), the ones ops must assign: their
    critical alerts go to the fallback (TREMOR_UNOWNED_ALERTS_TO) meanwhile."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [(OWNER_NONE, "None")]

    def queryset(self, request, queryset):
        if self.value() == OWNER_NONE:
            return queryset.filter(pk__in=customer_list_unowned().values("pk"))
        return queryset


class LifecycleEventInline(admin.TabularInline):
    model = LifecycleEvent
    fields = ["kind", "date", "arr_before", "arr_after", "note", "source", "recorded_by"]
    readonly_fields = ["source", "recorded_by"]
    ordering = ["-date"]
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """anomalies/admin.py registers a subclass in its place that lists the account's latest
    anomalies too: customers know nothing of anomalies."""

    list_display = [
        "name",
        "external_id",
        "csm",
        "tier",
        "arr",
        "status",
        "holiday_calendar",
        "region",
        "segment",
        "metric_rows",
    ]
    # Region and segment are free text: the filters list the values in use.
    list_filter = [OwnerFilter, "status", "tier", "csm", "region", "segment", "holiday_calendar"]
    search_fields = ["name", "external_id", "contact_email"]
    list_select_related = ["csm"]
    readonly_fields = ["id", "usage_summary", "created_at", "updated_at"]
    inlines = [LifecycleEventInline]

    def changelist_view(self, request, extra_context=None):
        # The count above the list (templates/admin/customers/customer/change_list.html).
        extra_context = {
            **(extra_context or {}),
            "unowned_count": customer_list_unowned().count(),
            "owner_none": OWNER_NONE,
        }
        return super().changelist_view(request, extra_context)

    def save_formset(self, request, form, formset, change):
        if formset.model is not LifecycleEvent:
            return super().save_formset(request, form, formset, change)
        # Through the lifecycle services, so a churn marks the account and the anomalies'
        # outcomes follow (customers.signals.lifecycle_changed), as from the API or an import.
        events = formset.save(commit=False)
        lifecycle_events_delete(
            events=LifecycleEvent.objects.filter(pk__in=[e.pk for e in formset.deleted_objects])
        )
        for event in events:
            _mark_recorded(event, request.user)
            event.save()
        formset.save_m2m()
        if events:
            lifecycle_changed_apply(events=events)
        return None

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_metric_rows=Count("usage"))

    @admin.display(description="usage rows", ordering="_metric_rows")
    def metric_rows(self, obj):
        return obj._metric_rows

    @admin.display(description="usage metrics")
    def usage_summary(self, obj):
        """Rows and last day per metric, in one grouped query."""
        if obj._state.adding:  # the add page: a UUID pk exists before saving
            return "-"
        metrics = (
            UsageMetric.objects.filter(customer=obj)
            .values("metric")
            .annotate(rows=Count("id"), last=Max("date"))
            .order_by("metric")
        )
        if not metrics:
            return "No usage yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((m["metric"], m["rows"], m["last"]) for m in metrics),
        )
        return format_html(
            "<table><thead><tr><th>metric</th><th>rows</th><th>last day</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )


@admin.register(UsageMetric)
class UsageMetricAdmin(admin.ModelAdmin):
    list_display = ["customer", "metric", "date", "value"]
    list_filter = ["metric"]
    search_fields = ["customer__name", "customer__external_id", "metric"]
    date_hierarchy = "date"
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    # Millions of rows: counting them all for the paginator would make the page crawl.
    show_full_result_count = False


@admin.register(RiskSignal)
class RiskSignalAdmin(admin.ModelAdmin):
    list_display = ["title", "customer", "kind", "severity", "created_at", "resolved_at"]
    list_filter = ["kind", "severity", "resolved_at"]
    search_fields = ["title", "customer__name"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer", "anomaly"]
    date_hierarchy = "created_at"


@admin.register(HealthScoreHistory)
class HealthScoreHistoryAdmin(admin.ModelAdmin):
    list_display = ["customer", "date", "score", "usage_component"]
    search_fields = ["customer__name"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    date_hierarchy = "date"


def _mark_recorded(event: LifecycleEvent, user) -> None:
    if event._state.adding:
        event.source = LifecycleEvent.Source.ADMIN
    event.recorded_by = user


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(admin.ModelAdmin):
    list_display = ["customer", "kind", "date", "arr_before", "arr_after", "source", "recorded_by"]
    list_filter = ["kind", "source"]
    search_fields = ["customer__name", "customer__external_id", "note"]
    list_select_related = ["customer", "recorded_by"]
    raw_id_fields = ["customer"]
    readonly_fields = ["id", "source", "recorded_by", "created_at"]
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change):
        # A change moved to another account leaves the old one's outcomes to derive again.
        before = form.initial.get("customer") if change else None
        _mark_recorded(obj, request.user)
        super().save_model(request, obj, form, change)
        lifecycle_changed_apply(
            events=[obj], also_customer_ids=[before] if before and before != obj.customer_id else []
        )

    def delete_model(self, request, obj):
        lifecycle_events_delete(events=LifecycleEvent.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        lifecycle_events_delete(events=queryset)
