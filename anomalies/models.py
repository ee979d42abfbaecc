import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.constraints import choice_members, choices_constraint
from customers.metrics import METRIC_MAX_LENGTH
from customers.models import Customer, Severity
from customers.validators import NOTE_MAX_LENGTH, NOTE_VALIDATORS

from .detection import vocabulary

AnomalyType = models.TextChoices("AnomalyType", choice_members(vocabulary.AnomalyType))
Direction = models.TextChoices("Direction", choice_members(vocabulary.Direction))


def _types_have_direction(direction: vocabulary.Direction, *, name: str):
    """A CHECK constraint that the types whose direction is fixed to `direction` have it."""
    types = [t.value for t in vocabulary.AnomalyType if t.direction == direction]
    # One type is compared with =, several with IN (the form the constraint was created in).
    of_type = Q(anomaly_type=types[0]) if len(types) == 1 else Q(anomaly_type__in=types)
    return models.CheckConstraint(condition=~of_type | Q(direction=direction.value), name=name)


class DismissReason(models.TextChoices):
    FALSE_POSITIVE = "false_positive", "False positive"
    EXPECTED = "expected", "Expected (e.g. a planned change)"
    NEW_NORMAL = "new_normal", "New normal"
    DATA_ISSUE = "data_issue", "Data issue"


class Sensitivity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class AnomalyStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"
    # The scan stopped reporting it after the detection settings in force for its series
    # changed, while its usage is still outside the normal range: not a recovery. The scan
    # opens it again when the settings change back (anomalies.scan_results).
    SUPPRESSED_BY_SETTINGS = "suppressed_by_settings", "Suppressed by settings"


# The vocabulary's rank in SQL: 0 for info up to 2 for critical.
SEVERITY_RANK = models.Case(
    *(
        models.When(severity=s.value, then=models.Value(rank))
        for s, rank in vocabulary.SEVERITY_RANK.items()
    ),
    output_field=models.SmallIntegerField(),
)
# What needs a look first: open, then suppressed by settings (not over, only no longer
# alerted on), then resolved, then dismissed.
STATUS_ORDER = (
    AnomalyStatus.OPEN,
    AnomalyStatus.SUPPRESSED_BY_SETTINGS,
    AnomalyStatus.RESOLVED,
    AnomalyStatus.DISMISSED,
)
STATUS_RANK = models.Case(
    *(models.When(status=s.value, then=models.Value(rank)) for rank, s in enumerate(STATUS_ORDER)),
    output_field=models.SmallIntegerField(),
)


class Outcome(models.TextChoices):
    """What happened to the account after the anomaly: the learning loop's ground truth."""

    CHURNED = "churned", "Churned"
    CONTRACTED = "contracted", "Contracted"
    EXPANDED = "expanded", "Expanded"
    RENEWED = "renewed", "Renewed"
    NO_IMPACT = "no_impact", "No impact"
    UNKNOWN = "unknown", "Unknown"


def outcome_event_deleted(collector, field, sub_objs, using):
    """on_delete of UsageAnomaly.outcome_event: an outcome derived from a deleted lifecycle
    change goes back to unknown, since a derived outcome must name its change (a plain
    SET_NULL would break that constraint, and with it the deletion of a customer). The
    lifecycle services derive outcomes again before they delete a change; this catches the
    deletions that bypass them (a customer's cascade, the shell). The updates run in the
    order added, so the row is never derived without an event in between."""
    # A list, not a filtered queryset: that would be re-read after the first update below.
    derived = [anomaly for anomaly in sub_objs if anomaly.outcome_derived]
    model = field.model
    collector.add_field_update(model._meta.get_field("outcome_derived"), False, derived)
    collector.add_field_update(model._meta.get_field("outcome"), Outcome.UNKNOWN.value, derived)
    collector.add_field_update(field, None, sub_objs)


class Confidence(models.TextChoices):
    NORMAL = "normal", "Normal"
    LOW = "low", "Low (short history)"


