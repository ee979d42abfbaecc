from django.conf import settings
from django.db import models

from anomalies.detection.vocabulary import Severity
from customers.constraints import choice_members


class NotificationRequest(models.Model):
    """The outbox between scans and delivery: services.requests_create writes one row per
    anomaly from the scans' news that its CSM wants to hear about at once (the unique anomaly
    makes a rescan, a retry or two workers harmless); delivery claims rows whose
    `processed_at` is empty."""

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


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"


class NotificationPreference(models.Model):
    """How a CSM wants to hear about anomalies. Created with defaults on first use: in-app and
    email for critical anomalies at once, warnings and positive signals in a daily digest."""

    # The least severe anomaly sent at once, read as what the CSM hears about.
    MinSeverity = models.TextChoices(
        "MinSeverity",
        choice_members(
            Severity,
            labels={
                Severity.CRITICAL: "Critical only",
                Severity.WARNING: "Warning and critical",
                Severity.INFO: "Everything",
            },
        ),
        qualname="NotificationPreference.MinSeverity",
    )

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    slack = models.BooleanField(default=False)
    slack_webhook_url = models.URLField(blank=True, max_length=500)
    # Set when the webhook keeps failing; shown to its owner, cleared when it works again.
    slack_failing_since = models.DateTimeField(null=True, blank=True)
    immediate_min_severity = models.CharField(
        max_length=10, choices=MinSeverity.choices, default=MinSeverity.CRITICAL
    )
    digest_enabled = models.BooleanField(default=True)
    digest_hour = models.PositiveSmallIntegerField(default=8)
    timezone = models.CharField(max_length=64, default="UTC")
    last_digest_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(digest_hour__lte=23), name="pref_digest_hour_range"
            ),
        ]

    def __str__(self):
        return f"preferences of {self.user_id}"


class Notification(models.Model):
    """An in-app message (the bell)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    anomaly = models.ForeignKey(
        "anomalies.UsageAnomaly", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self):
        return self.title


class Delivery(models.Model):
    """One message on one channel: written before sending, updated after every attempt, so
    a retry, a rescan or two workers never send twice and ops see every failure."""

    class Kind(models.TextChoices):
        IMMEDIATE = "immediate", "Immediate"
        DIGEST = "digest", "Daily digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    anomaly = models.ForeignKey(
        "anomalies.UsageAnomaly", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # For a digest: the anomalies it lists and the day it covers (one digest a day a channel).
    digest_date = models.DateField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["anomaly", "user", "channel"],
                condition=models.Q(kind="immediate"),
                name="delivery_once_per_anomaly_channel",
            ),
            models.UniqueConstraint(
                fields=["user", "channel", "digest_date"],
                condition=models.Q(kind="digest"),
                name="delivery_one_digest_per_day_channel",
            ),
        ]

    def __str__(self):
        return f"{self.channel} {self.kind} to {self.user_id}: {self.status}"
