"""The bounds every usage entry point applies (CSV import, POST /api/usage/, the ingest task,
admin), read from the settings and the server's clock in one place.

`customers.ingest` is pure and takes the bounds as an argument; the model validators below
give admin's forms the same rules and the same words.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .ingest import UsageLimits, parse_date, parse_value


def usage_limits(*, today: dt.date | None = None) -> UsageLimits:
    """Values up to USAGE_VALUE_MAX; dates from USAGE_FIRST_DATE to tomorrow in the server's
    time zone (an account a day ahead of UTC reports "today" before we do)."""
    today = today or timezone.localdate()
    return UsageLimits(
        max_value=settings.USAGE_VALUE_MAX,
        first_date=settings.USAGE_FIRST_DATE,
        last_date=today + dt.timedelta(days=1),
    )


def validate_usage_value(value) -> None:
    if value is None:
        return
    _, message = parse_value(value, limits=usage_limits())
    if message:
        raise ValidationError(message, code="usage_value")


def validate_usage_date(value) -> None:
    if value is None:
        return
    _, message = parse_date(value.isoformat(), limits=usage_limits())
    if message:
        raise ValidationError(message, code="usage_date")


def validate_holiday_calendar(value: str) -> None:
    """A calendar the engine knows ("US", "DE-BY"), or empty."""
    if not value:
        return
    from anomalies.detection.calendar import country_problem

    message = country_problem(value)
    if message:
        raise ValidationError(message, code="holiday_calendar")


def validate_cohort_name(value: str) -> None:
    """A region or a segment: free text, but never the separator of the engine's cohort
    labels ("region:emea|segment:smb"), which would split one name into two cohorts."""
    from anomalies.detection.cohorts import COHORT_SEPARATOR

    if COHORT_SEPARATOR in value:
        raise ValidationError(
            f'must not contain "{COHORT_SEPARATOR}": it separates cohort labels',
            code="cohort_name",
        )
