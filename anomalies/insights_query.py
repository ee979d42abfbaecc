"""The query of the insights report, parsed once for the page, its CSV and the API: a period,
a CSM's portfolio (staff only) and, for precision, a grouping.

A Django form, so the page shows its errors beside the fields and the API answers them as a
400 naming each field (`InsightsQueryForm.errors` is {field: [messages]}).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth import get_user_model

from .selectors_insights import PRECISION_GROUPINGS, insights_scope, outcome_window_days

# The default period: a year of anomalies whose outcome window has closed, so their rates are
# final ("followed by churn within 90 days" cannot be known of last week's anomaly).
DEFAULT_PERIOD_DAYS = 365
# Bounds that keep the report's work and date arithmetic finite: five years at most, and no
# date before the product existed or more than a year ahead.
MAX_PERIOD_DAYS = 5 * 366
EARLIEST = dt.date(2000, 1, 1)
LATEST_AHEAD_DAYS = 366
PERIODS = ("week",)


class InsightsQueryForm(forms.Form):
    start = forms.DateField(required=False, help_text="First start date counted (YYYY-MM-DD).")
    end = forms.DateField(required=False, help_text="Last start date counted (YYYY-MM-DD).")
    csm = forms.ModelChoiceField(queryset=None, required=False, empty_label="Everyone")
    by = forms.ChoiceField(
        required=False, choices=[(g, g.capitalize()) for g in PRECISION_GROUPINGS]
    )
    period = forms.ChoiceField(required=False, choices=[(p, p) for p in PERIODS])

    def __init__(self, data=None, *, user, today: dt.date, window_days: int):
        super().__init__(data)
        self.today = today
        self.window_days = window_days
        users = get_user_model().objects.order_by("first_name", "last_name", "username")
        # A CSM's own portfolio is all they can see: any other id is an unknown choice, so the
        # answer never tells whether that user exists.
        self.fields["csm"].queryset = (
            users.filter(customers__isnull=False).distinct()
            if user.is_staff
            else users.filter(pk=user.pk)
        )
        self.fields["csm"].label_from_instance = lambda u: u.get_full_name() or u.username

    def default_end(self) -> dt.date:
        return self.today - dt.timedelta(days=self.window_days)

    def clean(self):
        data = super().clean()
        latest = self.today + dt.timedelta(days=LATEST_AHEAD_DAYS)
        for name in ("start", "end"):
            value = data.get(name)
            if value is not None and not EARLIEST <= value <= latest:
                self.add_error(name, f"must be between {EARLIEST} and {latest}")
        if self.errors:
            return data
        end = data.get("end") or self.default_end()
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if start > end:
            if data.get("end"):
                self.add_error("end", "must be on or after start")
            else:
                self.add_error("start", f"must be on or before end (by default {end})")
        elif (end - start).days + 1 > MAX_PERIOD_DAYS:
            self.add_error("start", f"the period may span at most {MAX_PERIOD_DAYS} days")
        data["start"], data["end"] = start, end
        data["by"] = data.get("by") or PRECISION_GROUPINGS[0]
        data["period"] = data.get("period") or PERIODS[0]
        return data


def insights_query_parse(*, data, user, today: dt.date):
    """(the bound form, its cleaned data with the scope's customers as "customers") or
    (the form, None) when a field is invalid: the page, its CSV and the API all ask this."""
    form = InsightsQueryForm(data, user=user, today=today, window_days=outcome_window_days())
    if not form.is_valid():
        return form, None
    query = form.cleaned_data
    return form, query | {"customers": insights_scope(user=user, csm=query["csm"])}
