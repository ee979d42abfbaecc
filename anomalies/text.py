"""How an anomaly reads to a person: one sentence, the same in risk signals, notifications,
the API summary and the pages."""

from __future__ import annotations

import datetime as dt
import functools
import re
from urllib.parse import quote

import holidays
from django.utils import timezone

from customers.metrics import metric_label

from .detection.calendar import split_country
from .detection.config import DetectionConfig
from .detection.patterns import TREND_PROJECTION_DAYS
from .detection.vocabulary import FEATURE_FAMILY, AnomalyType, feature_name, is_feature_metric


def anomaly_sentence(*, anomaly_type: str, metric: str, deviation_percent: float) -> str:
    """'67% drop in API calls', 'Feature abandonment: Reports module -80%',
    '150% increase in logins'."""
    kind = AnomalyType(anomaly_type)
    pct = abs(round(float(deviation_percent)))
    lower = _in_sentence(metric_label(metric))
    if kind == AnomalyType.FEATURE_ABANDONMENT:
        return f"{kind.label}: {feature_name(metric)} module -{pct}%"
    if kind == AnomalyType.DROP:
        return f"{pct}% drop in {lower}"
    if kind == AnomalyType.SPIKE:
        return f"{pct}% increase in {lower}"
    if kind == AnomalyType.GRADUAL_DECLINE:
        return f"{kind.label} in {lower}: down {pct}% so far"
    # Pattern changes, seasonal deviations: either way.
    direction = "down" if deviation_percent < 0 else "up"
    return f"{kind.label} in {lower}: {direction} {pct}%"


def _in_sentence(label: str) -> str:
    """A metric's label inside a sentence: 'logins', 'reports feature', but 'API calls'."""
    return label if label.startswith("API") else label[:1].lower() + label[1:]


def suppression_note(*, suppressed_at: dt.datetime | None) -> str:
    """Why a `suppressed_by_settings` anomaly is neither open nor over ('' for any other)."""
    if suppressed_at is None:
        return ""
    return (
        f"Stopped qualifying after a settings change on {_day_text(suppressed_at)}: its usage "
        "is still outside the normal range, so it is not counted as recovered. It opens again "
        "if the settings change back."
    )


def _day_text(moment: dt.datetime) -> str:
    """'May 20, 2025': the local day of an aware datetime."""
    day = timezone.localdate(moment)
    return f"{day:%b} {day.day}, {day.year}"


def evidence_explanation(*, metric: str, evidence_factor: float) -> str:
    """Why this account needed more (or less) evidence than configured, from its learned
    evidence factor (detection.learned): "This account's API calls are usually volatile:
    1.6× the usual evidence was required." "" when the factor is 1 (to two digits)."""
    factor = round(float(evidence_factor), 1)
    if abs(float(evidence_factor) - 1.0) < 0.005:
        return ""
    label = metric_label(metric)
    lower = _in_sentence(label)
    # "API calls are", "Reports feature usage is".
    subject, verb = (f"{label} usage", "is") if is_feature_metric(metric) else (lower, "are")
    if evidence_factor > 1:
        return (
            f"This account's {subject} {verb} usually volatile: {factor:g}× the usual "
            "evidence was required."
        )
    return (
        f"Past alerts on this account's {subject} mattered: {factor:g}× the usual evidence "
        "was enough."
    )


def projection_text(*, anomaly_type: str, projected_value) -> str:
    """'about 1,234/day in 4 weeks': where a gradual decline is heading at its current pace
    (the engine projects it TREND_PROJECTION_DAYS ahead); "" for anything else."""
    if anomaly_type != AnomalyType.GRADUAL_DECLINE or projected_value is None:
        return ""
    weeks = TREND_PROJECTION_DAYS // 7
    return f"about {float(projected_value):,.0f}/day in {weeks} week{'s' if weeks != 1 else ''}"


def settings_metric_label(metric: str) -> str:
    """A settings scope's metric: "All metrics", "All features" (the feature family's scope)
    or the metric's own label."""
    if not metric:
        return "All metrics"
    if metric == FEATURE_FAMILY:
        return "All features"
    return metric_label(metric)


def settings_scope_label(*, customer_name: str | None, metric: str) -> str:
    """A settings scope as a person reads it: "global", "API calls" (every customer's),
    "All features", "Acme" (every metric of one account), "Acme, API calls". `customer_name`
    is None for a scope of every customer."""
    if customer_name is None:
        return settings_metric_label(metric) if metric else "global"
    return f"{customer_name}, {settings_metric_label(metric)}" if metric else customer_name


def settings_source_label(*, source, customer_name: str, sensitivity: str, field: str) -> str:
    """Where a setting in force comes from (`source`: the SettingsScope whose row set it, or
    None for the preset), as the sensitivity page's placeholders and the settings API say it:
    "preset 'high'", "default preset", or the scope (settings_scope_label).
    `customer_name` names the source's customer, if it has one."""
    if source is None:
        return "default preset" if field == "sensitivity" else f"preset '{sensitivity}'"
    return settings_scope_label(
        customer_name=customer_name if source.customer_id else None, metric=source.metric
    )


