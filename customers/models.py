import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from anomalies.detection import vocabulary

from .constraints import choice_members, choices_constraint
from .limits import (
    validate_cohort_name,
    validate_holiday_calendar,
    validate_usage_date,
    validate_usage_value,
)
from .metrics import METRIC_MAX_LENGTH
from .validators import NOTE_MAX_LENGTH, NOTE_VALIDATORS


class CustomerStatus(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    CHURNED = "churned", "Churned"


class CustomerTier(models.TextChoices):
    STARTER = "starter", "Starter"
    GROWTH = "growth", "Growth"
    BUSINESS = "business", "Business"
    ENTERPRISE = "enterprise", "Enterprise"


class Customer(models.Model):
    Status = CustomerStatus
    Tier = CustomerTier

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # The account id in the product-analytics pipeline: what usage rows refer to.
    external_id = models.CharField(max_length=100, unique=True)
    csm = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
        help_text="The Customer Success Manager who owns this account.",
    )
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.GROWTH)
    arr = models.DecimalField("ARR", max_digits=14, decimal_places=2, default=0)
    contact_email = models.EmailField(blank=True)
    # The public holidays the account keeps: an ISO 3166 country code, optionally with a
    # subdivision ("DE", "DE-BY", "US-CA"); empty for the engine's default calendar.
    holiday_calendar = models.CharField(
        max_length=12,
        blank=True,
        default="",
        validators=[validate_holiday_calendar],
        help_text='Country for public holidays, e.g. "US", "DE-BY" (empty: the default).',
    )
    # Cohorts: accounts that move together on a regional holiday, a storm or a local outage.
    # A move a large share of a cohort shares is reported once, not per account. Scans
    # compare them ignoring case ("EMEA" is "emea").
    region = models.CharField(
        max_length=50,
        blank=True,
        default="",
        validators=[validate_cohort_name],
        help_text='Accounts that move together on a regional event, e.g. "us-east", "emea".',
    )
    segment = models.CharField(
        max_length=50,
        blank=True,
        default="",
        validators=[validate_cohort_name],
        help_text='Accounts of one kind, e.g. "smb", "enterprise", "retail".',
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_changed_on = models.DateField(null=True, blank=True)
    renewal_date = models.DateField(
        null=True, blank=True, help_text="When the contract is next up for renewal."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            choices_constraint("status", CustomerStatus, name="customer_status_valid"),
            choices_constraint("tier", CustomerTier, name="customer_tier_valid"),
            models.CheckConstraint(condition=Q(arr__gte=0), name="customer_arr_non_negative"),
        ]
        indexes = [models.Index(fields=["csm", "name"], name="customer_csm_name_idx")]

    def __str__(self):
        return self.name


class UsageMetric(models.Model):
    """One day's value of one metric for one customer (a daily total from analytics)."""

    # No index of its own: the unique (customer, metric, date) index starts with it.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="usage", db_index=False
    )
    metric = models.CharField(max_length=METRIC_MAX_LENGTH)
    # The validators are the ingest's bounds, for admin's forms; the bulk paths check them
    # in customers.ingest before writing.
    date = models.DateField(validators=[validate_usage_date])
    value = models.FloatField(validators=[validate_usage_value])

    class Meta:
        constraints = [
            # Also the index the detection window reads through: customer, then metric, then
            # a date range.
            models.UniqueConstraint(
                fields=["customer", "metric", "date"], name="usage_one_value_per_day"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="usage_value_non_negative"),
        ]
        indexes = [
            # One customer's recent window across all its metrics (charts, scans).
            models.Index(fields=["customer", "date"], name="usage_customer_date_idx"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.metric} {self.date}: {self.value}"


Severity = models.TextChoices("Severity", choice_members(vocabulary.Severity))


class RiskSignalKind(models.TextChoices):
    USAGE_ANOMALY = "usage_anomaly", "Usage anomaly"
    USAGE_DROP = "usage_drop", "Usage drop"
    # Raised by a feature abandonment anomaly: that type's own value and label.
    FEATURE_ABANDONMENT = (
        vocabulary.AnomalyType.FEATURE_ABANDONMENT.value,
        vocabulary.AnomalyType.FEATURE_ABANDONMENT.label,
    )
    HEALTH_DECLINE = "health_decline", "Health score decline"
    OTHER = "other", "Other"


class RiskSignal(models.Model):
    Kind = RiskSignalKind

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="risk_signals")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=20, choices=Severity.choices)
    title = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    anomaly = models.ForeignKey(
        "anomalies.UsageAnomaly",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="risk_signals",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("kind", RiskSignalKind, name="risk_signal_kind_valid"),
            choices_constraint("severity", Severity, name="risk_signal_severity_valid"),
            # One signal per anomaly: a rescan updates it instead of raising another.
            models.UniqueConstraint(fields=["anomaly"], name="risk_signal_one_per_anomaly"),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="risk_customer_idx")]

    def __str__(self):
        return self.title


class HealthScoreHistory(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="health_scores")
    date = models.DateField()
    score = models.PositiveSmallIntegerField(help_text="Overall health, 0 to 100.")
    usage_component = models.FloatField(help_text="The usage part of the score, 0 to 100.")

    class Meta:
        verbose_name_plural = "health score history"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "date"], name="health_one_per_day"),
            models.CheckConstraint(condition=Q(score__lte=100), name="health_score_range"),
            models.CheckConstraint(
                condition=Q(usage_component__gte=0, usage_component__lte=100),
                name="health_usage_component_range",
            ),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.date}: {self.score}"


class LifecycleKind(models.TextChoices):
    CHURNED = "churned", "Churned"
    CONTRACTED = "contracted", "Contracted"
    RENEWED = "renewed", "Renewed"
    EXPANDED = "expanded", "Expanded"


class LifecycleSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORT = "import", "Import"
    DEMO = "demo", "Demo data"


class LifecycleEvent(models.Model):
    """A change in the commercial relationship (churn, contraction, renewal, expansion).

    What happened after an anomaly: the learning loop derives anomaly outcomes from these
    and measures which kinds of alert were worth acting on.
    """

    Kind = LifecycleKind
    Source = LifecycleSource

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="lifecycle_events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    date = models.DateField(validators=[validate_usage_date])
    arr_before = models.DecimalField(
        "ARR before", max_digits=14, decimal_places=2, null=True, blank=True
    )
    arr_after = models.DecimalField(
        "ARR after", max_digits=14, decimal_places=2, null=True, blank=True
    )
    note = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date"]
        constraints = [
            choices_constraint("kind", LifecycleKind, name="lifecycle_kind_valid"),
            choices_constraint("source", LifecycleSource, name="lifecycle_source_valid"),
            # Recording the same change twice (a re-import) updates it instead.
            models.UniqueConstraint(
                fields=["customer", "kind", "date"], name="lifecycle_one_per_kind_day"
            ),
            models.CheckConstraint(
                condition=(Q(arr_before__isnull=True) | Q(arr_before__gte=0))
                & (Q(arr_after__isnull=True) | Q(arr_after__gte=0)),
                name="lifecycle_arr_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["customer", "date"], name="lifecycle_customer_date_idx")]

    def __str__(self):
        return f"{self.customer_id} {self.get_kind_display()} on {self.date}"

    def clean(self):
        # The API's and the import's rule, so admin refuses the same figures in the same words.
        from .lifecycle import arr_problem

        problem = arr_problem(self.kind, self.arr_before, self.arr_after)
        if problem:
            raise ValidationError({problem[0]: problem[1]})
