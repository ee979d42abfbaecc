"""From the scans' outbox to deliveries: once per anomaly, user and channel, whatever
repeats (a rescan, a second dispatch, a retried task)."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services
from notifications.models import Delivery, Notification, NotificationRequest

pytestmark = pytest.mark.django_db


def _scan_writes_request(anomaly):
    # As services.requests_create writes it after a scan (and again after a rescan); written
    # here whatever the anomaly and the preferences are, since both may change before the
    # dispatch claims it.
    NotificationRequest.objects.bulk_create(
        [NotificationRequest(anomaly=anomaly, user_id=anomaly.customer.csm_id)],
        ignore_conflicts=True,
    )


def _dispatch_and_send():
    ids = services.requests_dispatch()
    for pk in ids:
        services.delivery_send(delivery_id=pk)
    return ids


def test_a_critical_anomaly_reaches_every_channel_exactly_once(
    preference, make_customer, make_anomaly, slack_server
):
    anomaly = make_anomaly(customer=make_customer(name="Acme", csm=preference.user))
    _scan_writes_request(anomaly)

    first = _dispatch_and_send()
    _scan_writes_request(anomaly)
    second = _dispatch_and_send()
    for pk in first:  # a retried or redelivered task
        assert services.delivery_send(delivery_id=pk) is False

    assert len(first) == 3
    assert second == []
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1
    assert len(slack_server.received) == 1
    assert set(Delivery.objects.values_list("channel", "status", "attempts")) == {
        ("in_app", "sent", 1),
        ("email", "sent", 1),
        ("slack", "sent", 1),
    }
    assert NotificationRequest.objects.get().processed_at is not None


def test_a_reprocessed_request_writes_no_second_delivery(
    preference, make_customer, make_anomaly, slack_server
):
    anomaly = make_anomaly(customer=make_customer(csm=preference.user))
    _scan_writes_request(anomaly)
    _dispatch_and_send()
    # As if two dispatchers had both claimed it: the database's constraint holds.
    NotificationRequest.objects.update(processed_at=None)

    ids = _dispatch_and_send()

    assert Delivery.objects.count() == 3
    assert ids == []
    assert len(slack_server.received) == 1


def test_only_enabled_channels_get_a_delivery(owner, make_customer, make_anomaly):
    services.preference_for(owner)  # defaults: in-app and email, no Slack
    _scan_writes_request(make_anomaly(customer=make_customer(csm=owner)))

    _dispatch_and_send()

    assert sorted(Delivery.objects.values_list("channel", flat=True)) == ["email", "in_app"]


def test_a_customer_without_csm_or_a_dismissed_anomaly_sends_nothing(
    owner, make_customer, make_anomaly
):
    _scan_writes_request(make_anomaly(customer=make_customer(csm=None)))
    gone = make_anomaly(customer=make_customer(csm=owner), status="resolved")
    _scan_writes_request(gone)

    assert services.requests_dispatch() == []

    assert not Delivery.objects.exists()
    assert not NotificationRequest.objects.filter(processed_at__isnull=True).exists()


def test_a_warning_is_immediate_only_for_users_who_asked(owner, make_customer, make_anomaly):
    customer = make_customer(csm=owner)
    preference = services.preference_for(owner)
    _scan_writes_request(make_anomaly(customer=customer, severity="warning"))
    services.requests_dispatch()
    assert not Delivery.objects.exists()

    preference.immediate_min_severity = "warning"
    preference.save()
    _scan_writes_request(make_anomaly(customer=customer, severity="warning", metric_type="logins"))
    services.requests_dispatch()
    assert Delivery.objects.count() == 2


def test_preference_for_creates_the_defaults_once(owner):
    first = services.preference_for(owner)
    again = services.preference_for(owner)

    assert first.pk == again.pk
    assert (first.in_app, first.email, first.slack, first.immediate_min_severity) == (
        True,
        True,
        False,
        "critical",
    )


def test_a_delivery_whose_task_was_lost_is_sent_again_by_the_minute_beat(
    owner, make_customer, make_anomaly, django_capture_on_commit_callbacks
):
    from notifications.tasks import dispatch_notifications_task

    anomaly = make_anomaly(customer=make_customer(csm=owner))
    stranded = Delivery.objects.create(
        user=owner, channel="in_app", kind="immediate", anomaly=anomaly
    )
    fresh = Delivery.objects.create(user=owner, channel="email", kind="immediate", anomaly=anomaly)
    Delivery.objects.filter(pk=stranded.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=30)
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert dispatch_notifications_task() == 1

    assert len(callbacks) == 1
    assert services.deliveries_stranded(now=timezone.now()) == [stranded.pk]
    assert fresh.pk not in services.deliveries_stranded(now=timezone.now())


def test_an_anomaly_suppressed_by_settings_since_its_request_is_not_announced(
    owner, make_customer, make_anomaly
):
    services.preference_for(owner)
    anomaly = make_anomaly(customer=make_customer(csm=owner))
    _scan_writes_request(anomaly)
    anomaly.status = "suppressed_by_settings"
    anomaly.suppressed_at = timezone.now()
    anomaly.save()

    assert _dispatch_and_send() == []
    assert not Delivery.objects.exists()
    assert len(mail.outbox) == 0
