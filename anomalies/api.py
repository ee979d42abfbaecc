"""The analytics API: anomalies, dismissals, scans, settings and the chat-assistant summary.

Thin views: parse with an input serializer, call one selector or service, render with an
output serializer. Visibility (a CSM sees only their accounts; another CSM's object is a 404)
comes from the selectors.
"""

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PAGE_PARAMETERS, FilteredListApi, page_of, paginated_response
from customers.metrics import metric_error
from customers.models import Severity
from customers.selectors import customer_find_visible, customer_get_visible
from customers.validators import NOTE_MAX_LENGTH, SEARCH_MAX_LENGTH

from . import selectors
from .detection.vocabulary import FEATURE_FAMILY
from .filters import AnomalyFilterSet, CustomerAnomalyFilterSet
from .models import DismissReason, Outcome, ScanRun, Sensitivity, UsageAnomaly
from .selectors import SUMMARY_DAYS
from .serializers import (
    AnomalyDetailSerializer,
    AnomalySerializer,
    DismissalSerializer,
    ScanRunSerializer,
    SettingsInForceEntrySerializer,
)
from .services.anomalies import AnomalyAlreadyDismissed, anomaly_dismiss, anomaly_reopen
from .services.detection_settings import settings_delete, settings_save
from .services.outcomes import anomaly_outcome_set
from .services.scans import ScanAlreadyRunning, ScanNotQueued, scan_start
from .text import anomaly_summary_line, ask_subject
from .throttles import ScanThrottle


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a string: DRF's UUIDField also takes integers (UUID(int=123))."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class BoundedListField(serializers.ListField):
    """A ListField that refuses a list over `max_length` before validating its items: DRF
    checks the length after them, so four million bad ids would make four million errors."""

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class AnomalyListApi(FilteredListApi):
    """The caller's portfolio anomalies, newest first unless `sort` says otherwise."""

    filterset_class = AnomalyFilterSet

    @extend_schema(
        filters=True,
        parameters=PAGE_PARAMETERS,
        responses=page_of(AnomalySerializer, "AnomalyPage"),
        operation_id="analytics_anomalies_list",
    )
    def get(self, request):
        qs = selectors.anomaly_list_filtered(user=request.user, filters=self.filters(request))
        return paginated_response(self, request, qs, AnomalySerializer)


class CustomerAnomalyListApi(FilteredListApi):
    """One customer's anomalies, newest first unless `sort` says otherwise."""

    filterset_class = CustomerAnomalyFilterSet

    @extend_schema(
        filters=True,
        parameters=PAGE_PARAMETERS,
        responses=page_of(AnomalySerializer, "CustomerAnomalyPage"),
        operation_id="customers_usage_anomalies_list",
    )
    def get(self, request, customer_id):
        customer = customer_get_visible(user=request.user, customer_id=customer_id)
        qs = selectors.anomaly_list_filtered(
            user=request.user, filters=self.filters(request), customer=customer
        )
        return paginated_response(self, request, qs, AnomalySerializer)


class AnomalyDetailApi(APIView):
    """One anomaly with the days around it: actual usage, expected value and band."""

    @extend_schema(responses=AnomalyDetailSerializer)
    def get(self, request, anomaly_id):
        anomaly = selectors.anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
        anomaly.series = selectors.anomaly_series(anomaly=anomaly, today=timezone.localdate())
        return Response(AnomalyDetailSerializer(anomaly).data)


