"""The charts' data (selectors.series_windows): the numbers one engine replay per metric gave,
from one replay of all of them, and none while an answer for the same inputs is cached."""

import datetime as dt

import numpy as np
import pytest
import redis

from anomalies import selectors
from anomalies.detection import series_trace
from anomalies.models import DetectionSettings
from customers.models import UsageMetric
from tests.anomalies.scan_data import AS_OF, N_DAYS, day, scaled, usage, usage_store

pytestmark = pytest.mark.django_db

METRICS = ["api_calls", "logins", "feature:reports"]
FIRST = AS_OF - dt.timedelta(days=89)


@pytest.fixture
def account(make_customer):
    customer = make_customer()
    usage_store(customer, "api_calls", scaled(usage(seed=1), slice(N_DAYS - 6, N_DAYS), 0.4))
    usage_store(customer, "logins", usage(seed=2, level=80))
    # Starts late: its first chart days have no expectation yet.
    usage_store(customer, "feature:reports", usage(80, seed=3, level=30), first_index=100)
    DetectionSettings.objects.create(customer=customer, metric="logins", sensitivity="high")
    return customer


def one_replay_per_metric(customer, metrics, first, last) -> list[dict]:
    """The page's former path: series_trace per metric on the same inputs."""
    inputs = selectors.series_inputs(customer=customer, metrics=metrics, first=first, last=last)
    batch = inputs.batch
    traces = [
        series_trace(batch.values[row], start=batch.start, metric=metric, config=config)
        for row, (metric, config) in enumerate(zip(batch.metrics, inputs.configs, strict=True))
    ]
    return inputs.windows(traces)


def windows(customer, metrics=METRICS, first=FIRST, last=AS_OF) -> list[dict]:
    return selectors.series_windows(customer=customer, metrics=metrics, first=first, last=last)


@pytest.fixture
def replays(monkeypatch) -> list:
    """Counts the engine replays series_windows runs."""
    calls = []
    real = selectors.series_traces

    def counted(*args, **kwargs):
        calls.append(kwargs["metrics"])
        return real(*args, **kwargs)

    monkeypatch.setattr(selectors, "series_traces", counted)
    return calls


def test_the_charts_hold_the_numbers_of_one_replay_per_metric(account):
    expected = one_replay_per_metric(account, [*METRICS, "active_users"], FIRST, AS_OF)

    got = windows(account, [*METRICS, "active_users"])

    assert got == expected
    assert [w["metric"] for w in got] == [*METRICS, "active_users"]
    api_calls, _, reports, nothing = got
    assert len(api_calls["dates"]) == 90 and api_calls["dates"][-1] == AS_OF.isoformat()
    assert all(v is not None for v in api_calls["expected"])
    # The drop of the last days is below the band the engine expected.
    assert api_calls["actual"][-1] < api_calls["expected_low"][-1] < api_calls["expected"][-1]
    assert reports["expected"][0] is None and reports["expected"][-1] is not None
    assert nothing == {
        "metric": "active_users",
        **{name: [] for name in selectors.SERIES_FIELDS},
    }


def test_a_year_long_window_equals_one_replay_per_metric_too(account):
    first = AS_OF - dt.timedelta(days=364)

    assert windows(account, first=first) == one_replay_per_metric(account, METRICS, first, AS_OF)


def test_all_metrics_replay_once_and_not_again_while_nothing_changed(account, replays):
    first = windows(account)
    assert replays == [("api_calls", "feature:reports", "logins")]

    assert windows(account) == first
    assert len(replays) == 1


def test_changed_usage_replays(account, replays):
    before = windows(account)
    UsageMetric.objects.filter(customer=account, metric="logins", date=day(N_DAYS - 1)).update(
        value=1.0
    )

    after = windows(account)

    assert len(replays) == 2
    assert after[1]["actual"][-1] == 1.0 != before[1]["actual"][-1]


def test_changed_settings_replay(account, replays):
    before = windows(account)
    DetectionSettings.objects.filter(customer=account, metric="logins").update(sensitivity="low")

    after = windows(account)

    assert len(replays) == 2
    assert after[1]["expected_low"] != before[1]["expected_low"]


def test_another_window_replays(account, replays):
    windows(account)
    windows(account, first=FIRST - dt.timedelta(days=1))

    assert len(replays) == 2


def test_an_unreachable_cache_costs_a_replay_not_the_page(account, replays, monkeypatch):
    class Down:
        def get(self, *args, **kwargs):
            raise redis.ConnectionError("Connection refused")

        set = get

    monkeypatch.setattr(selectors, "cache", Down())

    assert windows(account) == windows(account)
    assert len(replays) == 2


def test_the_cache_key_covers_the_values_and_the_engine(account, monkeypatch):
    inputs = selectors.series_inputs(customer=account, metrics=METRICS, first=FIRST, last=AS_OF)
    key = inputs.cache_key()
    assert (
        selectors.series_inputs(
            customer=account, metrics=METRICS, first=FIRST, last=AS_OF
        ).cache_key()
        == key
    )

    inputs.batch.values[0, -1] = np.nextafter(inputs.batch.values[0, -1], np.inf)
    assert inputs.cache_key() != key

    monkeypatch.setattr(selectors, "_engine_version", lambda: "another engine")
    other = selectors.series_inputs(customer=account, metrics=METRICS, first=FIRST, last=AS_OF)
    assert other.cache_key() != key
