"""What a scan raises beyond the anomaly: one risk signal per warning or critical loss, and one
notification request per critical anomaly for the account's CSM, never doubled by rescans."""

import pytest

from anomalies.models import DetectionSettings, UsageAnomaly
from anomalies.services.anomalies import anomaly_dismiss, anomaly_reopen
from customers.models import RiskSignal
from notifications.models import NotificationRequest

from .scan_data import N_DAYS, day, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db

LOW = slice(174, None)  # from day 174 on: the six days up to AS_OF and any appended ones


@pytest.fixture
def account(make_customer, csm):
    """api_calls fall 65 % (critical), the reports feature falls 65 % (a warning: not a core
    metric) and logins triple (a spike: good news, info), all over the last six days. Each
    series has four more (recovered) days a test may append."""
    customer = make_customer(csm=csm)
    series = {
        "api_calls": scaled(usage(N_DAYS, seed=1), LOW, 0.35),
        "feature:reports": scaled(usage(N_DAYS, seed=2, level=800), LOW, 0.35),
        "logins": scaled(usage(N_DAYS, seed=3, level=300), LOW, 3.0),
    }
    for metric, values in series.items():
        usage_store(customer, metric, values)
    return customer


def _anomalies():
    return {a.metric_type: a for a in UsageAnomaly.objects.all()}


def _recover(customer, metric, seed, level=2000.0):
    usage_store(customer, metric, usage(N_DAYS + 4, seed=seed, level=level)[180:], first_index=180)


def test_losses_get_one_signal_each_and_gains_none(account):
    scan()

    anomalies = _anomalies()
    assert {m: (a.anomaly_type, a.severity) for m, a in anomalies.items()} == {
        "api_calls": ("drop", "critical"),
        "feature:reports": ("drop", "warning"),
        "logins": ("spike", "info"),
    }
    signals = {s.anomaly_id: s for s in RiskSignal.objects.all()}
    assert set(signals) == {anomalies["api_calls"].pk, anomalies["feature:reports"].pk}
    critical = signals[anomalies["api_calls"].pk]
    assert (critical.customer_id, critical.kind, critical.severity) == (
        account.pk,
        "usage_drop",
        "critical",
    )
    assert critical.resolved_at is None
    assert (
        critical.title
        == f"{round(-float(anomalies['api_calls'].deviation_percent))}% drop in API calls"
    )
    assert critical.details["start_date"] == day(174).isoformat()
    warning = signals[anomalies["feature:reports"].pk]
    assert (warning.kind, warning.severity, warning.resolved_at) == ("usage_drop", "warning", None)


def test_a_shallow_loss_is_info_and_raises_nothing(make_customer, csm):
    # High sensitivity reports a 25 % drop; shallower than a third, it is only info.
    customer = make_customer(csm=csm)
    DetectionSettings.objects.create(customer=customer, sensitivity="high")
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1), LOW, 0.75))

    scan()

    anomaly = UsageAnomaly.objects.get()
    assert (anomaly.anomaly_type, anomaly.direction, anomaly.severity) == (
        "drop",
        "negative",
        "info",
    )
    assert not RiskSignal.objects.exists()
    assert not NotificationRequest.objects.exists()


def test_rescans_do_not_double_signals_or_notifications(account, csm):
    scan()
    signals = set(RiskSignal.objects.values_list("pk", flat=True))
    request = NotificationRequest.objects.get()

    scan()
    scan(as_of=day(179))

    assert set(RiskSignal.objects.values_list("pk", flat=True)) == signals
    assert RiskSignal.objects.filter(resolved_at__isnull=True).count() == 2
    assert list(NotificationRequest.objects.values_list("pk", "anomaly_id", "user_id")) == [
        (request.pk, _anomalies()["api_calls"].pk, csm.pk)
    ]


def test_only_critical_anomalies_request_a_notification_for_the_csm(account, csm):
    scan()

    request = NotificationRequest.objects.get()
    assert request.anomaly_id == _anomalies()["api_calls"].pk
    assert (request.user_id, request.processed_at) == (csm.pk, None)


def test_the_signal_is_resolved_when_the_anomaly_resolves(account):
    scan()
    _recover(account, "api_calls", seed=1)

    scan(as_of=day(183))

    anomalies = _anomalies()
    assert anomalies["api_calls"].status == "resolved"
    assert RiskSignal.objects.get(anomaly=anomalies["api_calls"]).resolved_at is not None
    # The reports feature is still down: its signal stays active.
    assert anomalies["feature:reports"].status == "open"
    assert RiskSignal.objects.get(anomaly=anomalies["feature:reports"]).resolved_at is None
    assert NotificationRequest.objects.count() == 1


def test_the_signal_is_resolved_when_the_anomaly_is_dismissed(account, csm):
    scan()
    anomaly = _anomalies()["api_calls"]

    anomaly_dismiss(anomaly=anomaly, user=csm, reason="expected")

    assert RiskSignal.objects.get(anomaly=anomaly).resolved_at is not None
    scan()  # the event goes on, but it was dismissed: the signal stays resolved
    assert RiskSignal.objects.get(anomaly=anomaly).resolved_at is not None
    assert RiskSignal.objects.filter(anomaly=anomaly).count() == 1


def test_a_reopened_anomaly_has_its_signal_back(account, csm):
    scan()
    anomaly = _anomalies()["api_calls"]
    anomaly_dismiss(anomaly=anomaly, user=csm, reason="false_positive")

    assert RiskSignal.objects.get(anomaly=anomaly).resolved_at is not None

    anomaly_reopen(anomaly=anomaly, user=csm)

    assert RiskSignal.objects.get(anomaly=anomaly).resolved_at is None
    scan()  # same data: the anomaly does not change, and its signal stays active
    assert UsageAnomaly.objects.get(pk=anomaly.pk).status == "open"
    assert list(RiskSignal.objects.filter(anomaly=anomaly).values_list("resolved_at")) == [(None,)]
    assert NotificationRequest.objects.count() == 1


def test_a_csm_who_wants_warnings_at_once_gets_a_request_for_them(account, csm):
    from notifications.models import NotificationPreference

    NotificationPreference.objects.create(user=csm, immediate_min_severity="warning")

    scan()

    requested = set(NotificationRequest.objects.values_list("anomaly__metric_type", flat=True))
    assert requested == {"api_calls", "feature:reports"}  # the critical one and the warning
