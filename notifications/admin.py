from django.contrib import admin

from .models import Delivery, Notification, NotificationPreference, NotificationRequest


@admin.register(NotificationRequest)
class NotificationRequestAdmin(admin.ModelAdmin):
    list_display = ["anomaly", "user", "created_at", "processed_at"]
    list_filter = ["processed_at"]
    list_select_related = ["anomaly", "anomaly__customer", "user"]
    raw_id_fields = ["anomaly", "user"]
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "channel",
        "kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    list_filter = ["channel", "status", "kind"]
    list_select_related = ["user"]
    raw_id_fields = ["user", "anomaly"]
    search_fields = ["user__username", "user__email", "last_error"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "last_attempt_at", "sent_at"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "in_app",
        "email",
        "slack",
        "slack_failing_since",
        "immediate_min_severity",
        "digest_enabled",
        "digest_hour",
        "timezone",
        "last_digest_at",
    ]
    # "Failing webhook" is the filter ops need: slack_failing_since set.
    list_filter = ["slack", "digest_enabled", "immediate_min_severity", "slack_failing_since"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    search_fields = ["user__username", "user__email"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "created_at", "read_at"]
    list_filter = ["read_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user", "anomaly"]
    search_fields = ["title", "user__username"]
    date_hierarchy = "created_at"
