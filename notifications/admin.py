from django.contrib import admin

from .models import NotificationRequest


@admin.register(NotificationRequest)
class NotificationRequestAdmin(admin.ModelAdmin):
    list_display = ["anomaly", "user", "created_at", "processed_at"]
    list_filter = ["processed_at"]
    list_select_related = ["anomaly", "anomaly__customer", "user"]
    raw_id_fields = ["anomaly", "user"]
    date_hierarchy = "created_at"
