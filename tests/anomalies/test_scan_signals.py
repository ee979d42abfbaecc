"""What a scan raises beyond the anomaly: one risk signal per warning or critical loss, never
doubled by rescans, and its chunk's news (the open anomalies it created or changed), taken
once. Who hears about the news is notifications' business (tests/notifications/test_requests.py).
"""

import pytest

from anomalies.models import DetectionSettings, ScanChunk, UsageAnomaly
from anomalies.services.anomalies import anomaly_dismiss, anomaly_reopen
from anomalies.services.scans import scan_chunk_run, scan_news_take
from customers.models import RiskSignal

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


def test_rescans_do_not_double_signals(account, csm):
    scan()
    signals = set(RiskSignal.objects.values_list("pk", flat=True))

    scan()
    scan(as_of=day(179))

    assert set(RiskSignal.objects.values_list("pk", flat=True)) == signals
    assert RiskSignal.objects.filter(resolved_at__isnull=True).count() == 2


def test_a_chunk_records_its_open_anomalies_as_news_taken_once(account):
    run = scan()

    chunk = run.chunks.get()
    assert sorted(chunk.news) == sorted(str(a.pk) for a in _anomalies().values())
    assert sorted(scan_news_take()) == sorted(chunk.news)
    assert ScanChunk.objects.get(pk=chunk.pk).news is None
    assert scan_news_take() == []


def test_a_redelivered_chunk_raises_no_news_again(account):
    run = scan()
    chunk = run.chunks.get()
    scan_news_take()

    assert scan_chunk_run(chunk_id=chunk.pk).skipped

    assert ScanChunk.objects.get(pk=chunk.pk).news is None


def test_a_rescan_brings_news_only_of_anomalies_that_changed(account):
    scan()
    scan_news_take()

    scan()  # the same data: nothing changed
    assert scan_news_take() == []

    # Two more days, still down: the open anomalies' figures move on.
    for metric, seed, level in (("api_calls", 1, 2000.0), ("feature:reports", 2, 800.0)):
        usage_store(
            account,
            metric,
            scaled(usage(N_DAYS + 2, seed=seed, level=level), LOW, 0.35)[N_DAYS:],
            first_index=N_DAYS,
        )
    scan(as_of=day(N_DAYS + 1))

    news = {UsageAnomaly.objects.get(pk=pk).metric_type for pk in scan_news_take()}
    assert {"api_calls", "feature:reports"} <= news


def test_news_holds_no_closed_anomaly(account):
    scan()
    scan_news_take()
    _recover(account, "api_calls", seed=1)

    scan(as_of=day(183))

    anomalies = _anomalies()
    assert anomalies["api_calls"].status == "resolved"
    assert str(anomalies["api_calls"].pk) not in scan_news_take()


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