class UsageAnomaly(models.Model):
    """One anomalous event on one customer's metric: a run of days, open until it ends.

    The first columns are the product brief's `usage_anomalies` table; the rest is what the
    scan, the pages and the learning loop need.
    """

    Status = AnomalyStatus
    Confidence = Confidence

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="anomalies")
    metric_type = models.CharField(max_length=METRIC_MAX_LENGTH)
    anomaly_type = models.CharField(max_length=50, choices=AnomalyType.choices)
    severity = models.CharField(max_length=20, choices=Severity.choices)
    baseline_value = models.DecimalField(max_digits=20, decimal_places=4)
    actual_value = models.DecimalField(max_digits=20, decimal_places=4)
    # Wide enough for every realistic change (a baseline of 0.01/day rising to a trillion is
    # 1e13 %); the scan clamps anything beyond a column's range and sets figures_clamped.
    deviation_percent = models.DecimalField(max_digits=20, decimal_places=2)
    detected_at = models.DateTimeField()
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    status = models.CharField(max_length=30, choices=Status.choices, default=Status.OPEN)
    # The lists' default order (open first, the worst first) as stored columns the database
    # computes on every write: an index can hold them (anomaly_csm_worst_first_idx), which it
    # cannot do for an ORDER BY of CASE expressions written in the query.
    status_rank = models.GeneratedField(
        expression=STATUS_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    severity_rank = models.GeneratedField(
        expression=SEVERITY_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    # The account's CSM, copied here so that a CSM's list reads their own anomalies through
    # an index instead of joining every tenant's rows to the accounts. The database keeps it:
    # triggers (migration anomaly_csm_and_ranks) set it from the account on any insert and any
    # write that names it, and rewrite it when an account changes hands, whichever path
    # changes it (a service, the admin, the importer, a user's deletion, raw SQL). What the
    # application writes here is overwritten; no code sets it.
    csm = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # anomaly_csm_worst_first_idx leads with it
        help_text="The account's CSM, kept in sync by the database.",
    )
    direction = models.CharField(max_length=10, choices=Direction.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Empty while ongoing.")
    score = models.FloatField(default=0, help_text="Robust z-score of the event.")
    expected_low = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    expected_high = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    confidence = models.CharField(
        max_length=10, choices=Confidence.choices, default=Confidence.NORMAL
    )
    data_completeness = models.FloatField(
        default=1.0, help_text="Share of days in the detection window that had data (0 to 1)."
    )
    possible_cause = models.CharField(max_length=255, blank=True)
    projected_value = models.DecimalField(
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="For a gradual decline: the daily level it reaches in four weeks at its pace.",
    )
    figures_clamped = models.BooleanField(
        default=False,
        help_text="A figure (baseline, actual, band or deviation) was beyond what the columns "
        "hold and is stored at the column's limit: look at the raw usage.",
    )
    dismiss_reason = models.CharField(
        max_length=20, choices=DismissReason.choices, blank=True, default=""
    )
    dismiss_note = models.TextField(
        blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS
    )
    dismissed_until = models.DateField(
        null=True, blank=True, help_text="For 'expected': suppress this series and type until."
    )
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    # A digest of the detection config in force for the series when a scan last reported
    # the event (anomalies.detection_settings.config_key): a scan that no longer reports it
    # under another config knows the settings changed, not the usage.
    settings_key = models.CharField(max_length=16, blank=True, default="")
    suppressed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a scan found it no longer qualifies under changed detection settings "
        "while its usage was still outside the normal range.",
    )
    # The outcome: set by the CSM, or derived from a lifecycle change within the outcome
    # window after the anomaly (then `outcome_derived`, and a CSM's choice overrides it).
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.UNKNOWN)
    outcome_derived = models.BooleanField(default=False)
    outcome_note = models.TextField(
        blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS
    )
    outcome_event = models.ForeignKey(
        "customers.LifecycleEvent",
        null=True,
        blank=True,
        on_delete=outcome_event_deleted,
        related_name="anomalies",
        help_text="The lifecycle change the outcome was derived from.",
    )
    outcome_set_at = models.DateTimeField(null=True, blank=True)
    outcome_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The series' learned evidence factor when the event was detected: how many times the
    # configured evidence this account's history made the engine require (1 = as configured).
    evidence_factor = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "usage anomalies"
        ordering = ["-detected_at"]
        constraints = [
            choices_constraint("anomaly_type", AnomalyType, name="anomaly_type_valid"),
            choices_constraint("severity", Severity, name="anomaly_severity_valid"),
            choices_constraint("direction", Direction, name="anomaly_direction_valid"),
            choices_constraint("status", AnomalyStatus, name="anomaly_status_valid"),
            choices_constraint("confidence", Confidence, name="anomaly_confidence_valid"),
            choices_constraint(
                "dismiss_reason", DismissReason, name="anomaly_dismiss_reason_valid", blank=True
            ),
            # A rescan updates the open event instead of opening a second one.
            models.UniqueConstraint(
                fields=["customer", "metric_type", "anomaly_type"],
                condition=Q(status="open"),
                name="anomaly_one_open_per_series_type",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="anomaly_end_after_start",
            ),
            # Dismissed exactly when it carries a dismissal time and reason.
            models.CheckConstraint(
                condition=(
                    Q(status="dismissed", dismissed_at__isnull=False) & ~Q(dismiss_reason="")
                )
                | (~Q(status="dismissed") & Q(dismissed_at__isnull=True)),
                name="anomaly_dismissal_consistent",
            ),
            # Drops, abandonments and gradual declines are losses, spikes are gains; pattern
            # changes and seasonal deviations can go either way (AnomalyType.direction).
            _types_have_direction(
                vocabulary.Direction.NEGATIVE, name="anomaly_losses_are_negative"
            ),
            _types_have_direction(
                vocabulary.Direction.POSITIVE, name="anomaly_spikes_are_positive"
            ),
            # Suppressed by settings exactly when it carries the time it was.
            models.CheckConstraint(
                condition=Q(status="suppressed_by_settings", suppressed_at__isnull=False)
                | (~Q(status="suppressed_by_settings") & Q(suppressed_at__isnull=True)),
                name="anomaly_suppression_consistent",
            ),
            models.CheckConstraint(
                condition=Q(data_completeness__gte=0, data_completeness__lte=1),
                name="anomaly_completeness_range",
            ),
            choices_constraint("outcome", Outcome, name="anomaly_outcome_valid"),
            # A derived outcome names the lifecycle change it came from.
            models.CheckConstraint(
                condition=Q(outcome_derived=False) | Q(outcome_event__isnull=False),
                name="anomaly_derived_outcome_has_event",
            ),
            models.CheckConstraint(
                condition=Q(evidence_factor__gt=0, evidence_factor__lte=10),
                name="anomaly_evidence_factor_range",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-detected_at"], name="anomaly_customer_idx"),
            # The learning loop reads anomalies by when they started.
            models.Index(fields=["start_date", "anomaly_type"], name="anomaly_start_type_idx"),
            models.Index(fields=["status", "severity"], name="anomaly_status_severity_idx"),
            # A CSM's list in its default order (filters.SORTS["status"]) and its count: an
            # index scan of the CSM's own rows that stops after a page, whatever other CSMs
            # hold.
            models.Index(
                fields=[
                    "csm",
                    "status_rank",
                    "-severity_rank",
                    "-start_date",
                    "-detected_at",
                    "id",
                ],
                name="anomaly_csm_worst_first_idx",
            ),
            # Staff's list of every CSM's anomalies in the same order: read a page off the
            # index instead of sorting the whole table on every request.
            models.Index(
                fields=["status_rank", "-severity_rank", "-start_date", "-detected_at", "id"],
                name="anomaly_worst_first_idx",
            ),
        ]

    def __str__(self):
        # The account's name, not its id: lists that show anomalies select the customer with
        # them (the admin's list_select_related), so this costs no query per row there.
        return f"{self.get_anomaly_type_display()} in {self.metric_type} ({self.customer.name})"

    @property
    def action_records(self) -> list["AnomalyAction"]:
        """What was done about the anomaly, newest first: the list a selector prefetched into
        `prefetched_actions` (selectors.anomaly_list_with_record), else a query. A plain list
        rather than the `actions` manager: Django clones a queryset per row to attach a
        prefetched manager, which cost a page of 50 anomalies more than its SQL (issue 15)."""
        try:
            return self.prefetched_actions
        except AttributeError:
            return list(self.actions.select_related("user"))


class DetectionSettings(models.Model):
    """Sensitivity and thresholds. Scope: global (no customer, no metric), per metric across
    all customers (metric only), per customer (customer only) or per customer and metric.
    An empty threshold means "take it from the sensitivity preset". Scopes are merged in one
    place, `anomalies.detection_settings`, from the most specific down."""

    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="detection_settings",
    )
    metric = models.CharField(max_length=METRIC_MAX_LENGTH, blank=True, default="")
    sensitivity = models.CharField(
        max_length=10, choices=Sensitivity.choices, default=Sensitivity.MEDIUM
    )
    drop_percent = models.FloatField(null=True, blank=True, help_text="Minimum drop, in %.")
    spike_percent = models.FloatField(null=True, blank=True, help_text="Minimum spike, in %.")
    z_threshold = models.FloatField(null=True, blank=True, help_text="Minimum robust |z|.")
    min_duration_days = models.PositiveSmallIntegerField(null=True, blank=True)
    min_volume = models.FloatField(
        null=True, blank=True, help_text="Baselines below this daily volume are not alerted on."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "detection settings"
        constraints = [
            choices_constraint("sensitivity", Sensitivity, name="settings_sensitivity_valid"),
            models.UniqueConstraint(
                fields=["customer", "metric"],
                condition=Q(customer__isnull=False),
                name="settings_one_per_customer_metric",
            ),
            models.UniqueConstraint(
                fields=["metric"],
                condition=Q(customer__isnull=True),
                name="settings_one_global_per_metric",
            ),
            models.CheckConstraint(
                condition=Q(drop_percent__isnull=True)
                | Q(drop_percent__gt=0, drop_percent__lte=100),
                name="settings_drop_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(spike_percent__isnull=True) | Q(spike_percent__gt=0),
                name="settings_spike_percent_positive",
            ),
            models.CheckConstraint(
                condition=Q(z_threshold__isnull=True) | Q(z_threshold__gt=0),
                name="settings_z_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_duration_days__isnull=True) | Q(min_duration_days__gte=1),
                name="settings_min_duration_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_volume__isnull=True) | Q(min_volume__gte=0),
                name="settings_min_volume_non_negative",
            ),
        ]

    def __str__(self):
        scope = [str(self.customer) if self.customer_id else "all customers"]
        scope.append(self.metric or "all metrics")
        return f"{self.get_sensitivity_display()} sensitivity ({', '.join(scope)})"


def scan_scope_key(customer_ids) -> str:
    """ "all" (customer_ids None) or a stable key of the customer ids a scan covers: two
    active runs with one key never overlap (the scope lock)."""
    if customer_ids is None:
        return "all"
    digest = hashlib.sha256(",".join(sorted(str(c) for c in customer_ids)).encode())
    return "customers:" + digest.hexdigest()[:40]


class ScanTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    API = "api", "API"
    SHELL = "shell", "Shell"
    USER = "user", "User (page)"


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIALLY_FAILED = "partially_failed", "Partially failed"
    FAILED = "failed", "Failed"


class ScanRun(models.Model):
    Trigger = ScanTrigger
    Status = ScanStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # "all" or a stable key of the customer ids scanned: two runs with one key never overlap.
    scope_key = models.CharField(max_length=64, default="all")
    scope = models.JSONField(default=dict, blank=True)
    as_of = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    customers_total = models.PositiveIntegerField(default=0)
    customers_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    series_count = models.PositiveIntegerField(default=0)
    anomalies_new = models.PositiveIntegerField(default=0)
    anomalies_updated = models.PositiveIntegerField(default=0)
    anomalies_resolved = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by every chunk: a queued or running scan whose heartbeat stopped long ago was
    # abandoned (its workers died) and no longer blocks its scope.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    ACTIVE_STATUSES = (ScanStatus.QUEUED, ScanStatus.RUNNING)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("trigger", ScanTrigger, name="scan_trigger_valid"),
            choices_constraint("status", ScanStatus, name="scan_status_valid"),
            # The lock: two scans of one scope never run at once, whatever the entry point.
            models.UniqueConstraint(
                fields=["scope_key"],
                condition=Q(status__in=["queued", "running"]),
                name="scan_one_active_per_scope",
            ),
        ]
        indexes = [models.Index(fields=["scope_key", "status"], name="scan_scope_status_idx")]

    def __str__(self):
        return f"Scan {self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScanChunk(models.Model):
    """One slice of a scan's customers, processed by one task. Its status is written in the
    same transaction as its results, so a redelivered task sees it done and stops there."""

    Status = ChunkStatus

    run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    customer_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    series_count = models.PositiveIntegerField(default=0)
    anomalies_new = models.PositiveIntegerField(default=0)
    anomalies_updated = models.PositiveIntegerField(default=0)
    anomalies_resolved = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The ids of the open anomalies this chunk created or changed, written with its done mark
    # (so only ever seen once the chunk committed) and emptied (null) when taken by
    # services.scans.scan_news_take: notifications read them there, the scan knows no reader.
    news = models.JSONField(null=True, blank=True, default=None)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            choices_constraint("status", ChunkStatus, name="scan_chunk_status_valid"),
            models.UniqueConstraint(fields=["run", "index"], name="scan_chunk_unique_index"),
        ]
        indexes = [
            # The minute beat looks for news among every chunk ever run.
            models.Index(
                fields=["id"], condition=models.Q(news__isnull=False), name="scan_chunk_news_idx"
            ),
        ]

    def __str__(self):
        return f"chunk {self.index} of {self.run_id} ({self.status})"


