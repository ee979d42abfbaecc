from django.contrib import admin

from .models import DetectionSettings, ScanRun, UsageAnomaly


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


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "trigger",
        "status",
        "customers_done",
        "customers_total",
        "anomalies_new",
        "error_count",
        "duration",
    ]
    list_filter = ["status", "trigger"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ScanRun._meta.fields]
