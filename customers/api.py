from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import ingest
from .selectors import customer_list_visible
from .services import usage_ingest


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
        inserted = serializers.IntegerField()
        updated = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        customers_created = serializers.IntegerField()

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
            batch=ingest.parse_records(records),
            create_customers=create_customers,
            visible_customers=customer_list_visible(user=request.user),
        )
        if not result.written:
            errors = [
                {"index": error.ref, "field": error.field, "message": error.message}
                for error in result.errors
            ]
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(result).data, status=status.HTTP_200_OK)
