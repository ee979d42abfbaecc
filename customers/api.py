from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PAGE_PARAMETERS, page_of, paginated_response

from . import ingest
from .lifecycle import ARR_DECIMAL_PLACES, ARR_MAX_DIGITS, arr_problem
from .limits import usage_limits
from .models import Customer, LifecycleEvent, LifecycleKind, LifecycleSource
from .selectors import (
    customer_get_visible,
    customer_list_visible,
    customer_list_with_open_anomalies,
    customer_metrics,
    lifecycle_list,
)
from .services import customer_calendar_update, lifecycle_record, usage_ingest
from .validators import NOTE_MAX_LENGTH, SEARCH_MAX_LENGTH


class _JsonParser(JSONParser):
    # The json module recurses per nesting level: "[[[[..." a few MB deep raises
    # RecursionError, which DRF (catching only ValueError) would turn into a 500.
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None


class UsageIngestApi(APIView):
    """POST a JSON list of usage records; all are stored or none.

    `?create_customers=true` (staff only) creates customers for unknown external ids.
    """

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [_JsonParser]

    class QuerySerializer(serializers.Serializer):
        create_customers = serializers.BooleanField(default=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "UsageIngested"

        inserted = serializers.IntegerField()
        updated = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        customers_created = serializers.IntegerField()

    class RecordSerializer(serializers.Serializer):
        # Documents the record shape; validation is customers.ingest's, shared with the CSV.
        class Meta:
            ref_name = "UsageRecord"

        customer_external_id = serializers.CharField(max_length=100)
        metric = serializers.CharField(max_length=50)
        date = serializers.DateField()
        value = serializers.FloatField(min_value=0)
        customer_name = serializers.CharField(max_length=200, required=False)

    @extend_schema(
        parameters=[OpenApiParameter("create_customers", bool)],
        request=RecordSerializer(many=True),
        responses={
            200: OutputSerializer,
            400: inline_serializer(
                "UsageRejected",
                {
                    # Per-record errors, or `detail` when the body as a whole is wrong.
                    "errors": inline_serializer(
                        "UsageRecordError",
                        {
                            "index": serializers.IntegerField(),
                            "field": serializers.CharField(allow_null=True),
                            "message": serializers.CharField(),
                        },
                        many=True,
                        required=False,
                        help_text=f"The first {ingest.ERRORS_SHOWN} errors, by record index.",
                    ),
                    "error_count": serializers.IntegerField(
                        required=False, help_text="How many errors there are in all."
                    ),
                    "errors_truncated": serializers.BooleanField(
                        required=False, help_text="Whether `errors` lists only the first ones."
                    ),
                    "detail": serializers.CharField(required=False),
                    "create_customers": serializers.ListField(
                        child=serializers.CharField(), required=False
                    ),
                },
            ),
            413: inline_serializer("UsageTooLarge", {"detail": serializers.CharField()}),
        },
    )
    def post(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        create_customers = query.validated_data["create_customers"]
        if create_customers and not request.user.is_staff:
            raise PermissionDenied("Only staff may create customers.")

        try:
            # Malformed JSON raises ParseError here, which DRF answers with a 400.
            records = request.data
        except RequestDataTooBig:
            return Response(
                {"detail": "The request body is too large: send fewer records per request."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if not isinstance(records, list):
            raise ValidationError({"detail": "The body must be a JSON list of records."})
        limit = settings.USAGE_API_MAX_RECORDS
        if len(records) > limit:
            raise ValidationError(
                {"detail": f"Too many records: {len(records)}, at most {limit} per request."}
            )
        if not records:
            raise ValidationError({"detail": "The list of records is empty."})

        result = usage_ingest(
            batch=ingest.parse_records(records, limits=usage_limits()),
            create_customers=create_customers,
            visible_customers=customer_list_visible(user=request.user),
        )
        if not result.written:
            return Response(ingest.errors_report(result.errors), status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(result).data, status=status.HTTP_200_OK)


class CsmSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


class CustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    external_id = serializers.CharField()
    csm = CsmSerializer(allow_null=True)
    tier = serializers.CharField()
    arr = serializers.DecimalField(max_digits=14, decimal_places=2)
    status = serializers.CharField()
    holiday_calendar = serializers.CharField(
        help_text='Public holidays the account keeps ("US", "DE-BY"); empty: the default (US).'
    )
    region = serializers.CharField()
    segment = serializers.CharField()
    open_anomalies = serializers.IntegerField()


class CustomerListApi(APIView):
    """The caller's accounts (staff: all), by name."""

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "CustomerQuery"

        # CharField refuses NUL characters, which PostgreSQL text cannot hold.
        search = serializers.CharField(
            required=False, allow_blank=True, max_length=SEARCH_MAX_LENGTH
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="name or external id contains"),
            *PAGE_PARAMETERS,
        ],
        responses=page_of(CustomerSerializer, "CustomerPage"),
        operation_id="customers_list",
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = customer_list_with_open_anomalies(
            user=request.user, search=query.validated_data.get("search", "")
        )
        return paginated_response(self, request, qs, CustomerSerializer)


class CustomerDetailApi(APIView):
    """One account; PATCH sets its holiday calendar and cohorts (the owner's CSM or staff)."""

    class OutputSerializer(CustomerSerializer):
        class Meta:
            ref_name = "CustomerDetail"

        metrics = inline_serializer(
            "CustomerMetric",
            {"metric": serializers.CharField(), "last_date": serializers.DateField()},
            many=True,
        )

    class InputSerializer(serializers.ModelSerializer):
        """The fields a CSM may change; the model's validators check them, as in admin."""

        class Meta:
            model = Customer
            ref_name = "CustomerCalendarInput"
            fields = ["holiday_calendar", "region", "segment"]

        def validate(self, data):
            # A field this endpoint does not change is refused, not silently ignored: a
            # client sending {"name": ...} must not believe the account was renamed.
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                allowed = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {name: [f"cannot be changed here: only {allowed}"] for name in unknown}
                )
            return data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, customer_id):
        customer = customer_get_visible(user=request.user, customer_id=customer_id)
        return self._detail(request, customer)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request, customer_id):
        customer = customer_get_visible(user=request.user, customer_id=customer_id)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer_calendar_update(customer=customer, **data.validated_data)
        return self._detail(request, customer)

    def _detail(self, request, customer):
        customer = customer_list_with_open_anomalies(user=request.user).filter(pk=customer.pk).get()
        customer.metrics = customer_metrics(customer=customer)
        return Response(self.OutputSerializer(customer).data)


class LifecycleEventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=LifecycleKind.choices)
    source = serializers.ChoiceField(choices=LifecycleSource.choices)
    recorded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = LifecycleEvent
        ref_name = "LifecycleEvent"
        fields = [
            "id",
            "kind",
            "date",
            "arr_before",
            "arr_after",
            "note",
            "source",
            "recorded_by",
            "created_at",
        ]


def _arr_input_field():
    return serializers.DecimalField(
        max_digits=ARR_MAX_DIGITS,
        decimal_places=ARR_DECIMAL_PLACES,
        min_value=0,
        required=False,
        allow_null=True,
    )


class CustomerLifecycleApi(APIView):
    """An account's lifecycle changes (churned, contracted, renewed, expanded), newest first;
    PUT records one. Recording the same kind on the same day again updates it (201 when new,
    200 when updated). A churn marks the account churned; the outcomes of its anomalies are
    derived again."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LifecycleInput"

        kind = serializers.ChoiceField(choices=LifecycleKind.choices)
        date = serializers.DateField()
        arr_before = _arr_input_field()
        arr_after = _arr_input_field()
        note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH)

        def validate_date(self, value):
            # The bounds of every usage date (and of the model's validator, in admin).
            _, message = ingest.parse_date(value.isoformat(), limits=usage_limits())
            if message:
                raise serializers.ValidationError(message)
            return value

        def validate(self, data):
            problem = arr_problem(data["kind"], data.get("arr_before"), data.get("arr_after"))
            if problem:
                field, message = problem
                raise serializers.ValidationError({field: message})
            return data

    @extend_schema(responses=LifecycleEventSerializer(many=True))
    def get(self, request, customer_id):
        customer = customer_get_visible(user=request.user, customer_id=customer_id)
        events = lifecycle_list(customer=customer)
        return Response(LifecycleEventSerializer(events, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={200: LifecycleEventSerializer, 201: LifecycleEventSerializer},
    )
    def put(self, request, customer_id):
        customer = customer_get_visible(user=request.user, customer_id=customer_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event, created = lifecycle_record(
            customer=customer, source=LifecycleSource.API, user=request.user, **data.validated_data
        )
        return Response(
            LifecycleEventSerializer(event).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
