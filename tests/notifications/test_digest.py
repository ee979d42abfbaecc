"""The daily digest: at the user's local hour, what is new since the last one, once a day."""

import datetime as dt

import pytest
from django.core import mail

from notifications import services
from notifications.models import Delivery, Notification, NotificationPreference

pytestmark = pytest.mark.django_db

# 8:00 in Paris in summer is 6:00 UTC.
PARIS_EIGHT = dt.datetime(2025, 6, 10, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def digest_user(owner, slack_server):
    NotificationPreference.objects.create(
        user=owner,
        slack=True,
        slack_webhook_url=slack_server.url,
        digest_hour=8,
        timezone="Europe/Paris",
        last_digest_at=PARIS_EIGHT - dt.timedelta(days=1),
    )
    return owner


def _send(ids):
    return [pk for pk in ids if services.delivery_send(delivery_id=pk)]


def test_it_sends_one_digest_with_the_new_warnings_and_positive_signals(
    digest_user, make_customer, make_anomaly, other_csm, slack_server
):
    customer = make_customer(name="Acme", csm=digest_user)
    recent = PARIS_EIGHT - dt.timedelta(hours=3)
    make_anomaly(customer=customer, severity="warning", detected_at=recent)
    make_anomaly(
        customer=customer,
        severity="info",
        anomaly_type="spike",
        direction="positive",
        metric_type="logins",
        deviation_percent=150,
        detected_at=recent,
    )
    # Not listed: already in yesterday's digest, critical (sent at once), dismissed, or
    # someone else's account.
    make_anomaly(
        customer=customer,
        severity="warning",
        metric_type="active_users",
        detected_at=PARIS_EIGHT - dt.timedelta(days=2),
    )
    make_anomaly(customer=customer, anomaly_type="feature_abandonment", metric_type="feature:x")
    make_anomaly(
        customer=customer,
        severity="warning",
        anomaly_type="pattern_change",
        detected_at=recent,
        status="dismissed",
        dismissed_at=recent,
        dismiss_reason="expected",
    )
    make_anomaly(customer=make_customer(csm=other_csm), severity="warning", detected_at=recent)

    assert services.digest_build_and_send(now=PARIS_EIGHT) == []

    assert set(Delivery.objects.values_list("channel", "kind", "status", "digest_date")) == {
        (channel, "digest", "sent", dt.date(2025, 6, 10))
        for channel in ("in_app", "email", "slack")
    }
    notification = Notification.objects.get()
    assert notification.title == "Daily digest: 2 new anomalies"
    [email] = mail.outbox
    assert email.subject == "[Tremor] Daily digest: 2 new anomalies"
    assert "Acme: 67% drop in API calls since 2025-05-12" in email.body
    assert "Acme: 150% increase in logins" in email.body
    assert "active users" not in email.body.lower()
    [body] = slack_server.received
    assert "150% increase in logins" in body["text"]
    assert NotificationPreference.objects.get().last_digest_at == PARIS_EIGHT


def test_it_waits_for_the_users_local_hour(digest_user, make_customer, make_anomaly):
    make_anomaly(
        customer=make_customer(csm=digest_user),
        severity="warning",
        detected_at=PARIS_EIGHT - dt.timedelta(hours=1),
    )

    # 8:00 UTC is 10:00 in Paris.
    assert services.digest_build_and_send(now=PARIS_EIGHT + dt.timedelta(hours=2)) == []

    assert not Delivery.objects.exists()


def test_nothing_new_sends_nothing(digest_user):
    services.digest_build_and_send(now=PARIS_EIGHT)

    assert not Delivery.objects.exists()
    assert mail.outbox == []
    assert NotificationPreference.objects.get().last_digest_at == PARIS_EIGHT


def test_it_never_sends_twice_the_same_day(digest_user, make_customer, make_anomaly):
    customer = make_customer(csm=digest_user)
    make_anomaly(
        customer=customer, severity="warning", detected_at=PARIS_EIGHT - dt.timedelta(hours=1)
    )
    services.digest_build_and_send(now=PARIS_EIGHT)
    make_anomaly(
        customer=customer,
        severity="warning",
        metric_type="logins",
        detected_at=PARIS_EIGHT + dt.timedelta(minutes=5),
    )
    # Same hour again (a second beat, a repeated DST hour), then a later hour after the user
    # moved their digest to it.
    services.digest_build_and_send(now=PARIS_EIGHT + dt.timedelta(minutes=30))
    NotificationPreference.objects.update(digest_hour=9)
    services.digest_build_and_send(now=PARIS_EIGHT + dt.timedelta(hours=1))

    assert Delivery.objects.count() == 3
    assert len(mail.outbox) == 1

    # The next day lists what came after.
    services.digest_build_and_send(now=PARIS_EIGHT + dt.timedelta(days=1, hours=1))
    assert len(mail.outbox) == 2
    assert "logins" in mail.outbox[1].body.lower()


def test_a_warning_already_sent_at_once_is_not_in_the_digest(
    digest_user, make_customer, make_anomaly
):
    customer = make_customer(name="Acme", csm=digest_user)
    recent = PARIS_EIGHT - dt.timedelta(hours=3)
    sent = make_anomaly(customer=customer, severity="warning", detected_at=recent)
    listed = make_anomaly(
        customer=customer, severity="warning", metric_type="logins", detected_at=recent
    )
    Delivery.objects.create(
        user=digest_user,
        channel="email",
        kind=Delivery.Kind.IMMEDIATE,
        anomaly=sent,
        status=Delivery.Status.SENT,
    )

    services.digest_build_and_send(now=PARIS_EIGHT)

    digest = Delivery.objects.get(kind=Delivery.Kind.DIGEST, channel="email")
    assert str(listed.pk) in str(digest.payload)
    assert str(sent.pk) not in str(digest.payload)
