"""The health dashboard's pieces for the customer page and the portfolio (no URL of its
own): the customer page's health panel, and the portfolio's orders."""

from __future__ import annotations

import datetime as dt

from django.utils.safestring import mark_safe

from ..charts import HEALTH_ZONES, health_chart_svg
from ..detection.health import BONUS_CAP, PENALTY_CAP, anomaly_points
from ..models import AnomalyStatus
from ..selectors_health import (
    HEALTH_CHANGE_DAYS,
    HEALTH_TREND_DAYS,
    health_history,
    health_summaries,
    risk_signal_list_for_customer,
)


def health_zone(score: int | None) -> str:
    """ "at risk", "watch" or "healthy" for a score; "" without one."""
    if score is None:
        return ""
    return next(name for low, _, _, name in reversed(HEALTH_ZONES) if score >= low)


def health_panel(*, customer, anomalies, today: dt.date) -> dict:
    """The customer page's health panel: the latest score and its change, the last 90 days
    as a chart, the open anomalies that move the score (each with its points), and the
    account's risk signals. Three queries; `anomalies` are the page's, already read."""
    summary = health_summaries(customer_ids=[customer.pk], today=today).get(customer.pk)
    first = today - dt.timedelta(days=HEALTH_TREND_DAYS - 1)
    scores = {
        day: score for day, score, _ in health_history(customer=customer, first=first, last=today)
    }
    dates = [first + dt.timedelta(days=i) for i in range(HEALTH_TREND_DAYS)]
    # No chart before the first score: the panel says one is coming.
    svg = scores and health_chart_svg(
        dates=dates,
        scores=[scores.get(day) for day in dates],
        title=f"Usage health, last {HEALTH_TREND_DAYS} days",
    )
    flagged = sorted(
        (
            {"anomaly": a, "points": anomaly_points(direction=a.direction, severity=a.severity)}
            for a in anomalies
            if a.status == AnomalyStatus.OPEN
        ),
        key=lambda row: row["points"],
    )
    penalty = -sum(row["points"] for row in flagged if row["points"] < 0)
    bonus = sum(row["points"] for row in flagged if row["points"] > 0)
    return {
        "summary": summary,
        "zone": health_zone(summary.score if summary else None),
        "change_days": HEALTH_CHANGE_DAYS,
        # Safe: health_chart_svg escapes every text it draws.
        "svg": mark_safe(svg) if svg else "",  # noqa: S308
        "flagged": flagged,
        "penalty": min(penalty, PENALTY_CAP),
        "penalty_capped": penalty > PENALTY_CAP,
        "bonus": min(bonus, BONUS_CAP),
        "bonus_capped": bonus > BONUS_CAP,
        "signals": risk_signal_list_for_customer(customer=customer),
    }


# ?sort= on the portfolio: the default keeps the worst anomaly first; the others reorder the
# cards by the account (the worst first: lowest health, largest ARR, soonest renewal; accounts
# without a value last). Python's sort is stable, so ties keep the default order.
PORTFOLIO_SORTS = {
    "severity": ("Worst anomaly", None),
    "health": (
        "Health",
        lambda card: (card["health"] is None, card["health"].score if card["health"] else 0),
    ),
    "arr": ("ARR", lambda card: -card["customer"].arr),
    "renewal": (
        "Renewal date",
        lambda card: (
            card["customer"].renewal_date is None,
            card["customer"].renewal_date or dt.date.min,
        ),
    ),
}
DEFAULT_SORT = "severity"


class UnknownSort(ValueError):
    pass


def portfolio_cards_health(cards: list[dict], *, sort: str, today: dt.date) -> list[dict]:
    """The cards with each account's health summary (one query), in the order `sort` names.
    Raises UnknownSort, with a message naming the field and its choices, for any other."""
    if sort not in PORTFOLIO_SORTS:
        raise UnknownSort(
            f"sort: {sort[:40]!r} is not an order of this page; "
            f"choose one of {', '.join(PORTFOLIO_SORTS)}."
        )
    summaries = health_summaries(customer_ids=[c["customer"].pk for c in cards], today=today)
    for card in cards:
        card["health"] = summaries.get(card["customer"].pk)
        card["health_zone"] = health_zone(card["health"].score if card["health"] else None)
    key = PORTFOLIO_SORTS[sort][1]
    return sorted(cards, key=key) if key else cards
