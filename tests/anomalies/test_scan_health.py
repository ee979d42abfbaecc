"""What a scan writes for the health dashboard: one usage health score per scanned account
and scan day, in bulk, the same on a rescan; and a health-decline risk signal."""

import datetime as dt

import numpy as np
import pytest

from anomalies.detection.calendar import holiday_mask
from anomalies.detection.health import health_scores
from anomalies.models import UsageAnomaly
from anomalies.scan_inputs import series_batch, usage_frame
from anomalies.selectors_health import HEALTH_CHANGE_DAYS
from anomalies.services.anomalies import anomaly_dismiss
from anomalies.services.health import HEALTH_DECLINE_POINTS, health_scores_record
from customers.models import HealthScoreHistory, RiskSignal

from .scan_data import AS_OF, N_DAYS, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db

LOW_FROM = slice(174, None)  # the six days up to AS_OF


@pytest.fixture
def portfolio(make_customer, csm):
    """`falling`: API calls -65 % and reports -65 % over the last six days (a critical and a
    warning drop), logins tripled (an info spike); `steady`: nothing happens; `silent`: no
    usage at all."""
    falling, steady = make_customer(csm=csm), make_customer(csm=csm)
    silent = make_customer(csm=csm)
    series = {
        (falling, "api_calls"): scaled(usage(N_DAYS, seed=1), LOW_FROM, 0.35),
        (falling, "feature:reports"): scaled(usage(N_DAYS, seed=2, level=800), LOW_FROM, 0.35),
        (falling, "logins"): scaled(usage(N_DAYS, seed=3, level=300), LOW_FROM, 3.0),
        (steady, "api_calls"): usage(N_DAYS, seed=4),
        (steady, "logins"): usage(N_DAYS, seed=5, level=300),
    }
    for (customer, metric), values in series.items():
        usage_store(customer, metric, values)
    return {"falling": falling, "steady": steady, "silent": silent, "series": series}


def _rows():
    return {
        r.customer_id: (r.date, r.score, r.usage_component)
        for r in HealthScoreHistory.objects.filter(date=AS_OF)
    }


def _expected(portfolio) -> dict:
    """The engine's formula on the very values stored, with the anomalies the scan left open."""
    keys = list(portfolio["series"])
    values = np.vstack([portfolio["series"][k] for k in keys])
    first = AS_OF - dt.timedelta(days=N_DAYS - 1)
    result = health_scores(
        values=values,
        holidays=holiday_mask("US", first, N_DAYS)[None, :],  # the default calendar's
        groups=[str(c.pk) for c, _ in keys],
        metrics=[m for _, m in keys],
        anomalies=[
            (str(c), d, s)
            for c, d, s in UsageAnomaly.objects.filter(status="open").values_list(
                "customer_id", "direction", "severity"
            )
        ],
    )
    return {
        account: (score, usage)
        for account, score, usage in zip(
            result.accounts, result.score.tolist(), result.usage_component.tolist(), strict=True
        )
    }


def test_a_scan_writes_one_score_per_scanned_account(portfolio):
    scan()

    falling, steady = portfolio["falling"], portfolio["steady"]
    rows = _rows()
    assert set(rows) == {falling.pk, steady.pk}  # no usage, no score
    expected = _expected(portfolio)
    for customer in (falling, steady):
        date, score, usage_component = rows[customer.pk]
        assert date == AS_OF
        assert (score, usage_component) == expected[str(customer.pk)]
    open_ = set(
        UsageAnomaly.objects.filter(customer=falling, status="open").values_list(
            "severity", "direction"
        )
    )
    assert ("critical", "negative") in open_
    # Steady usage scores about the curve's 80; the drops cost the other account dearly.
    assert 75 <= rows[steady.pk][1] <= 85
    assert rows[falling.pk][1] <= rows[steady.pk][1] - 30