class AnomalyDismissApi(APIView):
    """Dismiss with a reason. Sending the dismissal in force again (same reason, note and until
    date) answers 200 and changes nothing, so a retry is harmless; another one on a dismissed
    anomaly answers 409 with the dismissal in force and changes nothing: reopen first to change
    it (services.anomalies.AnomalyAlreadyDismissed says why)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DismissInput"

        reason = serializers.ChoiceField(choices=DismissReason.choices)
        note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH)
        until = serializers.DateField(required=False, allow_null=True)

        def validate(self, data):
            if data.get("until") and data["reason"] != DismissReason.EXPECTED:
                raise serializers.ValidationError(
                    {"until": "only an 'expected' dismissal takes an until date"}
                )
            return data

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AnomalySerializer,
            409: inline_serializer(
                "DismissConflict",
                {"detail": serializers.CharField(), "dismissal": DismissalSerializer()},
            ),
        },
    )
    def put(self, request, anomaly_id):
        anomaly = selectors.anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            anomaly = anomaly_dismiss(
                anomaly=anomaly,
                user=request.user,
                reason=data.validated_data["reason"],
                note=data.validated_data.get("note", ""),
                until=data.validated_data.get("until"),
            )
        except AnomalyAlreadyDismissed as exc:
            return Response(
                {"detail": str(exc), "dismissal": DismissalSerializer(exc.anomaly).data},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(AnomalySerializer(_reloaded(anomaly)).data)


class AnomalyReopenApi(APIView):
    @extend_schema(request=None, responses=AnomalySerializer)
    def put(self, request, anomaly_id):
        anomaly = selectors.anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
        anomaly = anomaly_reopen(anomaly=anomaly, user=request.user)
        return Response(AnomalySerializer(_reloaded(anomaly)).data)


class AnomalyOutcomeApi(APIView):
    """What the anomaly led to, in the CSM's words: churned, contracted, expanded, renewed,
    no_impact, or unknown (no judgement: the outcome is derived from the account's lifecycle
    changes again). A CSM's outcome is never overwritten by a derived one."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OutcomeInput"

        outcome = serializers.ChoiceField(choices=Outcome.choices)
        note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH)

    @extend_schema(request=InputSerializer, responses=AnomalySerializer)
    def put(self, request, anomaly_id):
        anomaly = selectors.anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        anomaly = anomaly_outcome_set(
            anomaly=anomaly,
            user=request.user,
            outcome=data.validated_data["outcome"],
            note=data.validated_data.get("note", ""),
        )
        return Response(AnomalySerializer(_reloaded(anomaly)).data)


def _reloaded(anomaly: UsageAnomaly) -> UsageAnomaly:
    return selectors.anomaly_list_with_record(
        UsageAnomaly.objects.select_related("customer", "dismissed_by")
    ).get(pk=anomaly.pk)


class ScanStartApi(APIView):
    """Start a scan of the caller's accounts (staff: all accounts) or of the given ones."""

    throttle_classes = [ScanThrottle]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ScanStartInput"

        customer_ids = BoundedListField(
            child=StrictUUIDField(), required=False, allow_empty=False, max_length=10_000
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ScanStarted"

        run = ScanRunSerializer()
        poll_url = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            202: OutputSerializer,
            409: inline_serializer(
                "ScanConflict", {"detail": serializers.CharField(), "run": ScanRunSerializer()}
            ),
            503: inline_serializer(
                "ScanNotQueued", {"detail": serializers.CharField(), "run": ScanRunSerializer()}
            ),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data.get("customer_ids")
        if ids is not None:
            ids = selectors.visible_customer_ids(user=request.user, ids=ids)
        elif not request.user.is_staff:
            # "All my accounts" means what the nightly scan covers: churned ones are out.
            ids = list(
                request.user.customers.exclude(status="churned").values_list("pk", flat=True)
            )
        try:
            run = scan_start(trigger=ScanRun.Trigger.API, user=request.user, customer_ids=ids)
        except ScanAlreadyRunning as exc:
            return Response(
                {"detail": str(exc), "run": ScanRunSerializer(exc.run).data},
                status=status.HTTP_409_CONFLICT,
            )
        except ScanNotQueued as exc:
            # The run is failed already, so a retry is not a 409.
            failed = ScanRun.objects.get(pk=exc.run_id)
            return Response(
                {"detail": str(exc), "run": ScanRunSerializer(failed).data},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "60"},
            )
        body = {"run": run, "poll_url": f"/api/analytics/scans/{run.pk}"}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class ScanDetailApi(APIView):
    @extend_schema(responses=ScanRunSerializer)
    def get(self, request, run_id):
        run = selectors.scan_run_get_visible(user=request.user, run_id=run_id)
        return Response(ScanRunSerializer(run).data)


