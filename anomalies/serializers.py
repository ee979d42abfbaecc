"""Output shapes shared by several API views (input shapes live in their views)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import FastReadMixin
from customers.metrics import METRIC_MAX_LENGTH
from customers.models import LifecycleKind, Severity

from .models import (
    ActionKind,
    AnomalyAction,
    AnomalyStatus,
    AnomalyType,
    ClosingOutcome,
    Confidence,
    DetectionSettings,
    Direction,
    DismissReason,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Outcome,
    ScanRun,
    Sensitivity,
    UsageAnomaly,
)
from .text import anomaly_sentence, evidence_explanation, settings_source_label


class CustomerRefSerializer(FastReadMixin, serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class DismissalSerializer(serializers.Serializer):
    """The dismissal in force on an anomaly, read from its dismiss_* columns."""

    reason = serializers.ChoiceField(choices=DismissReason.choices, source="dismiss_reason")
    note = serializers.CharField(source="dismiss_note")
    until = serializers.DateField(source="dismissed_until", allow_null=True)
    # Null when the user who dismissed it was deleted since.
    by = serializers.CharField(source="dismissed_by.username", allow_null=True)
    at = serializers.DateTimeField(source="dismissed_at")


class OutcomeEventSerializer(FastReadMixin, serializers.Serializer):
    """The lifecycle change a derived outcome came from."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=LifecycleKind.choices)
    date = serializers.DateField()
    # As the lifecycle API writes them (customers.api.LifecycleEventSerializer).
    arr_before = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    arr_after = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


class AnomalyActionSerializer(FastReadMixin, serializers.ModelSerializer):
    """What was done about the anomaly (contact, training, expansion call, dismissal...)."""

    kind = serializers.ChoiceField(choices=ActionKind.choices)
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AnomalyAction
        fields = ["kind", "note", "user", "created_at"]


class AnomalySerializer(FastReadMixin, serializers.ModelSerializer):
    customer = CustomerRefSerializer()
    anomaly_type = serializers.ChoiceField(choices=AnomalyType.choices)
    # Values without labels: labels would change the schema's SeverityEnum description.
    severity = serializers.ChoiceField(choices=Severity.values)
    direction = serializers.ChoiceField(choices=Direction.choices)
    status = serializers.ChoiceField(choices=AnomalyStatus.choices)
    confidence = serializers.ChoiceField(choices=Confidence.choices)
    dismiss_reason = serializers.ChoiceField(
        choices=[("", "")] + DismissReason.choices, allow_blank=True
    )
    baseline_value = serializers.FloatField()
    actual_value = serializers.FloatField()
    deviation_percent = serializers.FloatField()
    expected_low = serializers.FloatField(allow_null=True)
    expected_high = serializers.FloatField(allow_null=True)
    projected_value = serializers.FloatField(allow_null=True)
    duration_days = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    # The learned evidence factor in force when the anomaly was found, and why.
    evidence_factor = serializers.FloatField(read_only=True)
    evidence_explanation = serializers.SerializerMethodField()
    dismissed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    # The record the learning loop reads: what happened afterwards and what was done.
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    outcome_set_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    outcome_event = OutcomeEventSerializer(allow_null=True, read_only=True)
    actions = AnomalyActionSerializer(many=True, read_only=True, source="action_records")

    class Meta:
        model = UsageAnomaly
        fields = [
            "id",
            "customer",
            "metric_type",
            "anomaly_type",
            "severity",
            "direction",
            "status",
            "baseline_value",
            "actual_value",
            "deviation_percent",
            "start_date",
            "end_date",
            "duration_days",
            "detected_at",
            "last_evaluated_at",
            "score",
            "expected_low",
            "expected_high",
            "confidence",
            "data_completeness",
            "possible_cause",
            "projected_value",
            "figures_clamped",
            "evidence_factor",
            "evidence_explanation",
            "summary",
            "suppressed_at",
            "dismissed_at",
            "dismissed_by",
            "dismiss_reason",
            "dismiss_note",
            "dismissed_until",
            "outcome",
            "outcome_derived",
            "outcome_note",
            "outcome_set_at",
            "outcome_set_by",
            "outcome_event",
            "actions",
        ]

    def get_duration_days(self, anomaly) -> int:
        last = anomaly.end_date or (anomaly.last_evaluated_at or anomaly.detected_at).date()
        return max((last - anomaly.start_date).days + 1, 1)

    def get_evidence_explanation(self, anomaly) -> str:
        return evidence_explanation(
            metric=anomaly.metric_type, evidence_factor=anomaly.evidence_factor
        )

    def get_summary(self, anomaly) -> str:
        return anomaly_sentence(
            anomaly_type=anomaly.anomaly_type,
            metric=anomaly.metric_type,
            deviation_percent=float(anomaly.deviation_percent),
        )


