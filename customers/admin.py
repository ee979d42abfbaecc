from django.contrib import admin
from django.db.models import Count

from .models import Customer, HealthScoreHistory, RiskSignal, UsageMetric


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "csm", "tier", "arr", "status", "metric_rows"]
    list_filter = ["status", "tier", "csm"]
    search_fields = ["name", "external_id", "contact_email"]
    list_select_related = ["csm"]
    readonly_fields = ["id", "created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_metric_rows=Count("usage"))

    @admin.display(description="usage rows", ordering="_metric_rows")
    def metric_rows(self, obj):
        return obj._metric_rows


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
