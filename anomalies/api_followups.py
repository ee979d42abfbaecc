"""Follow-ups over the API: list, open, move, close and reopen the tasks a CSM takes on about
an account. Visibility as on the pages: a CSM sees the follow-ups of their own accounts,
staff see every one; another CSM's follow-up (or account, or anomaly) is a 404."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PAGE_PARAMETERS, page_of, paginated_response
from customers.selectors import customer_get_visible
from customers.validators import NOTE_MAX_LENGTH

from . import selectors
from .models import ClosingOutcome, FollowUp, FollowUpKind, FollowUpStatus
from .serializers import FollowUpSerializer
from .services import followups as followup_services


def _due_date_field(**kwargs):
    return serializers.DateField(
        validators=[_valid_due_date],
        help_text=f"Today or later, within {followup_services.MAX_DUE_DAYS_AHEAD} days.",
        **kwargs,
    )


def _valid_due_date(value):
    if message := followup_services.due_date_error(value, today=timezone.localdate()):
        raise serializers.ValidationError(message)


def _reloaded(user, followup: FollowUp) -> FollowUp:
    return selectors.followup_get_visible(user=user, followup_id=followup.pk)


def _closed_conflict(exc: followup_services.FollowUpClosed) -> Response:
    followup = exc.followup
    body = {"detail": str(exc), "status": followup.status}
    return Response(body, status=status.HTTP_409_CONFLICT)


CONFLICT = inline_serializer(
    "FollowUpConflict",
    {"detail": serializers.CharField(), "status": serializers.CharField()},
)


class FollowUpListApi(APIView):
    """GET: your follow-ups, open ones first (the most overdue first), then closed ones.
    POST: open one about one of your accounts, optionally from one of its anomalies; an open
    follow-up of that anomaly and kind already there is answered (200) instead of a second
    one (201)."""

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "FollowUpQuery"

        status = serializers.ChoiceField(choices=FollowUpStatus.choices, required=False)
        everyone = serializers.BooleanField(
            required=False, default=False, help_text="Staff: every CSM's, not only yours."
        )

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FollowUpInput"

        customer = serializers.UUIDField()
        anomaly = serializers.UUIDField(required=False, allow_null=True)
        kind = serializers.ChoiceField(choices=FollowUpKind.choices)
        title = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=followup_services.TITLE_MAX_LENGTH,
            help_text="Empty: the kind, the account and the anomaly in words.",
        )
        due_date = _due_date_field(required=False, allow_null=True)

    @extend_schema(
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("status", str, enum=FollowUpStatus.values, required=False),
            OpenApiParameter("everyone", bool, required=False),
        ],
        responses=page_of(FollowUpSerializer, "FollowUpPage"),
        operation_id="analytics_followups_list",
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = selectors.followup_list_mine(
            user=request.user,
            status=query.validated_data.get("status", ""),
            everyone=query.validated_data["everyone"],
        )
        return paginated_response(self, request, qs, FollowUpSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: FollowUpSerializer, 200: FollowUpSerializer},
        operation_id="analytics_followups_create",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = customer_get_visible(user=request.user, customer_id=values["customer"])
        anomaly = None
        if values.get("anomaly"):
            anomaly = selectors.anomaly_get_visible(user=request.user, anomaly_id=values["anomaly"])
            if anomaly.customer_id != customer.pk:
                raise serializers.ValidationError(
                    {"anomaly": "This anomaly is not of the given customer."}
                )
        followup, created = followup_services.followup_create(
            customer=customer,
            anomaly=anomaly,
            user=request.user,
            kind=values["kind"],
            due_date=values.get("due_date"),
            title=values.get("title", ""),
        )
        body = FollowUpSerializer(_reloaded(request.user, followup)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class FollowUpDetailApi(APIView):
    """GET: one follow-up. PATCH: move an open one's due date (409 once it is closed)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FollowUpDueDateInput"

        due_date = _due_date_field()

    @extend_schema(responses=FollowUpSerializer)
    def get(self, request, followup_id):
        followup = selectors.followup_get_visible(user=request.user, followup_id=followup_id)
        return Response(FollowUpSerializer(followup).data)

    @extend_schema(request=InputSerializer, responses={200: FollowUpSerializer, 409: CONFLICT})
    def patch(self, request, followup_id):
        followup = selectors.followup_get_visible(user=request.user, followup_id=followup_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            followup = followup_services.followup_reschedule(
                followup=followup, due_date=data.validated_data["due_date"]
            )
        except followup_services.FollowUpClosed as exc:
            return _closed_conflict(exc)
        return Response(FollowUpSerializer(_reloaded(request.user, followup)).data)


class FollowUpCloseApi(APIView):
    """Close an open follow-up: done, with `outcome` (what it led to: it becomes the anomaly's
    outcome, unless `no_change`), or `cancel` (nothing was done: no outcome). 409 when it is
    closed already: the outcome recorded first stands."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FollowUpCloseInput"

        outcome = serializers.ChoiceField(
            choices=ClosingOutcome.choices, required=False, help_text="Required unless cancel."
        )
        note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH)
        cancel = serializers.BooleanField(required=False, default=False)

        def validate(self, data):
            if data["cancel"] and data.get("outcome"):
                raise serializers.ValidationError(
                    {"outcome": "A cancelled follow-up has no outcome: leave it out."}
                )
            if not data["cancel"] and not data.get("outcome"):
                raise serializers.ValidationError(
                    {"outcome": "Say what it led to (no_change leaves the anomaly's outcome)."}
                )
            return data

    @extend_schema(request=InputSerializer, responses={200: FollowUpSerializer, 409: CONFLICT})
    def put(self, request, followup_id):
        followup = selectors.followup_get_visible(user=request.user, followup_id=followup_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            followup = followup_services.followup_close(
                followup=followup,
                user=request.user,
                outcome=data.validated_data.get("outcome", ""),
                note=data.validated_data.get("note", ""),
                cancel=data.validated_data["cancel"],
            )
        except followup_services.FollowUpClosed as exc:
            return _closed_conflict(exc)
        return Response(FollowUpSerializer(_reloaded(request.user, followup)).data)


class FollowUpReopenApi(APIView):
    """Open a closed follow-up again (the anomaly's outcome set when it closed stays). 409
    when another open follow-up covers the same anomaly and kind."""

    @extend_schema(request=None, responses={200: FollowUpSerializer, 409: CONFLICT})
    def put(self, request, followup_id):
        followup = selectors.followup_get_visible(user=request.user, followup_id=followup_id)
        try:
            followup = followup_services.followup_reopen(followup=followup)
        except followup_services.FollowUpAlreadyOpen as exc:
            return Response(
                {"detail": str(exc), "status": followup.status}, status=status.HTTP_409_CONFLICT
            )
        return Response(FollowUpSerializer(_reloaded(request.user, followup)).data)
