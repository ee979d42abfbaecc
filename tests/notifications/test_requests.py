"""From a scan's news to the outbox: one request per anomaly its CSM wants to hear about at
once (critical always), written only once the chunk has committed, and never twice whatever
repeats (a rescan, a redelivered chunk, a second take)."""

import pytest

from anomalies.models import ScanChunk, UsageAnomaly
from anomalies.services.anomalies import anomaly_dismiss
from anomalies.services.scans import scan_chunk_run
from notifications import services
from notifications.models import Delivery, Notification, NotificationPreference, NotificationRequest
from notifications.tasks import dispatch_notifications_task
from tests.anomalies.scan_data import N_DAYS, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db

LOW = slice(174, None)


@pytest.fixture
def account(make_customer, owner):
    """API calls fall 65 % (critical), the reports feature 65 % (a warning) and logins triple
    (info) over the last six days: one scan finds one anomaly of each severity."""
    customer = make_customer(name="Acme", csm=owner)
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1), LOW, 0.35))
    usage_store(customer, "feature:reports", scaled(usage(N_DAYS, seed=2, level=800), LOW, 0.35))
    usage_store(customer, "logins", scaled(usage(N_DAYS, seed=3, level=300), LOW, 3.0))
    return customer


def _requested():
    return sorted(NotificationRequest.objects.values_list("anomaly__metric_type", "user_id"))


def test_a_scan_requests_its_critical_anomaly_for_the_csm(account, owner):
    scan()
    assert not NotificationRequest.objects.exists()  # the scan itself writes no outbox row

    assert services.requests_create_from_scans() == 1

    assert _requested() == [("api_calls", owner.pk)]
    assert NotificationRequest.objects.get().processed_at is None


def test_a_csm_who_wants_warnings_at_once_gets_a_request_for_them(account, owner):
    NotificationPreference.objects.create(user=owner, immediate_min_severity="warning")
    scan()

    services.requests_create_from_scans()

    assert _requested() == [("api_calls", owner.pk), ("feature:reports", owner.pk)]


def test_rescans_retries_and_second_takes_never_double_a_request(account, owner):
    run = scan()
    services.requests_create_from_scans()
    request = NotificationRequest.objects.get()

    assert services.requests_create_from_scans() == 0
    assert scan_chunk_run(chunk_id=run.chunks.get().pk).skipped  # a redelivered chunk
    scan()
    services.requests_create_from_scans()
    # The same news twice, as two chunks or two scans can bring it.
    services.requests_create(anomalies=UsageAnomaly.objects.all())

    assert list(NotificationRequest.objects.values_list("pk", "anomaly_id", "user_id")) == [
        (request.pk, request.anomaly_id, owner.pk)
    ]


def test_news_stays_for_the_next_take_when_writing_requests_fails(account, monkeypatch):
    scan()

    def broken(*, anomalies):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "requests_create", broken)
    with pytest.raises(RuntimeError):
        services.requests_create_from_scans()
    monkeypatch.undo()

    assert ScanChunk.objects.filter(news__isnull=False).count() == 1
    assert services.requests_create_from_scans() == 1


def test_news_of_an_anomaly_closed_since_requests_nothing(account, owner):
    scan()
    critical = UsageAnomaly.objects.get(metric_type="api_calls")
    anomaly_dismiss(anomaly=critical, user=owner, reason="expected")

    assert services.requests_create_from_scans() == 0
    assert not NotificationRequest.objects.exists()


def test_the_minute_beat_sends_a_scans_critical_anomaly_once(
    account, owner, django_capture_on_commit_callbacks
):
    services.preference_for(owner)  # in-app and email
    scan()

    with django_capture_on_commit_callbacks() as sent:
        dispatch_notifications_task()
        dispatch_notifications_task()
    for delivery_id in Delivery.objects.values_list("pk", flat=True):
        services.delivery_send(delivery_id=delivery_id)

    assert len(sent) == 2  # one task per channel, sent after the beat's commit
    assert sorted(Delivery.objects.values_list("channel", "status")) == [
        ("email", "sent"),
        ("in_app", "sent"),
    ]
    assert Notification.objects.get().anomaly.metric_type == "api_calls"
