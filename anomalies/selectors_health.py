"""Reads for the health dashboard: accounts' latest usage health score and its change, one
account's score history, and its risk signals. Each is one query whatever the number of
accounts or days; the caller has already checked the user may see the accounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, OuterRef, Subquery

from customers.models import Customer, HealthScoreHistory, RiskSignal

# "Change" on the pages: the latest score against the latest one at least this long ago.
HEALTH_CHANGE_DAYS = 30
# How far back the customer page's chart goes.
HEALTH_TREND_DAYS = 90
# Risk signals the customer page lists: the open ones first, then the latest resolved.
SIGNALS_SHOWN = 30


@dataclass(frozen=True)
class HealthSummary:
    score: int
    date: dt.date
    # The score HEALTH_CHANGE_DAYS ago (the latest on or before that day), if there is one.
    before: int | None

    @property
    def change(self) -> int | None:
        return None if self.before is None else self.score - self.before

    @property
    def change_size(self) -> int | None:
        """The change without its sign (the pages show the sign as an arrow)."""
        return None if self.before is None else abs(self.score - self.before)


def health_summaries(*, customer_ids: Iterable, today: dt.date) -> dict:
    """{customer id: HealthSummary} for the given accounts that have a score, in one query."""
    ids = list(customer_ids)
    if not ids:
        return {}
    of_customer = HealthScoreHistory.objects.filter(customer=OuterRef("pk"))
    latest = of_customer.order_by("-date")
    before = of_customer.filter(date__lte=today - dt.timedelta(days=HEALTH_CHANGE_DAYS)).order_by(
        "-date"
    )
    rows = (
        Customer.objects.filter(pk__in=ids)
        .annotate(
            health_score=Subquery(latest.values("score")[:1]),
            health_date=Subquery(latest.values("date")[:1]),
            health_before=Subquery(before.values("score")[:1]),
        )
        .filter(health_score__isnull=False)
        .values_list("pk", "health_score", "health_date", "health_before")
    )
    # A latest score that is itself that old has no change to show (an account no scan
    # reaches any more): comparing it with an older one would be a change of no known period.
    since = today - dt.timedelta(days=HEALTH_CHANGE_DAYS)
    return {
        pk: HealthSummary(score, date, prior if date > since else None)
        for pk, score, date, prior in rows
    }


def health_history(*, customer: Customer, first: dt.date, last: dt.date) -> list[tuple]:
    """(date, score, usage_component) of the account from first to last, oldest first."""
    return list(
        HealthScoreHistory.objects.filter(customer=customer, date__range=(first, last))
        .order_by("date")
        .values_list("date", "score", "usage_component")
    )


def risk_signal_list_for_customer(*, customer: Customer) -> list[RiskSignal]:
    """The account's open risk signals (newest first), then its latest resolved ones; at most
    SIGNALS_SHOWN."""
    return list(
        RiskSignal.objects.filter(customer=customer)
        .order_by(F("resolved_at").desc(nulls_first=True), "-created_at")
        .only("kind", "severity", "title", "created_at", "resolved_at", "anomaly_id")[
            :SIGNALS_SHOWN
        ]
    )