class DataQualityKind(models.TextChoices):
    PORTFOLIO_OUTAGE = "portfolio_outage", "Portfolio-wide outage or holiday"
    COHORT_MOVE = "cohort_move", "Cohort moved together (regional event, storm, local outage)"
    DATA_ISSUE = "data_issue", "Data issue (dismissed anomaly)"


class DataQualityEvent(models.Model):
    """Data that must not be read as customer behaviour, shown to ops: days on which a large
    share of the portfolio moved together (an outage or a global holiday), or one series'
    days a CSM dismissed as a data issue. Scans keep these days out of every baseline."""

    Kind = DataQualityKind

    kind = models.CharField(max_length=20, choices=DataQualityKind.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    metric = models.CharField(max_length=METRIC_MAX_LENGTH, blank=True, default="")
    affected_share = models.FloatField(null=True, blank=True)
    series_affected = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS)
    scan_run = models.ForeignKey(
        ScanRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    anomaly = models.ForeignKey(
        UsageAnomaly, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            choices_constraint("kind", DataQualityKind, name="dq_kind_valid"),
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="dq_end_after_start"
            ),
            # Every chunk of a scan sees the same outage: it is recorded once.
            models.UniqueConstraint(
                fields=["kind", "start_date"],
                condition=Q(kind="portfolio_outage"),
                name="dq_one_outage_per_start",
            ),
            models.UniqueConstraint(
                fields=["anomaly"],
                condition=Q(anomaly__isnull=False),
                name="dq_one_per_anomaly",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.start_date}..{self.end_date}"


class ActionKind(models.TextChoices):
    INVESTIGATE = "investigate", "Investigate"
    CONTACT_CUSTOMER = "contact_customer", "Contact customer"
    SCHEDULE_TRAINING = "schedule_training", "Schedule training"
    EXPLORE_EXPANSION = "explore_expansion", "Explore expansion"
    SEND_CONGRATULATIONS = "send_congratulations", "Send congratulations"
    DISMISS = "dismiss", "Dismiss"
    REOPEN = "reopen", "Reopen"
    RESCAN = "rescan", "Rescan"


class AnomalyAction(models.Model):
    """What a CSM did about an anomaly (who, what, when): the audit trail, and the learning
    loop's record of which anomalies led to action."""

    Kind = ActionKind

    anomaly = models.ForeignKey(UsageAnomaly, on_delete=models.CASCADE, related_name="actions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    note = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [choices_constraint("kind", ActionKind, name="anomaly_action_kind_valid")]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.user_id} on {self.anomaly_id}"


class TuningStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a decision"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    REVERTED = "reverted", "Reverted"


class TuningProposal(models.Model):
    """A threshold change proposed because a scope's false-positive rate exceeds the target,
    with its evidence: the judged counts and a backtest over stored usage. Nothing changes
    until staff accept it (anomalies.services.tuning); acceptance writes the detection
    settings of `settings_metric` for every customer and keeps the values it replaced, so a
    revert restores them."""

    Status = TuningStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The judged scope: anomalies of this type on this metric family ("feature:*" or one
    # metric), of one severity or of all ("").
    anomaly_type = models.CharField(max_length=50, choices=AnomalyType.choices)
    metric_family = models.CharField(max_length=METRIC_MAX_LENGTH)
    severity = models.CharField(max_length=20, choices=Severity.choices, blank=True, default="")
    # The DetectionSettings scope acceptance writes: every customer, this metric or family
    # ("" for all metrics).
    settings_metric = models.CharField(max_length=METRIC_MAX_LENGTH, blank=True, default="")
    judged = models.PositiveIntegerField(help_text="Judged anomalies in the scope.")
    false_positives = models.PositiveIntegerField(help_text="Of those, dismissed as such.")
    false_positive_rate = models.FloatField()
    target_rate = models.FloatField()
    judged_since = models.DateField(help_text="First start day of the judged anomalies.")
    # {"min_duration_days": {"from": 2, "to": 3}, "drop_percent": {"from": 30.0, "to": 40.0}}
    change = models.JSONField()
    text = models.CharField(max_length=255, help_text="The change in words.")
    # Counts by judgement of the stored anomalies that would disappear / stay, and the
    # replay's own totals (anomalies.services.tuning.Backtest).
    backtest = models.JSONField(default=dict)
    hides_churn = models.BooleanField(
        default=False, help_text="It would hide an anomaly that preceded a churn."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS)
    # The settings row as it was before acceptance: {"exists": false} or {"exists": true,
    # "values": {...}}; a revert puts it back.
    previous = models.JSONField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reverted_at = models.DateTimeField(null=True, blank=True)
    revert_reason = models.TextField(
        blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("status", TuningStatus, name="tuning_status_valid"),
            choices_constraint("anomaly_type", AnomalyType, name="tuning_anomaly_type_valid"),
            choices_constraint("severity", Severity, name="tuning_severity_valid", blank=True),
            models.CheckConstraint(
                condition=Q(false_positives__lte=models.F("judged"))
                & Q(false_positive_rate__gte=0, false_positive_rate__lte=1)
                & Q(target_rate__gt=0, target_rate__lt=1),
                name="tuning_rates_valid",
            ),
            # Waiting: nobody decided. Decided: when, and why.
            models.CheckConstraint(
                condition=(Q(status="pending") & Q(decided_at__isnull=True))
                | (~Q(status="pending") & Q(decided_at__isnull=False) & ~Q(reason="")),
                name="tuning_decision_consistent",
            ),
            # What acceptance replaced is kept for as long as it may be restored.
            models.CheckConstraint(
                condition=~Q(status__in=["accepted", "reverted"]) | Q(previous__isnull=False),
                name="tuning_accepted_keeps_previous",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="reverted") & Q(reverted_at__isnull=False) & ~Q(revert_reason="")
                )
                | (~Q(status="reverted") & Q(reverted_at__isnull=True)),
                name="tuning_revert_consistent",
            ),
            # The weekly task replaces a scope's waiting proposal instead of piling them up.
            models.UniqueConstraint(
                fields=["anomaly_type", "metric_family", "severity"],
                condition=Q(status="pending"),
                name="tuning_one_pending_per_scope",
            ),
        ]

    def __str__(self):
        return f"{self.text} ({self.get_status_display()})"


class FollowUpKind(models.TextChoices):
    """What a follow-up is for: the card actions that leave work to do (their ActionKind
    values, so a follow-up and the action that opened it share one word), or anything else
    a CSM plans through the API."""

    SCHEDULE_TRAINING = ActionKind.SCHEDULE_TRAINING.value, ActionKind.SCHEDULE_TRAINING.label
    EXPLORE_EXPANSION = ActionKind.EXPLORE_EXPANSION.value, ActionKind.EXPLORE_EXPANSION.label
    SEND_CONGRATULATIONS = (
        ActionKind.SEND_CONGRATULATIONS.value,
        ActionKind.SEND_CONGRATULATIONS.label,
    )
    CONTACT_CUSTOMER = ActionKind.CONTACT_CUSTOMER.value, ActionKind.CONTACT_CUSTOMER.label
    OTHER = "other", "Other"


class FollowUpStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


# What closing a follow-up says the anomaly led to: the CSM's outcomes (unknown, "no
# judgement", is not something one closes a task with), or no change to the anomaly's outcome.
CLOSING_NO_CHANGE = "no_change"
ClosingOutcome = models.TextChoices(
    "ClosingOutcome",
    [
        ("NO_CHANGE", (CLOSING_NO_CHANGE, "No change")),
        *[(o.name, (o.value, o.label)) for o in Outcome if o != Outcome.UNKNOWN],
    ],
)


class FollowUp(models.Model):
    """A task a CSM took on about an account, usually from an anomaly card (a training to
    schedule, an expansion to explore): due on a day, open until done or cancelled. Closing
    one as done records what it led to, and that outcome becomes the anomaly's
    (anomalies.services.followups).

    The anomaly is SET_NULL, not CASCADE: the task is the CSM's work on the account and its
    closing note is history; it outlives the signal that prompted it (an anomaly removed in
    the admin or by a demo reseed). The account is CASCADE: without it there is nothing to
    follow up."""

    Kind = FollowUpKind
    Status = FollowUpStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="followups")
    anomaly = models.ForeignKey(
        UsageAnomaly,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    # SET_NULL: a departed user's tasks stay with the account, whose CSM still sees them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    kind = models.CharField(max_length=30, choices=FollowUpKind.choices)
    title = models.CharField(max_length=200)
    due_date = models.DateField()
    status = models.CharField(
        max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    closing_outcome = models.CharField(
        max_length=20, choices=ClosingOutcome.choices, blank=True, default=""
    )
    closing_note = models.TextField(
        blank=True, max_length=NOTE_MAX_LENGTH, validators=NOTE_VALIDATORS
    )

    class Meta:
        ordering = ["due_date", "created_at"]
        constraints = [
            choices_constraint("kind", FollowUpKind, name="followup_kind_valid"),
            choices_constraint("status", FollowUpStatus, name="followup_status_valid"),
            choices_constraint(
                "closing_outcome", ClosingOutcome, name="followup_closing_outcome_valid", blank=True
            ),
            # Open: not closed, no outcome. Done: when, and what it led to. Cancelled: when.
            models.CheckConstraint(
                condition=(Q(status="open") & Q(closed_at__isnull=True) & Q(closing_outcome=""))
                | (Q(status="done") & Q(closed_at__isnull=False) & ~Q(closing_outcome=""))
                | (Q(status="cancelled") & Q(closed_at__isnull=False) & Q(closing_outcome="")),
                name="followup_closing_consistent",
            ),
            # A second click on a card's button must not open a second task for the same
            # thing: the service hands back the open one.
            models.UniqueConstraint(
                fields=["anomaly", "kind"],
                condition=Q(status="open", anomaly__isnull=False),
                name="followup_one_open_per_anomaly_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"], name="followup_status_due_idx"),
        ]

    def __str__(self):
        return f"{self.title} (due {self.due_date:%Y-%m-%d}, {self.get_status_display()})"

    @staticmethod
    def overdue_q(today) -> Q:
        """Overdue: still open after its due day."""
        return Q(status=FollowUpStatus.OPEN, due_date__lt=today)
