"""GET/PUT /api/notifications/preferences and GET /api/notifications: the caller's own rows
only, the page's validation rules, 401 without credentials."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import Notification, NotificationPreference

from .webhook_cases import REFUSED_BY_DEFAULT, REFUSED_WITHOUT_ALLOW_LIST

pytestmark = pytest.mark.django_db

URL = "/api/notifications/preferences"
VALID = {
    "in_app": True,
    "email": False,
    "slack": True,
    "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/secret",
    "immediate_min_severity": "warning",
    "digest_enabled": True,
    "digest_hour": 6,
    "timezone": "America/New_York",
}


@pytest.fixture
def api(csm):
    client = APIClient()
    client.force_authenticate(csm)
    return client


def test_get_returns_defaults_and_creates_the_row(api, csm):
    response = api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["immediate_min_severity"] == "critical"
    assert (body["in_app"], body["email"], body["slack"]) == (True, True, False)
    assert (body["digest_hour"], body["timezone"]) == (8, "UTC")
    assert body["slack_failing_since"] is None
    assert NotificationPreference.objects.filter(user=csm).exists()


def test_get_returns_only_the_callers_own(api, other_csm):
    NotificationPreference.objects.create(user=other_csm, timezone="Asia/Tokyo", digest_hour=1)
    assert api.get(URL).json()["timezone"] == "UTC"


def test_put_saves_the_callers_own(api, csm, other_csm):
    theirs = NotificationPreference.objects.create(user=other_csm)
    response = api.put(URL, VALID, format="json")
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/New_York"
    mine = NotificationPreference.objects.get(user=csm)
    assert (mine.slack, mine.email, mine.digest_hour) == (True, False, 6)
    assert mine.slack_webhook_url == VALID["slack_webhook_url"]
    theirs.refresh_from_db()
    assert theirs.timezone == "UTC"


def test_put_with_a_new_webhook_url_clears_failing(api, csm):
    NotificationPreference.objects.create(
        user=csm, slack=True, slack_webhook_url="https://hooks.slack.com/old",
        slack_failing_since=timezone.now(),
    )  # fmt: skip
    assert api.put(URL, VALID, format="json").json()["slack_failing_since"] is None


def test_put_with_the_same_url_keeps_failing(api, csm):
    since = timezone.now()
    NotificationPreference.objects.create(
        user=csm, slack=True, slack_webhook_url=VALID["slack_webhook_url"],
        slack_failing_since=since,
    )  # fmt: skip
    assert api.put(URL, VALID, format="json").json()["slack_failing_since"] is not None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slack_webhook_url": "http://hooks.slack.com/x"}, "slack_webhook_url", "https://"),
        ({"slack_webhook_url": ""}, "slack_webhook_url", "turn Slack on"),
        ({"slack_webhook_url": "not a url"}, "slack_webhook_url", "valid URL"),
        *[({"slack_webhook_url": url}, "slack_webhook_url", m) for url, m in REFUSED_BY_DEFAULT],
        ({"digest_hour": 24}, "digest_hour", "less than or equal to 23"),
        ({"digest_hour": -1}, "digest_hour", "greater than or equal to 0"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"timezone": ""}, "timezone", "may not be blank"),
        ({"immediate_min_severity": "panic"}, "immediate_min_severity", "not a valid choice"),
        ({"in_app": None}, "in_app", "may not be null"),
    ],
)
def test_put_rejects_bad_input(api, csm, changes, field, message):
    response = api.put(URL, {**VALID, **changes}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not NotificationPreference.objects.filter(user=csm, slack=True).exists()


def test_put_needs_every_field(api):
    response = api.put(URL, {"slack": False}, format="json")
    assert response.status_code == 400
    assert "timezone" in response.json()


def test_anonymous_gets_401():
    client = APIClient()
    assert client.get(URL).status_code == 401
    assert client.put(URL, VALID, format="json").status_code == 401
    assert client.get("/api/notifications").status_code == 401


def test_token_auth_works(csm):
    from accounts.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=csm)[1]}")
    assert client.get(URL).status_code == 200


def test_notification_list_is_the_callers_own_newest_first(api, csm, other_csm):
    Notification.objects.create(user=csm, title="Older")
    Notification.objects.create(user=csm, title="Newer", read_at=timezone.now())
    Notification.objects.create(user=other_csm, title="Theirs")
    response = api.get("/api/notifications")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [n["title"] for n in body["results"]] == ["Newer", "Older"]
    assert body["results"][0]["read_at"] is not None


def test_notification_list_is_paginated(api, csm):
    Notification.objects.bulk_create(Notification(user=csm, title=f"n{n}") for n in range(3))
    body = api.get("/api/notifications?page_size=2&page=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 1
    assert api.get("/api/notifications?page=9").status_code == 404


def test_put_saves_an_upper_case_url_in_lower_case(api, csm):
    url = "HTTPS://HOOKS.Slack.COM/services/T0/B0/SeCrEt"
    response = api.put(URL, {**VALID, "slack_webhook_url": url}, format="json")
    assert response.status_code == 200
    # The host in lower case, the secret path as typed.
    expected = "https://hooks.slack.com/services/T0/B0/SeCrEt"
    assert response.json()["slack_webhook_url"] == expected
    assert NotificationPreference.objects.get(user=csm).slack_webhook_url == expected


@pytest.mark.parametrize(("url", "message"), REFUSED_WITHOUT_ALLOW_LIST)
def test_put_without_an_allow_list_refuses_internal_hosts(api, settings, url, message):
    settings.SLACK_WEBHOOK_HOSTS = []
    response = api.put(URL, {**VALID, "slack_webhook_url": url}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["slack_webhook_url"])

    public = {**VALID, "slack_webhook_url": "https://chat.example.com/hook"}
    assert api.put(URL, public, format="json").status_code == 200
