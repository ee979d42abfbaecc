"""The bell, the notifications page and the preferences page, as the owner and as another
CSM."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification, NotificationPreference

from .webhook_cases import REFUSED_BY_DEFAULT, REFUSED_WITHOUT_ALLOW_LIST

pytestmark = pytest.mark.django_db

VALID = {
    "in_app": "on",
    "email": "on",
    "slack": "on",
    "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/secret",
    "immediate_min_severity": "warning",
    "digest_enabled": "on",
    "digest_hour": "7",
    "timezone": "Europe/Berlin",
}


def _notify(user, title="Acme: logins down 65 %", **fields):
    fields.setdefault("url", "/anomalies/")
    return Notification.objects.create(user=user, title=title, **fields)


@pytest.fixture
def owner(client, csm):
    client.force_login(csm)
    return client


def test_the_bell_shows_the_owners_unread_count(owner, csm, other_csm):
    _notify(csm)
    _notify(csm)
    _notify(csm, read_at=timezone.now())
    _notify(other_csm)
    response = owner.get(reverse("notification-preferences"))
    assert '<span class="badge" data-unread>2</span>' in response.content.decode()


def test_the_bell_counts_with_one_query(owner, csm):
    _notify(csm)
    with CaptureQueriesContext(connection) as queries:
        owner.get(reverse("notification-list"))
    # The page's own queries (the paginator's count, "any unread?") are not the bell's.
    bell = [q for q in queries if q["sql"].startswith("SELECT COUNT(") and "IS NULL" in q["sql"]]
    assert len(bell) == 1


def test_pages_without_the_bell_do_not_count(owner, csm):
    with CaptureQueriesContext(connection) as queries:
        owner.get(reverse("admin:index"))
    assert not [q for q in queries if "notifications_notification" in q["sql"]]


def test_the_bell_has_no_badge_without_unread(owner, csm):
    _notify(csm, read_at=timezone.now())
    response = owner.get(reverse("notification-list"))
    assert 'class="bell-icon"' in response.content.decode()
    assert "data-unread" not in response.content.decode()


def test_the_bell_is_an_svg_with_a_label_not_an_emoji(owner, csm):
    # An emoji is a blank box where no emoji font is installed (Debian's Chromium).
    _notify(csm)
    content = owner.get(reverse("notification-list")).content.decode()
    bell = content.split('class="bell"')[1].split("</a>")[0]
    assert 'aria-label="Notifications, 1 unread"' in bell
    assert '<svg class="bell-icon" aria-hidden="true"' in bell
    assert "🔔" not in content


def test_the_links_in_a_notification_are_links(owner, csm):
    _notify(
        csm,
        title="2 anomalies",
        body="Acme.io: logins down 65 %\nhttp://testserver/customers/1/?metric=logins&x=1\n"
        "<b>Beta</b>: API calls down\nhttps://tremor.example/customers/2/",
    )
    content = owner.get(reverse("notification-list")).content.decode()
    assert (
        '<a href="http://testserver/customers/1/?metric=logins&amp;x=1">'
        "http://testserver/customers/1/?metric=logins&amp;x=1</a>" in content
    )
    assert '<a href="https://tremor.example/customers/2/">' in content
    # Only whole link lines: a name stays text, and text stays escaped.
    assert "Acme.io: logins down 65 %<br>" in content
    assert "&lt;b&gt;Beta&lt;/b&gt;: API calls down" in content


def test_anonymous_users_get_no_bell(client):
    response = client.get(reverse("login"))
    assert 'class="bell"' not in response.content.decode()


def test_the_pages_require_login(client):
    for name in ("notification-list", "notification-preferences"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_list_shows_own_notifications_newest_first(owner, csm, other_csm):
    _notify(csm, title="Older one")
    _notify(csm, title="Newer one", body="Seats cut", read_at=timezone.now())
    _notify(other_csm, title="Bob's secret")
    response = owner.get(reverse("notification-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Newer one") < html.index("Older one")
    assert "Seats cut" in html
    assert "Bob&#x27;s secret" not in html and "Bob's secret" not in html
    assert html.count('class="unread"') == 1


def test_the_list_is_paginated(owner, csm):
    for n in range(30):
        _notify(csm, title=f"Notification number {n:02}")
    first = owner.get(reverse("notification-list")).content.decode()
    second = owner.get(reverse("notification-list") + "?page=2").content.decode()
    assert "Notification number 29" in first and "Notification number 04" not in first
    assert "Notification number 04" in second
    assert owner.get(reverse("notification-list") + "?page=x").status_code == 200


def test_opening_marks_read_and_redirects(owner, csm):
    notification = _notify(csm, url="/customers/")
    response = owner.get(reverse("notification-open", args=[notification.pk]))
    assert response.status_code == 302
    assert response["Location"] == "/customers/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_opening_twice_keeps_the_first_read_time(owner, csm):
    notification = _notify(csm)
    owner.post(reverse("notification-open", args=[notification.pk]))
    notification.refresh_from_db()
    first = notification.read_at
    owner.post(reverse("notification-open", args=[notification.pk]))
    notification.refresh_from_db()
    assert notification.read_at == first


def test_opening_never_redirects_off_site(owner, csm):
    notification = _notify(csm, url="https://evil.example/")
    response = owner.get(reverse("notification-open", args=[notification.pk]))
    assert response["Location"] == reverse("notification-list")


def test_another_users_notification_is_a_404(owner, other_csm):
    notification = _notify(other_csm)
    response = owner.get(reverse("notification-open", args=[notification.pk]))
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_mark_all_read_marks_only_own(owner, csm, other_csm):
    _notify(csm)
    _notify(csm)
    theirs = _notify(other_csm)
    response = owner.post(reverse("notification-mark-all-read"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=csm, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read_needs_post_and_csrf(csm):
    _notify(csm)
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    assert client.get(reverse("notification-mark-all-read")).status_code == 405
    assert client.post(reverse("notification-mark-all-read")).status_code == 403
    assert Notification.objects.filter(user=csm, read_at__isnull=True).count() == 1


def test_preferences_page_shows_defaults(owner):
    response = owner.get(reverse("notification-preferences"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="critical" selected>' in html
    assert '<option value="UTC" selected>' in html


def test_preferences_save_creates_the_row(owner, csm):
    response = owner.post(reverse("notification-preferences"), VALID)
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=csm)
    assert preference.slack is True
    assert preference.slack_webhook_url == VALID["slack_webhook_url"]
    assert preference.immediate_min_severity == "warning"
    assert (preference.digest_hour, preference.timezone) == (7, "Europe/Berlin")


def test_preferences_save_updates_the_row(owner, csm):
    NotificationPreference.objects.create(user=csm, digest_hour=3)
    data = {**VALID, "digest_hour": "22"}
    del data["email"]  # an unchecked box is absent from the form
    owner.post(reverse("notification-preferences"), data)
    preference = NotificationPreference.objects.get(user=csm)
    assert (preference.digest_hour, preference.email) == (22, False)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slack_webhook_url": "http://hooks.slack.com/x"}, "slack_webhook_url", "https://"),
        ({"slack_webhook_url": ""}, "slack_webhook_url", "turn Slack on"),
        ({"slack_webhook_url": "not a url"}, "slack_webhook_url", "valid URL"),
        *[({"slack_webhook_url": url}, "slack_webhook_url", m) for url, m in REFUSED_BY_DEFAULT],
        ({"digest_hour": "24"}, "digest_hour", "less than or equal to 23"),
        ({"digest_hour": "-1"}, "digest_hour", "greater than or equal to 0"),
        ({"digest_hour": "noon"}, "digest_hour", "whole number"),
        ({"timezone": "Mars/Olympus"}, "timezone", "valid choice"),
        ({"immediate_min_severity": "panic"}, "immediate_min_severity", "valid choice"),
    ],
)
def test_preferences_rejects_bad_input(owner, csm, changes, field, message):
    NotificationPreference.objects.create(user=csm)
    response = owner.post(reverse("notification-preferences"), {**VALID, **changes})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert NotificationPreference.objects.get(user=csm).timezone == "UTC"


def test_preferences_needs_csrf(csm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    assert client.post(reverse("notification-preferences"), VALID).status_code == 403
    assert not NotificationPreference.objects.filter(user=csm, slack=True).exists()


def test_failing_webhook_shows_a_banner(owner, csm):
    NotificationPreference.objects.create(
        user=csm, slack=True, slack_webhook_url=VALID["slack_webhook_url"],
        slack_failing_since=timezone.now(),
    )  # fmt: skip
    for name in ("notification-list", "notification-preferences"):
        assert 'id="slack-failing"' in owner.get(reverse(name)).content.decode()


def test_no_banner_when_the_webhook_works(owner, csm):
    NotificationPreference.objects.create(user=csm, slack=True, slack_webhook_url="https://x.y/z")
    for name in ("notification-list", "notification-preferences"):
        assert 'id="slack-failing"' not in owner.get(reverse(name)).content.decode()


def test_a_new_webhook_url_clears_the_failing_banner(owner, csm):
    NotificationPreference.objects.create(
        user=csm, slack=True, slack_webhook_url="https://hooks.slack.com/old",
        slack_failing_since=timezone.now(),
    )  # fmt: skip
    owner.post(reverse("notification-preferences"), VALID)
    assert NotificationPreference.objects.get(user=csm).slack_failing_since is None


def test_preferences_save_an_upper_case_url_in_lower_case(owner, csm):
    url = "HTTPS://HOOKS.Slack.COM/services/T0/B0/SeCrEt"
    response = owner.post(reverse("notification-preferences"), {**VALID, "slack_webhook_url": url})
    assert response.status_code == 302
    # The host in lower case, the secret path as typed.
    stored = NotificationPreference.objects.get(user=csm).slack_webhook_url
    assert stored == "https://hooks.slack.com/services/T0/B0/SeCrEt"


@pytest.mark.parametrize(("url", "message"), REFUSED_WITHOUT_ALLOW_LIST)
def test_preferences_without_an_allow_list_refuse_internal_hosts(
    owner, csm, settings, url, message
):
    settings.SLACK_WEBHOOK_HOSTS = []
    response = owner.post(reverse("notification-preferences"), {**VALID, "slack_webhook_url": url})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["slack_webhook_url"])

    public = {**VALID, "slack_webhook_url": "https://chat.example.com/hook"}
    assert owner.post(reverse("notification-preferences"), public).status_code == 302
