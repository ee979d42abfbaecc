from django.conf import settings
from django.db import models


class NotificationRequest(models.Model):
    """The outbox between scans and delivery: a scan writes one row per critical anomaly (the
    unique anomaly makes a rescan, a retry or two workers harmless); delivery claims rows
    whose `processed_at` is empty."""

    anomaly = models.OneToOneField(
        "anomalies.UsageAnomaly", on_delete=models.CASCADE, related_name="notification_request"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The account's CSM when the request was made.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"notify {self.user_id} about {self.anomaly_id}"
