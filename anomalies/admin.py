from django.contrib import admin

from .models import DataQualityEvent, DetectionSettings, ScanChunk, ScanRun, UsageAnomaly


@admin.register(UsageAnomaly)
class UsageAnomalyAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "metric_type",
        "anomaly_type",
        "severity",
        "status",
        "deviation_percent",
        "start_date",
        "end_date",
        "detected_at",
    ]
    list_filter = ["severity", "anomaly_type", "status", "direction", "customer__csm"]
    search_fields = ["customer__name", "customer__external_id", "metric_type"]
    date_hierarchy = "detected_at"
    list_select_related = ["customer"]
    raw_id_fields = ["customer", "dismissed_by"]
    readonly_fields = ["id", "created_at", "updated_at", "last_evaluated_at"]


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
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["customer__name", "metric", "note"]
    date_hierarchy = "start_date"
    list_select_related = ["customer"]
    raw_id_fields = ["customer", "scan_run", "anomaly"]


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    inlines = [ScanChunkInline]
    list_display = [
        "created_at",
        "trigger",
        "status",
        "customers_done",
        "customers_total",
        "anomalies_new",
        "progress",
        "error_count",
        "duration",
    ]
    list_filter = ["status", "trigger"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ScanRun._meta.fields]

    @admin.display(description="chunks")
    def progress(self, obj):
        return f"{obj.chunks_done} / {obj.chunks_total}"