class SettingsApi(APIView):
    """Sensitivity and thresholds: global (staff), per metric (staff), per customer. PUT sets
    one scope's override, DELETE removes it."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SettingsInput"

        customer = serializers.UUIDField(required=False, allow_null=True)
        metric = serializers.CharField(required=False, allow_blank=True, max_length=60)
        sensitivity = serializers.ChoiceField(choices=Sensitivity.choices)
        drop_percent = serializers.FloatField(
            required=False, allow_null=True, min_value=0.1, max_value=99.9
        )
        spike_percent = serializers.FloatField(
            required=False, allow_null=True, min_value=0.1, max_value=10_000
        )
        z_threshold = serializers.FloatField(
            required=False, allow_null=True, min_value=0.5, max_value=50
        )
        min_duration_days = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=90
        )
        min_volume = serializers.FloatField(
            required=False, allow_null=True, min_value=0, max_value=1e12
        )

        def validate_metric(self, value):
            return _scope_metric(value)

    # "global" is a Python keyword, hence the fields dict.
    OutputSerializer = inline_serializer(
        "SettingsOverview",
        {
            "global": SettingsInForceEntrySerializer(),
            "metrics": SettingsInForceEntrySerializer(many=True),
            "customers": SettingsInForceEntrySerializer(many=True),
        },
    ).__class__

    @extend_schema(
        responses=OutputSerializer,
        description="Every scope with an override the caller sees (global, per metric, their "
        "customers'), each as saved and with `in_force`: the values its series get and where "
        "each comes from. `global` is always there; `saved` is false when nobody saved "
        "global settings (its values are then the default preset's).",
    )
    def get(self, request):
        rows = selectors.settings_in_force_visible(user=request.user)
        body = {
            "global": rows[0],  # the selector puts global first, saved or not
            "metrics": [r for r in rows[1:] if not r.customer_id],
            "customers": [r for r in rows if r.customer_id],
        }
        return Response(self.OutputSerializer(body).data)

    @extend_schema(
        request=InputSerializer,
        responses=SettingsInForceEntrySerializer,
        description="Set one scope's override; the answer is the row as saved and, in "
        "`in_force`, the values its series now get and where each comes from.",
    )
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        customer_id = values.pop("customer", None)
        metric = values.pop("metric", "") or ""
        _check_settings_scope(request.user, customer_id)
        row = settings_save(
            customer_id=customer_id, metric=metric, values=values, user=request.user
        )
        (row,) = selectors.settings_with_in_force([row])
        return Response(SettingsInForceEntrySerializer(row).data)

    class ScopeSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SettingsScope"

        customer = serializers.UUIDField(required=False, allow_null=True)
        metric = serializers.CharField(required=False, allow_blank=True, max_length=60)

        def validate_metric(self, value):
            return _scope_metric(value)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "customer",
                OpenApiTypes.UUID,
                required=False,
                description="The account whose override is removed; leave it out for the "
                "global or a per-metric scope (staff only).",
            ),
            OpenApiParameter(
                "metric",
                str,
                required=False,
                description="The metric of the scope (feature:* for every feature); leave it "
                "out for every metric.",
            ),
        ],
        request=None,
        responses={204: None},
        description="Remove the override of one scope, so its series fall back to the broader "
        "scopes (customer and metric, customer, metric, global, the medium preset). 404 when "
        "the scope has no override of its own, or the account is not yours.",
    )
    def delete(self, request):
        data = self.ScopeSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        customer_id = data.validated_data.get("customer")
        metric = data.validated_data.get("metric", "") or ""
        _check_settings_scope(request.user, customer_id)
        if not settings_delete(customer_id=customer_id, metric=metric):
            raise NotFound("No settings of this scope's own to remove.")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _scope_metric(value: str) -> str:
    """A settings scope's metric: a slug, or feature:* (every feature metric, a scope of its
    own that accepted tuning proposals write), or "" for every metric."""
    if value and value != FEATURE_FAMILY and (message := metric_error(value)):
        raise serializers.ValidationError(message)
    return value


def _check_settings_scope(user, customer_id) -> None:
    """Staff change any scope; a CSM only their own accounts' (another's is a 404)."""
    if customer_id is None:
        if not user.is_staff:
            raise PermissionDenied("Only staff may change global or per-metric settings.")
    else:
        customer_get_visible(user=user, customer_id=customer_id)


class AnomalySummaryApi(APIView):
    """'Are there any usage anomalies for <customer>?', answered for a chat assistant.

    With `customer` (a name, id or external id of one of your accounts): that account's
    non-dismissed anomalies that started in the last `period_days` days, plus older ones still
    open. Without it (or with "my accounts", "my portfolio", "all accounts", or the whole
    question "Are there any usage anomalies for my accounts?"): the portfolio summary, where
    `customer` is null, `accounts` lists the accounts with open anomalies, most severe first,
    and `anomalies` holds their open anomalies in that order. A name that matches no single
    account (none, several, or another CSM's) answers 404."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnomalySummary"

        customer = inline_serializer(
            "SummaryCustomer",
            {"id": serializers.UUIDField(), "name": serializers.CharField()},
            allow_null=True,
            help_text="The account asked about; null for the portfolio summary.",
        )
        accounts = inline_serializer(
            "SummaryAccount",
            {
                "id": serializers.UUIDField(),
                "name": serializers.CharField(),
                "anomaly_count": serializers.IntegerField(),
            },
            many=True,
            help_text="The accounts the answer covers, most severe first: the one asked "
            "about, or every account of the portfolio with open anomalies.",
        )
        period_days = serializers.IntegerField()
        counts = inline_serializer(
            "SummaryCounts",
            {severity: serializers.IntegerField() for severity in Severity.values},
        )
        anomalies = inline_serializer(
            "SummaryLine",
            {
                "id": serializers.UUIDField(),
                "severity": serializers.CharField(),
                "anomaly_type": serializers.CharField(),
                "line": serializers.CharField(),
            },
            many=True,
        )
        text = serializers.CharField()

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SummaryQuery"

        customer = serializers.CharField(
            max_length=SEARCH_MAX_LENGTH, required=False, allow_blank=True
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "customer",
                str,
                required=False,
                description="An account's name, id or external id. Leave it out (or say "
                '"my accounts", "my portfolio", "all accounts") for the portfolio summary.',
            )
        ],
        responses=OutputSerializer,
    )
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        subject = ask_subject(data.validated_data.get("customer", ""))
        today = timezone.localdate()
        if not subject:
            return Response(self.OutputSerializer(_portfolio_summary(request.user, today)).data)
        customer = customer_find_visible(user=request.user, query=subject)
        anomalies = selectors.anomaly_list_for_summary(
            user=request.user,
            customer=customer,
            since=today - dt.timedelta(days=SUMMARY_DAYS),
        )
        counts, lines = _summary_lines(anomalies, today=today)
        if lines:
            text = f"Usage anomalies for {customer.name} in the last {SUMMARY_DAYS} days:\n"
            text += "\n".join(f"- {line['line']}" for line in lines)
        else:
            text = f"No usage anomalies for {customer.name} in the last {SUMMARY_DAYS} days."
        body = {
            "customer": {"id": customer.pk, "name": customer.name},
            "accounts": [{"id": customer.pk, "name": customer.name, "anomaly_count": len(lines)}],
            "period_days": SUMMARY_DAYS,
            "counts": counts,
            "anomalies": lines,
            "text": text,
        }
        return Response(self.OutputSerializer(body).data)


