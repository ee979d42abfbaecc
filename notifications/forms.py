"""The notification preferences form: parsing and range checks only.

The rules are the preferences API's (notifications.api.PreferencesApi.InputSerializer): both
call the helpers below and notifications.webhooks', so a value the page accepts is one the API
accepts.
"""

import functools
import zoneinfo

from django import forms
from django.core.exceptions import ValidationError

from .models import NotificationPreference
from .webhooks import webhook_url_error, webhook_url_normalize

DIGEST_HOUR_MAX = 23
SLACK_URL_REQUIRED = "Enter the Slack webhook URL to turn Slack on."


@functools.cache
def timezone_names() -> tuple[str, ...]:
    # available_timezones() walks the tz database on disk each call: read it once.
    return tuple(sorted(zoneinfo.available_timezones()))


def timezone_error(name: str) -> str | None:
    if name not in timezone_names():
        return f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin."
    return None


class PreferenceForm(forms.ModelForm):
    digest_hour = forms.IntegerField(
        min_value=0,
        max_value=DIGEST_HOUR_MAX,
        label="Digest hour",
        help_text="In your time zone, 0 to 23.",
    )
    timezone = forms.ChoiceField(choices=(), label="Time zone")
    # A bare host (hooks.slack.com/...) means https, never http.
    slack_webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Slack webhook URL",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/..."}),
    )

    class Meta:
        model = NotificationPreference
        fields = [
            "in_app",
            "email",
            "slack",
            "slack_webhook_url",
            "immediate_min_severity",
            "digest_enabled",
            "digest_hour",
            "timezone",
        ]
        labels = {
            "in_app": "In-app (the bell)",
            "email": "Email",
            "slack": "Slack",
            "immediate_min_severity": "Send at once",
            "digest_enabled": "Daily digest of the rest",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(name, name) for name in timezone_names()]

    def clean_slack_webhook_url(self):
        url = self.cleaned_data["slack_webhook_url"].strip()
        if message := webhook_url_error(url):
            raise ValidationError(message)
        return webhook_url_normalize(url)

    def clean(self):
        data = super().clean()
        if (
            data.get("slack")
            and not data.get("slack_webhook_url")
            and not self.has_error("slack_webhook_url")
        ):
            self.add_error("slack_webhook_url", SLACK_URL_REQUIRED)
        return data
