"""The learning loop's report in the API: which kinds of anomaly were followed by churn,
contraction or expansion (effectiveness), and weekly precision.

Thin views: parse with `InsightsQueryForm` (shared with the page), call a selector, render.
A CSM's report covers their own portfolio; staff see every account, or one CSM's with `csm`.
The definitions are in `anomalies/selectors_insights.py`.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .insights import MIN_ANOMALIES, MIN_EVENTS
from .insights_query import PERIODS, insights_query_parse
from .models import DismissReason
from .selectors_insights import (
    PRECISION_GROUPINGS,
    effectiveness_report,
    precision_weekly,
)

PERIOD_PARAMETERS = [
    OpenApiParameter(
        "start",
        OpenApiTypes.DATE,
        description="First anomaly start date counted. Default: a year before `end`.",
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        description="Last anomaly start date counted. Default: one outcome window ago.",
    ),
    OpenApiParameter(
        "csm", int, description="Staff: one CSM's portfolio (their user id). A CSM: their own."
    ),
]


def parse_query(request) -> dict:
    """The validated query with the scope as "customers", or a 400 naming each bad field."""
    form, query = insights_query_parse(
        data=request.query_params, user=request.user, today=timezone.localdate()
    )
    if query is None:
        raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
    return query


class RateSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    total = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class LiftSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    small_sample = serializers.BooleanField()


class OutcomeRatesSerializer(serializers.Serializer):
    rate = RateSerializer(help_text="Share of the group's anomalies followed by the outcome.")
    base_rate = RateSerializer(
        help_text="Share of account-windows of accounts without such an anomaly."
    )
    lift = LiftSerializer()


class DismissedSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class DismissalsSerializer(serializers.Serializer):
    false_positive = DismissedSerializer()
    expected = DismissedSerializer()
    new_normal = DismissedSerializer()
    data_issue = DismissedSerializer()


class EffectivenessRowSerializer(serializers.Serializer):
    anomaly_type = serializers.CharField()
    severity = serializers.CharField()
    family = serializers.CharField(help_text='A core metric, or "feature:*" for every feature.')
    count = serializers.IntegerField()
    accounts = serializers.IntegerField()
    dismissed = DismissalsSerializer()
    churn_or_contraction = OutcomeRatesSerializer()
    expansion = OutcomeRatesSerializer()
    small_sample = serializers.BooleanField(help_text="Neither lift means anything yet.")


def effectiveness_row(row) -> dict:
    """An EffectivenessRow in the API's (and the CSV's) shape."""
    return {
        "anomaly_type": row.anomaly_type,
        "severity": row.severity,
        "family": row.family,
        "count": row.count,
        "accounts": row.accounts,
        "dismissed": {
            reason: {"count": row.dismissed[reason], "share": row.dismissed_share(reason)}
            for reason in DismissReason.values
        },
        "churn_or_contraction": {
            "rate": row.loss,
            "base_rate": row.loss_base,
            "lift": row.loss_lift,
        },
        "expansion": {"rate": row.gain, "base_rate": row.gain_base, "lift": row.gain_lift},
        "small_sample": row.small_sample,
    }


class EffectivenessApi(APIView):
    """For each anomaly type x severity x metric family, over a period: how many, how they
    were dismissed, and how often churn/contraction or expansion followed within the outcome
    window, against the base rate of accounts without such an anomaly (the lift, with its
    95 % interval and counts)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Effectiveness"

        start = serializers.DateField()
        end = serializers.DateField()
        window_days = serializers.IntegerField()
        window_complete = serializers.BooleanField(
            help_text="False when recent anomalies have not had their whole window yet."
        )
        accounts = serializers.IntegerField()
        min_anomalies = serializers.IntegerField()
        min_events = serializers.IntegerField()
        rows = EffectivenessRowSerializer(many=True)

    @extend_schema(parameters=PERIOD_PARAMETERS, responses=OutputSerializer)
    def get(self, request):
        query = parse_query(request)
        report = effectiveness_report(
            customers=query["customers"],
            start=query["start"],
            end=query["end"],
            today=timezone.localdate(),
        )
        body = {
            "start": report.start,
            "end": report.end,
            "window_days": report.window_days,
            "window_complete": report.window_complete,
            "accounts": report.accounts,
            "min_anomalies": MIN_ANOMALIES,
            "min_events": MIN_EVENTS,
            "rows": [effectiveness_row(row) for row in report.rows],
        }
        return Response(self.OutputSerializer(body).data)


class PrecisionCountsSerializer(serializers.Serializer):
    """A `selectors_insights.PrecisionCounts`."""

    total = serializers.IntegerField(help_text="Anomalies that started.")
    judged = serializers.IntegerField(help_text="Dismissed, given an outcome or acted on.")
    dismissed = inline_serializer(
        "PrecisionDismissals",
        {reason: serializers.IntegerField() for reason in DismissReason.values},
    )
    mattered = serializers.IntegerField(
        help_text="Not dismissed, and churned/contracted/expanded or acted on."
    )
    precision = RateSerializer(help_text="Judged and not dismissed as a false positive.")


class PrecisionWeekSerializer(PrecisionCountsSerializer):
    week = serializers.DateField(help_text="The Monday of the week the anomalies started in.")


class PrecisionApi(APIView):
    """Weekly precision: among judged anomalies, the share not dismissed as a false positive;
    the four dismissal reasons counted apart. One series per `by` value."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Precision"

        start = serializers.DateField()
        end = serializers.DateField()
        by = serializers.ChoiceField(choices=PRECISION_GROUPINGS)
        period = serializers.ChoiceField(choices=PERIODS)
        series = inline_serializer(
            "PrecisionSeries",
            {
                "key": serializers.CharField(),
                "label": serializers.CharField(),
                "overall": PrecisionCountsSerializer(),
                "weeks": PrecisionWeekSerializer(many=True),
            },
            many=True,
        )

    @extend_schema(
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("by", str, enum=PRECISION_GROUPINGS, default="type"),
            OpenApiParameter("period", str, enum=PERIODS, default="week"),
        ],
        responses=OutputSerializer,
    )
    def get(self, request):
        query = parse_query(request)
        series = precision_weekly(
            customers=query["customers"], start=query["start"], end=query["end"], by=query["by"]
        )
        body = {
            "start": query["start"],
            "end": query["end"],
            "by": query["by"],
            "period": query["period"],
            "series": [
                {
                    "key": s.key,
                    "label": s.label,
                    "overall": s.overall,
                    "weeks": s.weeks,
                }
                for s in series
            ],
        }
        return Response(self.OutputSerializer(body).data)