class SeriesSerializer(serializers.Serializer):
    metric = serializers.CharField()
    dates = serializers.ListField(child=serializers.DateField())
    actual = serializers.ListField(child=serializers.FloatField(allow_null=True))
    expected = serializers.ListField(child=serializers.FloatField(allow_null=True))
    expected_low = serializers.ListField(child=serializers.FloatField(allow_null=True))
    expected_high = serializers.ListField(child=serializers.FloatField(allow_null=True))


class AnomalyDetailSerializer(AnomalySerializer):
    series = SeriesSerializer(read_only=True)

    class Meta(AnomalySerializer.Meta):
        fields = AnomalySerializer.Meta.fields + ["series"]


class ScanRunSerializer(serializers.ModelSerializer):
    trigger = serializers.ChoiceField(choices=ScanRun.Trigger.choices)
    status = serializers.ChoiceField(choices=ScanRun.Status.choices)
    errors = serializers.ListField(child=serializers.DictField())

    class Meta:
        model = ScanRun
        fields = [
            "id",
            "status",
            "trigger",
            "as_of",
            "customers_total",
            "customers_done",
            "chunks_total",
            "chunks_done",
            "series_count",
            "anomalies_new",
            "anomalies_updated",
            "anomalies_resolved",
            "error_count",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        ]


class SettingsSerializer(serializers.ModelSerializer):
    customer = serializers.UUIDField(source="customer_id", allow_null=True)
    metric = serializers.CharField(max_length=METRIC_MAX_LENGTH, allow_blank=True)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices)
    updated_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = DetectionSettings
        fields = [
            "customer",
            "metric",
            "sensitivity",
            "drop_percent",
            "spike_percent",
            "z_threshold",
            "min_duration_days",
            "min_volume",
            "updated_by",
            "updated_at",
        ]


class SettingsScopeRefSerializer(serializers.Serializer):
    customer = serializers.UUIDField(source="customer_id", allow_null=True)
    metric = serializers.CharField(allow_blank=True)


class _InForceSerializer(serializers.Serializer):
    source = SettingsScopeRefSerializer(
        allow_null=True,
        help_text="The scope whose override set the value; null when none did: the preset of "
        "the sensitivity in force (for the sensitivity itself, the default preset).",
    )
    source_label = serializers.CharField(
        help_text="Where the value comes from, as a person reads it: \"preset 'high'\", "
        '"global", "API calls", "Acme, API calls".'
    )


class SensitivityInForceSerializer(_InForceSerializer):
    value = serializers.ChoiceField(choices=Sensitivity.choices)


class ThresholdInForceSerializer(_InForceSerializer):
    value = serializers.FloatField()


class DaysInForceSerializer(_InForceSerializer):
    value = serializers.IntegerField()


class SettingsInForceSerializer(serializers.Serializer):
    sensitivity = SensitivityInForceSerializer()
    drop_percent = ThresholdInForceSerializer()
    spike_percent = ThresholdInForceSerializer()
    z_threshold = ThresholdInForceSerializer()
    min_duration_days = DaysInForceSerializer()
    min_volume = ThresholdInForceSerializer()


class SettingsInForceEntrySerializer(SettingsSerializer):
    """A scope's override as saved (null thresholds: not set at this scope) and, in
    `in_force`, the values its series get: merged with the broader scopes and the preset."""

    saved = serializers.SerializerMethodField(
        help_text="Whether the scope has an override of its own (global may have none)."
    )
    # Null for a global scope nobody saved.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    in_force = serializers.SerializerMethodField()

    class Meta(SettingsSerializer.Meta):
        fields = [*SettingsSerializer.Meta.fields, "saved", "in_force"]

    def get_saved(self, row) -> bool:
        return row.pk is not None

    @extend_schema_field(SettingsInForceSerializer)
    def get_in_force(self, row) -> dict:
        """`row.in_force` (selectors.settings_in_force_visible), each value with its source."""
        sensitivity = row.in_force.config.sensitivity
        name = row.customer.name if row.customer_id else ""
        return {
            field: {
                "value": value.value,
                "source": (SettingsScopeRefSerializer(value.source).data if value.source else None),
                "source_label": settings_source_label(
                    source=value.source, customer_name=name, sensitivity=sensitivity, field=field
                ),
            }
            for field, value in row.in_force.values().items()
        }


class FollowUpSerializer(serializers.ModelSerializer):
    """A follow-up: what to do about an account, by when, and (once closed) what it led to."""

    customer = CustomerRefSerializer()
    anomaly = serializers.UUIDField(source="anomaly_id", allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=FollowUpKind.choices)
    status = serializers.ChoiceField(choices=FollowUpStatus.choices)
    # Open and past its due day: annotated by anomalies.selectors.followup_list_visible.
    overdue = serializers.BooleanField(read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    closing_outcome = serializers.ChoiceField(
        choices=[("", "")] + ClosingOutcome.choices, allow_blank=True
    )

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "customer",
            "anomaly",
            "owner",
            "kind",
            "title",
            "due_date",
            "status",
            "overdue",
            "created_at",
            "closed_at",
            "closed_by",
            "closing_outcome",
            "closing_note",
        ]
