"""A hand-checked portfolio for tuning proposals: feature usage with known drops, the stored
anomalies a team judged, and the answer a backtest of "feature:* drops: minimum duration
2 → 3 days, drop threshold 30 % → 40 %" must give.

Six accounts use the reports feature (500 a day, a weekly pattern, 3 % noise) over the 300
days up to AS_OF. Their drops, each on its own Tuesday (three accounts falling on one day
would be a portfolio outage) and clear of US holidays:

    account     drop                      judged as                     proposed settings
    Blips 1     Mar 4,  2 days, -50 %     dismissed: false positive     gone (2 days)
    Blips 1     Apr 22, 3 days, -45 %     dismissed: false positive     kept
    Blips 2     Mar 11, 2 days, -50 %     dismissed: false positive     gone
    Blips 2     Feb 25 (no drop in usage) dismissed: false positive     not reproduced
    Blips 3     Mar 25, 2 days, -50 %     dismissed: false positive     gone
    Churner     Mar 18, 2 days, -38 %     dismissed, then churned Apr 30  gone: hides a churn
    Acted       Apr 8,  6 days, -70 %     the CSM contacted the customer  kept
    Quiet       May 6,  2 days, -50 %     not judged                    gone

Padding Co has no usage: its 16 dismissed feature drops only raise the judged counts past
the minimum (the backtest never sees them). Judged: 7 + 16 = 23; false positives, as
/insights/ counts them (dismissed as such, whatever followed: Churner's too), 6 + 16 = 22
(96 %, over twice the 20 % target: both rungs of the ladder).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.utils import timezone

from anomalies.models import AnomalyAction
from customers.models import LifecycleEvent, UsageMetric
from tests import synth
from tests.factories import make_anomaly_of

AS_OF = dt.date(2025, 5, 14)
N_DAYS = 300
FIRST = AS_OF - dt.timedelta(days=N_DAYS - 1)
METRIC = "feature:reports"
CHURN_DAY = dt.date(2025, 4, 30)
PADDING = 16
PROPOSAL_TEXT = "feature:* drops: minimum duration 2 → 3 days, drop threshold 30 % → 40 %"

# (account, drop start, days, factor, how the team judged the stored anomaly)
DROPS = [
    ("Blips 1", dt.date(2025, 3, 4), 2, 0.5, "false_positive"),
    ("Blips 1", dt.date(2025, 4, 22), 3, 0.55, "false_positive"),
    ("Blips 2", dt.date(2025, 3, 11), 2, 0.5, "false_positive"),
    ("Blips 3", dt.date(2025, 3, 25), 2, 0.5, "false_positive"),
    ("Churner", dt.date(2025, 3, 18), 2, 0.62, "false_positive"),
    ("Acted", dt.date(2025, 4, 8), 6, 0.3, "acted_on"),
    ("Quiet", dt.date(2025, 5, 6), 2, 0.5, "unjudged"),
]
# A dismissal with no drop in the usage behind it: the replay cannot find it either way.
PHANTOM = ("Blips 2", dt.date(2025, 2, 25))

EXPECTED_BACKTEST = {
    "series": 6,
    "found_now": 7,
    "found_proposed": 2,
    "disappear": {
        "led_to_churn": 1,
        "acted_on": 0,
        "false_positive": 3,
        "dismissed_other": 0,
        "outcome_known": 0,
        "unjudged": 1,
    },
    "kept": {
        "led_to_churn": 0,
        "acted_on": 1,
        "false_positive": 1,
        "dismissed_other": 0,
        "outcome_known": 0,
        "unjudged": 0,
    },
    "not_reproduced": 1,
}


def feature_usage(seed: int, drops=()) -> np.ndarray:
    """The shared synthetic series (no growth, 3 % noise) with the drops multiplied in."""
    values = synth.usage(N_DAYS, seed=seed, level=500.0, yearly_growth=0.0, noise=0.03, start=FIRST)
    for start, days, factor in drops:
        i = (start - FIRST).days
        values = synth.scaled(values, slice(i, i + days), factor)
    return values


def _stored(customer, start, days, user=None):
    """The anomaly a scan stored for a drop; dismissed as a false positive by `user`, if
    given, else resolved."""
    judged = (
        {"status": "resolved"}
        if user is None
        else {
            "status": "dismissed",
            "dismiss_reason": "false_positive",
            "dismissed_at": timezone.now(),
            "dismissed_by": user,
        }
    )
    return make_anomaly_of(
        customer,
        metric_type=METRIC,
        severity="warning",
        start_date=start,
        end_date=start + dt.timedelta(days=days - 1),
        **judged,
    )


def tuning_portfolio(make_customer, csm) -> dict:
    """Store the portfolio; returns the accounts by name and the stored anomalies by
    (account, start day)."""
    names = sorted({d[0] for d in DROPS})
    accounts = {name: make_customer(name=name, csm=csm) for name in names}
    rows = []
    for seed, name in enumerate(names):
        drops = [(start, days, factor) for n, start, days, factor, _ in DROPS if n == name]
        values = feature_usage(seed, drops)
        rows += [
            UsageMetric(
                customer=accounts[name],
                metric=METRIC,
                date=FIRST + dt.timedelta(days=i),
                value=float(v),
            )
            for i, v in enumerate(values)
        ]
    UsageMetric.objects.bulk_create(rows)

    stored = {}
    for name, start, days, _factor, judgement in DROPS:
        customer = accounts[name]
        anomaly = _stored(customer, start, days, csm if judgement == "false_positive" else None)
        if judgement == "acted_on":
            AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="contact_customer")
        stored[(name, start)] = anomaly
    name, start = PHANTOM
    stored[PHANTOM] = _stored(accounts[name], start, 2, csm)
    LifecycleEvent.objects.create(customer=accounts["Churner"], kind="churned", date=CHURN_DAY)

    padding = make_customer(name="Padding Co", csm=csm)
    accounts["Padding Co"] = padding
    for k in range(PADDING):
        _stored(padding, dt.date(2025, 1, 7) + dt.timedelta(days=7 * k), 2, csm)
    return {"accounts": accounts, "stored": stored}


def make_proposal(**fields):
    """A waiting proposal as proposals_create makes it over this portfolio, without the
    portfolio (for pages and permissions, where the backtest's work is beside the point)."""
    from anomalies.models import TuningProposal

    fields.setdefault("anomaly_type", "drop")
    fields.setdefault("metric_family", "feature:*")
    fields.setdefault("settings_metric", "feature:*")
    fields.setdefault("judged", 23)
    fields.setdefault("false_positives", 22)
    fields.setdefault("false_positive_rate", 22 / 23)
    fields.setdefault("target_rate", 0.2)
    fields.setdefault("judged_since", AS_OF - dt.timedelta(days=364))
    fields.setdefault(
        "change",
        {"min_duration_days": {"from": 2, "to": 3}, "drop_percent": {"from": 30.0, "to": 40.0}},
    )
    fields.setdefault("text", PROPOSAL_TEXT)
    fields.setdefault(
        "backtest",
        {
            **EXPECTED_BACKTEST,
            "days": 180,
            "first_day": (AS_OF - dt.timedelta(days=179)).isoformat(),
            "hidden_churn": ["00000000-0000-0000-0000-000000000001"],
        },
    )
    fields.setdefault("hides_churn", True)
    return TuningProposal.objects.create(**fields)