def _summary_lines(anomalies, *, today: dt.date) -> tuple[dict, list[dict]]:
    """The summary's counts by severity and one line per anomaly."""
    counts = dict.fromkeys(Severity.values, 0)
    lines = []
    for anomaly in anomalies:
        counts[anomaly.severity] += 1
        lines.append(
            {
                "id": anomaly.pk,
                "severity": anomaly.severity,
                "anomaly_type": anomaly.anomaly_type,
                "line": anomaly_summary_line(anomaly=anomaly, today=today),
            }
        )
    return counts, lines


def _portfolio_summary(user, today: dt.date) -> dict:
    """'Are there any usage anomalies for my accounts?': the visible accounts with open
    anomalies, most severe first."""
    groups = selectors.anomaly_list_portfolio_summary(user=user)
    counts, lines = _summary_lines([a for _, rows in groups for a in rows], today=today)
    if groups:
        text = f"Open usage anomalies in your accounts ({len(groups)}), most severe first:"
        for customer, rows in groups:
            text += f"\n{customer.name}:"
            text += "".join(f"\n- {anomaly_summary_line(anomaly=a, today=today)}" for a in rows)
    else:
        text = "No open usage anomalies in your accounts."
    return {
        "customer": None,
        "accounts": [
            {"id": customer.pk, "name": customer.name, "anomaly_count": len(rows)}
            for customer, rows in groups
        ],
        "period_days": SUMMARY_DAYS,
        "counts": counts,
        "anomalies": lines,
        "text": text,
    }
