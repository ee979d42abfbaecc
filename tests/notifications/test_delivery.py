"""Sending one delivery over each channel against real local peers."""

import pytest
from django.core import mail

from config.celery import RetryLater
from notifications import services, tasks
from notifications.models import Channel, Delivery, Notification, NotificationPreference

pytestmark = pytest.mark.django_db


@pytest.fixture
def anomaly(make_customer, make_anomaly, owner):
    return make_anomaly(customer=make_customer(name="Acme", csm=owner))


def _delivery(owner, anomaly, channel):
    return Delivery.objects.create(
        user=owner, channel=channel, kind=Delivery.Kind.IMMEDIATE, anomaly=anomaly
    )


def test_it_posts_to_the_slack_webhook(preference, anomaly, slack_server):
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    assert delivery.sent_at is not None
    [body] = slack_server.received
    assert "67% drop in API calls" in body["text"]
    assert "Acme" in body["text"]
    assert (
        f"https://tremor.example.com/customers/{anomaly.customer_id}/?metric=api_calls"
        in (body["text"])
    )


def test_it_retries_after_a_slack_server_error(preference, anomaly, slack_server):
    slack_server.script = [500, 200]
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)

    assert services.delivery_send(delivery_id=delivery.pk) is True
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "HTTP 500" in delivery.last_error

    assert services.delivery_send(delivery_id=delivery.pk) is False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(slack_server.received) == 2


def test_it_records_a_slack_timeout(preference, anomaly, slack_server):
    slack_server.script = ["hang"]
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)

    assert services.delivery_send(delivery_id=delivery.pk) is True

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "Slack unreachable" in delivery.last_error
    assert "timed out" in delivery.last_error


def test_it_flags_a_webhook_that_fails_for_good_and_clears_it_when_it_works(
    preference, anomaly, slack_server
):
    slack_server.script = [500]
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)
    services.delivery_send(delivery_id=delivery.pk)

    services.delivery_fail(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    preference.refresh_from_db()
    assert delivery.status == "failed"
    assert "HTTP 500" in delivery.last_error
    assert preference.slack_failing_since is not None

    slack_server.script = [200]
    later = Delivery.objects.create(
        user=preference.user,
        channel=Channel.SLACK,
        kind=Delivery.Kind.DIGEST,
        digest_date="2025-05-20",
        payload={"anomaly_ids": [str(anomaly.pk)]},
    )
    assert services.delivery_send(delivery_id=later.pk) is False
    preference.refresh_from_db()
    assert preference.slack_failing_since is None


def test_the_task_fails_the_delivery_after_its_last_retry(preference, anomaly, slack_server):
    slack_server.script = [503]
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)
    # Celery's eager mode runs the retries inline (without their countdowns).
    result = tasks.deliver_task.apply(args=(delivery.pk,))

    # The task ends failed (a worker logs it), its delivery with it.
    assert result.failed()
    assert isinstance(result.result, RetryLater)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 6)
    assert len(slack_server.received) == 6
    assert NotificationPreference.objects.get().slack_failing_since is not None


def test_the_task_does_not_retry_a_bug_nor_blame_the_webhook(
    preference, anomaly, slack_server, monkeypatch
):
    delivery = _delivery(preference.user, anomaly, Channel.SLACK)
    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise KeyError("a template variable")

    monkeypatch.setattr(services, "delivery_send", broken)

    result = tasks.deliver_task.apply(args=(delivery.pk,))

    assert result.failed()
    assert calls == [{"delivery_id": delivery.pk}]
    # Left for a human: neither failed nor the user's webhook flagged as broken.
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert NotificationPreference.objects.get().slack_failing_since is None


def test_it_emails_the_anomaly(preference, anomaly):
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "[Tremor] Critical: 67% drop in API calls at Acme"
    assert "Since:          2025-05-12" in email.body
    assert "Baseline:       1,200/day" in email.body
    assert "Now:            400/day" in email.body
    assert "Possible cause: SDK v3 rollout" in email.body
    assert f"https://tremor.example.com/customers/{anomaly.customer_id}/?metric=api_calls" in (
        email.body
    )
    assert Delivery.objects.get().status == "sent"


def test_email_subject_and_body_are_plain_text(preference, make_customer, make_anomaly):
    anomaly = make_anomaly(
        customer=make_customer(name="A&B <Corp>", csm=preference.user),
        possible_cause="SDK <v3> & friends",
    )
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    [email] = mail.outbox
    assert email.subject == "[Tremor] Critical: 67% drop in API calls at A&B <Corp>"
    assert "A&B <Corp>: 67% drop in API calls." in email.body
    assert "Possible cause: SDK <v3> & friends" in email.body
    # Plain text only: there is no HTML part that would need escaping.
    assert email.alternatives == []


def test_an_email_without_an_address_fails_at_once(preference, anomaly):
    preference.user.email = ""
    preference.user.save()
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "the user has no email address")
    assert mail.outbox == []


def test_it_sends_email_over_smtp(preference, anomaly, smtp_server):
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    [envelope] = smtp_server.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    content = envelope.content.decode()
    assert "Subject: [Tremor] Critical: 67% drop in API calls at Acme" in content
    assert "Possible cause: SDK v3 rollout" in content


def test_an_unreachable_smtp_server_is_retried(preference, anomaly, settings):
    from .conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)

    assert services.delivery_send(delivery_id=delivery.pk) is True

    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert "ConnectionRefusedError" in delivery.last_error


def test_it_writes_the_in_app_notification(preference, anomaly):
    delivery = _delivery(preference.user, anomaly, Channel.IN_APP)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    notification = Notification.objects.get()
    assert notification.user == preference.user
    assert notification.anomaly == anomaly
    assert notification.title == "Critical: 67% drop in API calls at Acme"
    assert notification.url.endswith(f"/customers/{anomaly.customer_id}/?metric=api_calls")


def test_a_channel_disabled_since_is_not_sent(preference, anomaly):
    delivery = _delivery(preference.user, anomaly, Channel.EMAIL)
    NotificationPreference.objects.filter(pk=preference.pk).update(email=False)

    assert services.delivery_send(delivery_id=delivery.pk) is False

    assert Delivery.objects.get().status == "failed"
    assert mail.outbox == []
