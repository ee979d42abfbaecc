"""The notifications API: the caller's in-app notifications and their own preferences.

The preference rules are the page's (notifications.forms): same helpers, same messages.
"""

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import PAGE_PARAMETERS, page_of, paginated_response

from .forms import DIGEST_HOUR_MAX, SLACK_URL_REQUIRED, timezone_error
from .models import Notification, NotificationPreference
from .services import preference_for, preference_update
from .webhooks import webhook_url_error, webhook_url_normalize


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        ref_name = "Notification"
        fields = ["id", "title", "body", "url", "anomaly", "created_at", "read_at"]
        read_only_fields = fields


class NotificationListApi(APIView):
    """The caller's in-app notifications, newest first."""

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(NotificationSerializer, "NotificationPage"),
        operation_id="notifications_list",
    )
    def get(self, request):
        qs = Notification.objects.filter(user=request.user).order_by("-created_at", "-pk")
        return paginated_response(self, request, qs, NotificationSerializer)


class PreferencesApi(APIView):
    """The caller's notification preferences (created with the defaults on first read)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "NotificationPreferencesInput"

        in_app = serializers.BooleanField()
        email = serializers.BooleanField()
        slack = serializers.BooleanField()
        # Not a URLField: its schema ("format": "uri") would rule out the empty string that
        # removes the webhook. A blank value skips the validators.
        slack_webhook_url = serializers.CharField(
            allow_blank=True,
            max_length=500,
            validators=[URLValidator()],
            help_text=(
                "An https:// Slack incoming-webhook URL on an allowed host (hooks.slack.com "
                "unless configured otherwise); empty for none."
            ),
        )
        immediate_min_severity = serializers.ChoiceField(
            choices=NotificationPreference.MinSeverity.choices
        )
        digest_enabled = serializers.BooleanField()
        digest_hour = serializers.IntegerField(min_value=0, max_value=DIGEST_HOUR_MAX)
        timezone = serializers.CharField(max_length=64, help_text="An IANA name: Europe/Berlin.")

        def validate_slack_webhook_url(self, value):
            if message := webhook_url_error(value):
                raise serializers.ValidationError(message)
            return webhook_url_normalize(value)

        def validate_timezone(self, value):
            if message := timezone_error(value):
                raise serializers.ValidationError(message)
            return value

        def validate(self, data):
            if data["slack"] and not data["slack_webhook_url"]:
                raise serializers.ValidationError({"slack_webhook_url": SLACK_URL_REQUIRED})
            return data

    class OutputSerializer(serializers.ModelSerializer):
        # Empty when none is set, so not "format": "uri".
        slack_webhook_url = serializers.CharField(read_only=True)

        class Meta:
            model = NotificationPreference
            ref_name = "NotificationPreferences"
            fields = [
                "in_app",
                "email",
                "slack",
                "slack_webhook_url",
                "slack_failing_since",
                "immediate_min_severity",
                "digest_enabled",
                "digest_hour",
                "timezone",
                "updated_at",
            ]
            read_only_fields = fields

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(preference_for(request.user)).data)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = preference_update(
            preference=preference_for(request.user), values=data.validated_data
        )
        return Response(self.OutputSerializer(preference).data)
