"""Two years of past anomalies and what they led to, for the demo's learning loop.

The story the numbers tell (what /insights/ should find on `make run`):
- churns are mostly preceded by a loss of API calls (and maybe of logins or active users, a
  feature abandonment or a gradual decline), 20 to 85 days before the account left; a third
  of the churns and of the contractions come with no warning at all, so accounts without
  such an anomaly have losses too (a base rate above zero, a finite lift);
- contractions are mostly preceded by a drop in API calls;
- expansions are mostly preceded by a spike in logins (now and then in active users);
- feature:* drops are short (two days), and CSMs dismissed most of them as false positives:
  the scope a tuning proposal should pick (one of them, dismissed, preceded a churn);
- core drops and spikes that led nowhere (dismissed as a data issue or expected, or marked
  no impact) keep precision honest;
- CSMs set some outcomes themselves; the rest are derived from the lifecycle changes;
  contacts, trainings and expansion calls are on many cards; every account renews yearly
  on its anniversary (except the churned ones), and has its next renewal date.

Pure numbers, like customers.demo (whose DemoData it reads and whose usage it edits): no
database, no clock. Drawn from a stream of its own, so the usage every other test of the demo
knows is unchanged wherever no past anomaly was placed. Past anomalies sit between
HISTORY_MIN_BASELINE_DAYS after the first day and HISTORY_CLEAR_DAYS before as_of: they
have a baseline before them, and the start-up scan (which looks at recent weeks) neither
finds them again nor sees their aftermath. The story accounts get renewals only.
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from anomalies.detection.vocabulary import (
    ACTIVE_USERS,
    API_CALLS,
    LOGINS,
    AnomalyType,
    Severity,
    is_feature_metric,
)

from .demo import STORY_ACCOUNTS, STORY_RENEWAL_DAYS, DemoData

HISTORY_STREAM = 3  # customers.demo uses 1 and 2
# Days of usage before the first past anomaly: a baseline for it to deviate from.
HISTORY_MIN_BASELINE_DAYS = 120
# Days before as_of kept free of past anomalies, lifecycle changes and churned accounts'
# silence: more than the start-up scan's look back, so it finds only the stories.
HISTORY_CLEAR_DAYS = 100
# Shorter runs (the tests' 60 days) get no history: nothing fits between the two.
HISTORY_MIN_DAYS = HISTORY_MIN_BASELINE_DAYS + HISTORY_CLEAR_DAYS + 90
# Shares of the non-story accounts by what happened to them.
CHURN_SHARE = 0.16
CONTRACTION_SHARE = 0.14
EXPANSION_SHARE = 0.21
# Of those, how many had no warning anomaly before (the rest had one).
SURPRISE_CHURNS = 3
UNWARNED_CONTRACTIONS = 3
UNWARNED_EXPANSION_SHARE = 0.35
# Noise: anomalies that led nowhere, per 10 non-story accounts.
FEATURE_DROPS_PER_10 = 16
CORE_DROPS_PER_10 = 2.6
SPIKES_PER_10 = 3.5
# A feature drop a CSM judged: mostly false positives.
FEATURE_DROP_DISMISSED_FP = 0.78
FEATURE_DROP_NEW_NORMAL = 0.05
# The effectiveness table groups by type x severity x metric family and calls a group with
# fewer than 20 anomalies a small sample: the warnings and the noise gather on API-call
# drops and login spikes, so those two groups are big enough to read.
SAME_FAMILY_SHARE = 0.75
# Outcomes the CSM set themselves (the rest are derived).
CSM_SET_SHARE = 0.3

_CHURN_NOTES = (
    "Moved to a competitor",
    "Budget cut",
    "Champion left the company",
    "Consolidated tools",
)


@dataclass(frozen=True)
class PastAnomaly:
    external_id: str
    metric: str
    anomaly_type: str
    severity: str
    start: date
    end: date
    deviation_percent: float
    baseline: float
    status: str = "resolved"  # or "dismissed"
    dismiss_reason: str = ""
    dismiss_note: str = ""
    # Set by the CSM ("" leaves it to derivation) and when, in days after the end.
    outcome: str = ""
    outcome_note: str = ""
    # (action kind, days after the start, note)
    actions: tuple[tuple[str, int, str], ...] = ()

    @property
    def direction(self) -> str:
        return "positive" if self.deviation_percent > 0 else "negative"


@dataclass(frozen=True)
class PastChange:
    external_id: str
    kind: str
    date: date
    arr_before: int
    arr_after: int
    note: str = ""


@dataclass(frozen=True)
class DemoHistory:
    anomalies: tuple[PastAnomaly, ...]
    changes: tuple[PastChange, ...]
    renewal_dates: dict[str, date]
    churned_on: dict[str, date]


def generate_history(data: DemoData, *, seed: int) -> DemoHistory:
    """The past of `data`'s accounts (see the module docstring); deterministic for a seed."""
    rng = np.random.default_rng([seed, HISTORY_STREAM])
    first, as_of = data.dates[0].astype(date), data.as_of
    anniversaries = {
        a.external_id: as_of - timedelta(days=int(rng.integers(0, 365))) for a in data.accounts
    }
    # The stories renew when their story needs (drawn above all the same, so no other value
    # moves).
    for external_id, days in STORY_RENEWAL_DAYS.items():
        if external_id in anniversaries:
            anniversaries[external_id] = as_of + timedelta(days=days - 365)
    renewal_dates = {e: a + timedelta(days=365) for e, a in anniversaries.items()}
    if len(data.dates) < HISTORY_MIN_DAYS:
        return DemoHistory((), (), renewal_dates, {})

    builder = _Builder(data, rng, first + timedelta(days=HISTORY_MIN_BASELINE_DAYS))
    last = as_of - timedelta(days=HISTORY_CLEAR_DAYS)
    story_ids = {a.external_id for a in STORY_ACCOUNTS}
    accounts = [a for a in data.accounts if a.external_id not in story_ids]
    order = rng.permutation(len(accounts))
    n = len(accounts)
    n_churn = min(n, round(CHURN_SHARE * n))
    # A small portfolio (the tests' dozen accounts) has fewer churns, warned ones first.
    surprises = min(SURPRISE_CHURNS, n_churn // 3)
    n_contract = min(n - n_churn, round(CONTRACTION_SHARE * n))
    n_expand = min(n - n_churn - n_contract, round(EXPANSION_SHARE * n))
    churners = [accounts[i] for i in order[:n_churn]]
    contracting = [accounts[i] for i in order[n_churn : n_churn + n_contract]]
    expanding = [accounts[i] for i in order[n_churn + n_contract : n_churn + n_contract + n_expand]]
    churner_ids = {a.external_id for a in churners}

    churned_on = {}
    for i, account in enumerate(churners):
        day = builder.day_between(builder.first + timedelta(days=90), last)
        churned_on[account.external_id] = day
        # The account did not renew: its anniversary is the churn.
        anniversaries[account.external_id] = day
        builder.change(account, "churned", day, account.arr, 0, rng.choice(_CHURN_NOTES))
        if i >= surprises:
            builder.warnings_before_churn(account, day, dismissed_feature_drop=i == surprises)

    for i, account in enumerate(contracting):
        day = builder.day_between(builder.first + timedelta(days=60), last)
        anniversaries[account.external_id] = day + timedelta(days=182)
        renewal_dates[account.external_id] = _next_after(day + timedelta(days=182), as_of)
        before = int(round(account.arr / rng.uniform(0.55, 0.8), -2))
        builder.change(account, "contracted", day, before, account.arr, "Fewer seats at renewal")
        if i >= UNWARNED_CONTRACTIONS:
            builder.loss(account, API_CALLS, day, lead=(25, 80), depth=(40, 60))

    for account in expanding:
        day = builder.day_between(builder.first + timedelta(days=60), last)
        anniversaries[account.external_id] = day + timedelta(days=182)
        renewal_dates[account.external_id] = _next_after(day + timedelta(days=182), as_of)
        before = int(round(account.arr / rng.uniform(1.2, 1.7), -2))
        builder.change(account, "expanded", day, before, account.arr, "Added a team")
        if rng.random() >= UNWARNED_EXPANSION_SHARE:
            builder.spike_before(account, day)

    for account in data.accounts:
        if account.external_id in churner_ids:
            continue
        builder.renewals(account, anniversaries[account.external_id], last)
    for account in churners:
        churn = churned_on[account.external_id]
        builder.renewals(account, churn - timedelta(days=365), churn - timedelta(days=1))

    # Noise: what led nowhere, on the accounts whose contract never changed. On the others
    # it would follow their change by chance now and then, and blur the base rates: a
    # churn or contraction "without warning" must really have had none.
    changed = churner_ids | {a.external_id for a in contracting + expanding}
    stayed = [a for a in accounts if a.external_id not in changed]
    for _ in range(round(FEATURE_DROPS_PER_10 * n / 10)):
        builder.feature_drop(stayed[int(rng.integers(len(stayed)))], last)
    for _ in range(round(CORE_DROPS_PER_10 * n / 10)):
        builder.idle_core_drop(stayed[int(rng.integers(len(stayed)))], last)
    for _ in range(round(SPIKES_PER_10 * n / 10)):
        builder.idle_spike(stayed[int(rng.integers(len(stayed)))], last)

    return DemoHistory(
        anomalies=tuple(builder.anomalies),
        changes=tuple(builder.changes),
        renewal_dates={e: d for e, d in renewal_dates.items() if e not in churned_on},
        churned_on=churned_on,
    )


def with_history_usage(data: DemoData, history: DemoHistory, *, seed: int) -> DemoData:
    """`data` with the past anomalies in its usage (a drop thins the day's count, a spike adds
    to it, a decline ramps down) and no usage after an account churned."""
    rng = np.random.default_rng([seed, HISTORY_STREAM, 1])
    values = data.values.copy()
    row = {key: i for i, key in enumerate(data.keys)}
    first = data.dates[0].astype(date)
    for anomaly in history.anomalies:
        i = row[(anomaly.external_id, anomaly.metric)]
        lo, hi = (anomaly.start - first).days, (anomaly.end - first).days + 1
        window = values[i, lo:hi]
        present = ~np.isnan(window)
        factor = np.full(hi - lo, 1.0 + anomaly.deviation_percent / 100.0)
        if anomaly.anomaly_type == AnomalyType.GRADUAL_DECLINE:
            factor = np.linspace(1.0, factor[0], hi - lo)
        counts = window[present].astype(np.int64)
        if anomaly.deviation_percent < 0:
            window[present] = rng.binomial(counts, factor[present])
        else:
            window[present] = counts + rng.poisson(counts * (factor[present] - 1.0))
    for external_id, day in history.churned_on.items():
        rows = [i for (e, _), i in row.items() if e == external_id]
        values[rows, (day - first).days + 1 :] = np.nan
    return replace(data, values=values)


def _next_after(anniversary: date, as_of: date) -> date:
    while anniversary <= as_of:
        anniversary += timedelta(days=365)
    return anniversary


class _Builder:
    """Collects past anomalies and changes; reads baselines from the generated usage."""

    def __init__(self, data: DemoData, rng: np.random.Generator, first: date):
        self.data, self.rng, self.first = data, rng, first
        self.start_of_data = data.dates[0].astype(date)
        self.row = {key: i for i, key in enumerate(data.keys)}
        self.anomalies: list[PastAnomaly] = []
        self.changes: list[PastChange] = []

    def day_between(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=int(self.rng.integers(0, max((hi - lo).days, 1))))

    def change(self, account, kind, day, arr_before, arr_after, note=""):
        self.changes.append(
            PastChange(account.external_id, kind, day, int(arr_before), int(arr_after), note)
        )

    def renewals(self, account, anniversary: date, last: date) -> None:
        day = anniversary
        while day > last:
            day -= timedelta(days=365)
        kept = {(c.external_id, c.date) for c in self.changes}
        while day >= self.start_of_data:
            if (account.external_id, day) not in kept:
                self.change(account, "renewed", day, account.arr, account.arr)
            day -= timedelta(days=365)

    def baseline(self, external_id: str, metric: str, start: date) -> float:
        values = self.data.values[self.row[(external_id, metric)]]
        i = (start - self.start_of_data).days
        return float(np.nanmean(values[max(i - 28, 0) : i]))

    def add(self, account, metric, anomaly_type, severity, start, end, deviation, **fields):
        start = max(start, self.first)
        end = max(end, start)
        self.anomalies.append(
            PastAnomaly(
                external_id=account.external_id,
                metric=metric,
                anomaly_type=str(anomaly_type),
                severity=str(severity),
                start=start,
                end=end,
                deviation_percent=round(float(deviation), 1),
                baseline=round(self.baseline(account.external_id, metric, start), 2),
                **fields,
            )
        )

    def _csm_outcome(self, outcome: str, note: str) -> dict:
        if self.rng.random() < CSM_SET_SHARE:
            return {"outcome": outcome, "outcome_note": note}
        return {}

    def warnings_before_churn(self, account, churn: date, *, dismissed_feature_drop: bool):
        """One to three losses before a churn, lasting until it; the first with a CSM-set
        outcome sometimes, and contacts and trainings on most."""
        rng = self.rng
        end = churn - timedelta(days=1)
        # Always a loss of API calls, and up to two of the other kinds.
        kinds = [0, *(1 + rng.choice(3, size=int(rng.integers(0, 3)), replace=False))]
        features = [m for m in account.metrics if is_feature_metric(m)]
        for kind in sorted(int(k) for k in kinds):
            start = churn - timedelta(days=int(rng.integers(20, 86)))
            actions = self._actions(
                ("contact_customer", 0.7, "Called the sponsor"),
                ("schedule_training", 0.3, "Refresher training booked"),
                ("investigate", 0.4, ""),
            )
            outcome = self._csm_outcome("churned", "Saw it coming; could not save it")
            if kind == 0:
                self.add(account, API_CALLS, AnomalyType.DROP, Severity.CRITICAL, start, end,
                         -rng.uniform(55, 75), actions=actions, **outcome)  # fmt: skip
            elif kind == 1:
                metric = (LOGINS, ACTIVE_USERS)[int(rng.integers(2))]
                self.add(account, metric, AnomalyType.DROP, Severity.WARNING, start, end,
                         -rng.uniform(40, 60), actions=actions, **outcome)  # fmt: skip
            elif kind == 2 and features:
                metric = features[int(rng.integers(len(features)))]
                self.add(account, metric, AnomalyType.FEATURE_ABANDONMENT, Severity.WARNING,
                         start, end, -rng.uniform(90, 97), actions=actions, **outcome)  # fmt: skip
            else:
                self.add(account, ACTIVE_USERS, AnomalyType.GRADUAL_DECLINE, Severity.WARNING,
                         start, end, -rng.uniform(25, 40), actions=actions, **outcome)  # fmt: skip
        if dismissed_feature_drop and features:
            # The false positive that was not: a tuning proposal hiding it must say so.
            start = churn - timedelta(days=int(rng.integers(30, 60)))
            self.add(account, features[0], AnomalyType.DROP, Severity.WARNING, start,
                     start + timedelta(days=2), -rng.uniform(32, 38), status="dismissed",
                     dismiss_reason="false_positive", dismiss_note="Just a quiet week")  # fmt: skip

    def loss(self, account, metric, day, *, lead, depth):
        start = day - timedelta(days=int(self.rng.integers(*lead)))
        self.add(
            account, metric, AnomalyType.DROP, Severity.CRITICAL, start, day - timedelta(days=1),
            -self.rng.uniform(*depth),
            actions=self._actions(("contact_customer", 0.8, "Asked about the team changes")),
            **self._csm_outcome("contracted", "Lost a department"),
        )  # fmt: skip

    def spike_before(self, account, day):
        rng = self.rng
        metric = LOGINS if rng.random() < SAME_FAMILY_SHARE else ACTIVE_USERS
        start = day - timedelta(days=int(rng.integers(10, 61)))
        end = min(start + timedelta(days=int(rng.integers(7, 21))), day - timedelta(days=1))
        self.add(
            account, metric, AnomalyType.SPIKE, Severity.INFO, start, end, rng.uniform(60, 180),
            actions=self._actions(
                ("explore_expansion", 0.8, "Expansion call with the new team lead"),
                ("send_congratulations", 0.3, ""),
            ),
            **self._csm_outcome("expanded", "New team onboarded"),
        )  # fmt: skip

    def feature_drop(self, account, last: date):
        """Two days, deep enough for today's drop threshold but not for a longer minimum
        duration (what the demo's tuning proposal changes): mostly dismissed as false
        positives."""
        rng = self.rng
        features = [m for m in account.metrics if is_feature_metric(m)]
        start = self.day_between(self.first, last - timedelta(days=3))
        end = start + timedelta(days=1)
        draw = rng.random()
        fields = {}
        if draw < FEATURE_DROP_DISMISSED_FP:
            fields = {"status": "dismissed", "dismiss_reason": "false_positive"}
        elif draw < FEATURE_DROP_DISMISSED_FP + FEATURE_DROP_NEW_NORMAL:
            fields = {"status": "dismissed", "dismiss_reason": "new_normal"}
        severity = Severity.WARNING if rng.random() < 0.4 else Severity.INFO
        self.add(account, features[int(rng.integers(len(features)))], AnomalyType.DROP,
                 severity, start, end, -rng.uniform(45, 60), **fields)  # fmt: skip

    def idle_core_drop(self, account, last: date):
        rng = self.rng
        start = self.day_between(self.first, last - timedelta(days=7))
        end = start + timedelta(days=int(rng.integers(2, 6)))
        draw = rng.random()
        if draw < 0.35:
            fields = {"status": "dismissed", "dismiss_reason": "data_issue",
                      "dismiss_note": "Pipeline outage at the customer"}  # fmt: skip
        elif draw < 0.6:
            fields = {"status": "dismissed", "dismiss_reason": "expected",
                      "dismiss_note": "Planned migration"}  # fmt: skip
        else:
            fields = {"outcome": "no_impact", "outcome_note": "Back to normal within a week",
                      "actions": self._actions(("investigate", 1.0, ""))}  # fmt: skip
        metric = (
            API_CALLS if rng.random() < SAME_FAMILY_SHARE else (LOGINS, ACTIVE_USERS)[draw < 0.5]
        )
        severity = Severity.CRITICAL if metric == API_CALLS else Severity.WARNING
        self.add(account, metric, AnomalyType.DROP, severity, start, end,
                 -rng.uniform(35, 55), **fields)  # fmt: skip

    def idle_spike(self, account, last: date):
        rng = self.rng
        start = self.day_between(self.first, last - timedelta(days=7))
        end = start + timedelta(days=int(rng.integers(2, 6)))
        fields = (
            {"outcome": "no_impact", "outcome_note": "A one-off import"}
            if rng.random() < 0.5
            else {
                "status": "dismissed",
                "dismiss_reason": "expected",
                "dismiss_note": "Launch week",
            }
        )
        metric = LOGINS if rng.random() < SAME_FAMILY_SHARE else API_CALLS
        self.add(account, metric, AnomalyType.SPIKE, Severity.INFO, start, end,
                 rng.uniform(50, 120), **fields)  # fmt: skip

    def _actions(self, *options) -> tuple[tuple[str, int, str], ...]:
        return tuple(
            (kind, int(self.rng.integers(1, 6)), note)
            for kind, share, note in options
            if self.rng.random() < share
        )