def test_a_rescan_the_same_day_replaces_the_row(portfolio, csm):
    scan()
    first = _rows()
    # A CSM dismisses the critical drop: the rescan scores without it.
    drop = UsageAnomaly.objects.get(customer=portfolio["falling"], severity="critical")
    anomaly_dismiss(anomaly=drop, user=csm, reason="false_positive", note="", until=None)

    scan()

    again = _rows()
    assert HealthScoreHistory.objects.count() == 2
    assert again[portfolio["steady"].pk] == first[portfolio["steady"].pk]
    assert again[portfolio["falling"].pk][1] == first[portfolio["falling"].pk][1] + 25
    assert (
        again[portfolio["falling"].pk][1] == _expected(portfolio)[str(portfolio["falling"].pk)][0]
    )


def test_scores_of_one_chunk_cost_a_fixed_number_of_queries(
    portfolio, make_customer, csm, django_assert_max_num_queries
):
    # Twice the accounts, the same queries: nothing is read or written per account.
    scan()
    for seed in range(6, 12):
        customer = make_customer(csm=csm)
        usage_store(customer, "api_calls", usage(N_DAYS, seed=seed))
    ids = [str(pk) for pk in HealthScoreHistory.objects.values_list("customer_id", flat=True)]
    ids += [str(c.pk) for c in type(portfolio["steady"]).objects.exclude(pk__in=ids)]
    start = AS_OF - dt.timedelta(days=N_DAYS - 1)
    batch = series_batch(
        usage_frame(customer_ids=ids, start=start, end=AS_OF),
        customer_ids=ids,
        start=start,
        end=AS_OF,
    )
    with django_assert_max_num_queries(6):
        scores = health_scores_record(batch=batch, as_of=AS_OF)
    assert len(scores) == 8
    assert HealthScoreHistory.objects.filter(date=AS_OF).count() == 8


def test_a_fall_from_a_month_ago_raises_one_signal_and_recovery_resolves_it(portfolio):
    falling, steady = portfolio["falling"], portfolio["steady"]
    month_ago = AS_OF - dt.timedelta(days=HEALTH_CHANGE_DAYS)
    # The reference is the latest score on or before that day: 95, not the older 10 nor the
    # later 10.
    for day, score in (
        (month_ago - dt.timedelta(days=3), 10),
        (month_ago, 95),
        (AS_OF - dt.timedelta(days=3), 10),
    ):
        HealthScoreHistory.objects.create(
            customer=falling, date=day, score=score, usage_component=score
        )
    # The steady account was at 100 a month ago: it fell about 20 points, one short of a signal
    # or more; its score decides (checked below).
    HealthScoreHistory.objects.create(
        customer=steady, date=month_ago, score=100, usage_component=100
    )

    scan()
    scan()  # a rescan updates the signal, never doubles it

    rows = _rows()
    score = rows[falling.pk][1]
    assert 95 - score >= 2 * HEALTH_DECLINE_POINTS
    signals = {s.customer_id: s for s in RiskSignal.objects.filter(kind="health_decline")}
    signal = signals[falling.pk]
    assert (signal.severity, signal.resolved_at) == ("critical", None)
    assert signal.title == f"Usage health fell {95 - score} points in 30 days, from 95 to {score}"
    assert signal.details["before"] == 95
    assert (steady.pk in signals) == (100 - rows[steady.pk][1] >= HEALTH_DECLINE_POINTS)
    assert len(signals) == RiskSignal.objects.filter(kind="health_decline").count()

    HealthScoreHistory.objects.filter(customer=falling, date=month_ago).update(
        score=score + HEALTH_DECLINE_POINTS - 1
    )
    scan()

    signal.refresh_from_db()
    assert signal.resolved_at is not None
    assert RiskSignal.objects.filter(kind="health_decline", customer=falling).count() == 1


def test_an_account_with_an_unknown_calendar_is_scored_without_holidays(portfolio):
    # Saved around the form's validation (an old row, a raw import): the score still comes.
    type(portfolio["steady"]).objects.filter(pk=portfolio["steady"].pk).update(
        holiday_calendar="ZZ"
    )
    scan()

    assert set(_rows()) == {portfolio["falling"].pk, portfolio["steady"].pk}