def anomaly_summary_line(*, anomaly, today: dt.date) -> str:
    """One line of the answer to 'Are there any usage anomalies for <customer>?' (the API's
    summary and the portfolio's ask box): '67% drop in API calls for 5 days, baseline
    45,000/day, now 15,000/day; possible cause: ...'. A running anomaly lasts until `today`."""
    last = anomaly.end_date or today
    days = max((last - anomaly.start_date).days + 1, 1)
    sentence = anomaly_sentence(
        anomaly_type=anomaly.anomaly_type,
        metric=anomaly.metric_type,
        deviation_percent=float(anomaly.deviation_percent),
    )
    line = (
        f"{sentence} for {days} day{'s' if days != 1 else ''}, "
        f"baseline {float(anomaly.baseline_value):,.0f}/day, "
        f"now {float(anomaly.actual_value):,.0f}/day"
    )
    projection = projection_text(
        anomaly_type=anomaly.anomaly_type, projected_value=anomaly.projected_value
    )
    if projection:
        line += f"; at this pace {projection}"
    if anomaly.possible_cause:
        line += f"; possible cause: {anomaly.possible_cause}"
    if anomaly.suppressed_at is not None:
        line += f"; suppressed by a settings change on {_day_text(anomaly.suppressed_at)}"
    return line


def holiday_name(*, calendar: str, day: dt.date) -> str:
    """The public holiday `day` is in an account's calendar ("Thanksgiving Day"; "" for the
    default calendar's when `calendar` is empty), or "" on an ordinary day. A drop the engine
    reports from a holiday says so: the holiday began it, the days after it stayed low."""
    return _holidays(calendar or DetectionConfig().holiday_country or "", day.year).get(day, "")


@functools.lru_cache(maxsize=64)
def _holidays(calendar: str, year: int) -> dict[dt.date, str]:
    if not calendar:
        return {}
    code, subdivision = split_country(calendar)
    try:
        days = holidays.country_holidays(code, subdiv=subdivision, years=year, language="en_US")
    except NotImplementedError:  # a calendar the model's validator would refuse
        return {}
    return dict(days)


# How the ask box's question can name the whole portfolio rather than one account.
PORTFOLIO_PHRASES = frozenset(
    {
        "my accounts",
        "all my accounts",
        "my portfolio",
        "all accounts",
        "all my customers",
        "my customers",
        "all customers",
        "my book",
        "portfolio",
        "everyone",
    }
)
# The question's own words, when someone types all of it: "Are there any usage anomalies
# for Beacon?" asks about "Beacon".
_QUESTION_PREFIX = re.compile(
    r"^\s*(?:are|is)\s+there\s+(?:any\s+|an\s+)?(?:usage\s+)?anomal(?:y|ies)\s+(?:for|in|on|with)\s+",
    re.IGNORECASE,
)


def ask_subject(question: str) -> str:
    """Who the ask box's question is about: an account's name (or id), or "" for the whole
    portfolio ("my accounts", "all accounts", the brief's full question, or nothing named)."""
    subject = _QUESTION_PREFIX.sub("", question).strip().rstrip("?.! ").strip()
    normalised = " ".join(subject.lower().replace("the ", " ").split())
    return "" if normalised in PORTFOLIO_PHRASES else subject


def contact_email(
    *,
    customer_name: str,
    anomaly_type: str,
    metric: str,
    deviation_percent: float,
    start_date: dt.date,
    end_date: dt.date | None,
    baseline: float,
    actual: float,
    holiday: str = "",
    sender: str = "",
) -> tuple[str, str]:
    """The subject and body of the "Contact customer" email: what happened, since when, and
    the usual level against now, in words the customer reads (no scores, no severities)."""
    sentence = anomaly_sentence(
        anomaly_type=anomaly_type, metric=metric, deviation_percent=deviation_percent
    )
    subject = f"Your {customer_name} account: {sentence}"
    since = f"{start_date:%B} {start_date.day}, {start_date.year}"
    if holiday:
        since += f" ({holiday})"
    if end_date is None:
        when = f"Since {since}"
    else:
        when = f"From {since} to {end_date:%B} {end_date.day}, {end_date.year}"
    lower = _in_sentence(metric_label(metric))
    body = "\n".join(
        [
            "Hello,",
            "",
            f"While looking at your {customer_name} account we noticed a change: {sentence}.",
            "",
            f"{when}, {lower} went from a usual {baseline:,.0f} per day to {actual:,.0f} per day.",
            "",
            "Is something changing on your side? We would be glad to hear about it, "
            "and to help if we can.",
            "",
            "Best regards,",
            sender,
        ]
    ).rstrip()
    return subject, body


def overdue_text(*, due_date: dt.date, today: dt.date) -> str:
    """'Overdue by 3 days' for a follow-up still open after its due day, else "": said in
    words, so the page does not rely on colour alone."""
    late = (today - due_date).days
    if late <= 0:
        return ""
    return f"Overdue by {late} day{'s' if late != 1 else ''}"


def mailto_url(*, to: str, subject: str, body: str) -> str:
    """A mailto: link (RFC 6068): every character outside the unreserved set percent-encoded
    (spaces as %20, not +; line breaks as %0D%0A), the address's @ kept; no address leaves the
    recipient for the CSM to fill in."""
    body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    query = f"subject={quote(subject, safe='')}&body={quote(body, safe='')}"
    return f"mailto:{quote(to, safe='@')}?{query}"
