"""Forms of the anomalies pages and admin: parsing and range checks only, no business rules.

The ranges are the settings API's (anomalies.api.SettingsApi.InputSerializer): a threshold a
page accepts must be one the API accepts, and the other way round.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.validators import NOTE_MAX_LENGTH, NOTE_VALIDATORS

from .detection.vocabulary import FEATURE_FAMILY
from .models import ActionKind, ClosingOutcome, DismissReason, Outcome, Sensitivity
from .services.followups import due_date_error
from .text import settings_metric_label


class SettingsScopeForm(forms.Form):
    """One settings scope. `customers` is what the user may choose from (their own accounts,
    or every account for staff): another CSM's account fails as an unknown choice, so the
    answer never tells whether it exists. `allow_global`: staff may choose the global scope
    (no customer); a CSM's form offers only their accounts. `metrics`: the metric slugs
    offered besides every metric and the feature family (selectors.settings_metric_choices),
    each shown by its label."""

    customer = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All customers (global)"
    )
    metric = forms.ChoiceField(
        required=False,
        choices=(),
        error_messages={
            "invalid_choice": "%(value)s is not a metric of your accounts: "
            "choose one from the list."
        },
    )

    def __init__(self, *args, customers, metrics, allow_global: bool, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["customer"]
        field.queryset = customers
        if not allow_global:
            # A CSM may only change their own accounts: the form opens on the first of them,
            # not on the staff-only global scope. An empty value still reaches the view (and
            # its 403), so a hand-made post is refused the same way as through the API.
            field.empty_label = None
            field.initial = customers.first()
        # The feature family is a scope of its own (tuning proposals write it), not a slug.
        self.fields["metric"].choices = [
            (metric, settings_metric_label(metric)) for metric in ("", FEATURE_FAMILY, *metrics)
        ]

    def scope(self) -> tuple:
        """The (customer or None, metric) chosen, once the form is valid."""
        return self.cleaned_data["customer"], self.cleaned_data["metric"]


class SettingsForm(SettingsScopeForm):
    """A scope and its values."""

    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.MEDIUM)
    drop_percent = forms.FloatField(required=False, min_value=0.1, max_value=99.9)
    spike_percent = forms.FloatField(required=False, min_value=0.1, max_value=10_000)
    min_duration_days = forms.IntegerField(required=False, min_value=1, max_value=90)
    min_volume = forms.FloatField(required=False, min_value=0, max_value=1e12)
    z_threshold = forms.FloatField(required=False, min_value=0.5, max_value=50)

    THRESHOLDS = ("drop_percent", "spike_percent", "z_threshold", "min_duration_days", "min_volume")

    def values(self) -> dict:
        """What services.settings_save takes: the sensitivity and explicit thresholds."""
        return {
            "sensitivity": self.cleaned_data["sensitivity"],
            **{name: self.cleaned_data[name] for name in self.THRESHOLDS},
        }

    def show_in_force(self, texts: dict[str, str]) -> None:
        """What an empty threshold means at the chosen scope (`texts` by field, such as
        "preset 'high': 20"), as its placeholder and help text."""
        for name, text in texts.items():
            field = self.fields[name]
            field.widget.attrs["placeholder"] = text
            field.help_text = f"Empty: {text}"
            # A bound field copies its help text when first made (validation makes them).
            self[name].help_text = field.help_text


class DismissForm(forms.Form):
    """The reason, note and date of a dismissal (the dismiss API's rules)."""

    reason = forms.ChoiceField(choices=DismissReason.choices)
    note = forms.CharField(
        required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
    until = forms.DateField(
        required=False,
        help_text="Only for 'expected': suppress these series and types until this day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("until") and data.get("reason") != DismissReason.EXPECTED:
            self.add_error("until", "Only an 'expected' dismissal takes an until date.")
        return data


class OutcomeForm(forms.Form):
    """What the anomaly led to, as the CSM sees it (the outcome API's rules)."""

    outcome = forms.ChoiceField(choices=Outcome.choices)
    note = forms.CharField(
        required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class ActionForm(forms.Form):
    """An action button on a portfolio card (`kinds`: the ones a card offers) and its note."""

    kind = forms.ChoiceField(choices=())
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH)

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (kind.value, kind.label) for kind in ActionKind if kind in kinds
        ]


class TuningDecisionForm(forms.Form):
    """Accept or reject a tuning proposal, and why (the reason is part of the record)."""

    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    reason = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        validators=NOTE_VALIDATORS,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why: the reason is kept with the settings' history."},
    )


class TuningRevertForm(forms.Form):
    reason = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        validators=NOTE_VALIDATORS,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why the change is reverted."},
    )


class FollowUpCloseForm(forms.Form):
    """Close a follow-up: done, with what it led to (which becomes the anomaly's outcome
    unless 'No change'), or cancelled (nothing was done; no outcome asked)."""

    DONE, CANCEL = "done", "cancel"

    action = forms.ChoiceField(choices=[(DONE, "Done"), (CANCEL, "Cancel the follow-up")])
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "Choose…"), *ClosingOutcome.choices],
        label="What did it lead to?",
    )
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX_LENGTH,
        validators=NOTE_VALIDATORS,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == self.DONE and not data.get("outcome"):
            self.add_error(
                "outcome", "Say what it led to (or 'No change' to leave the anomaly's outcome)."
            )
        if data.get("action") == self.CANCEL:
            data["outcome"] = ""
        return data


class FollowUpDueDateForm(forms.Form):
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean_due_date(self):
        due_date = self.cleaned_data["due_date"]
        if message := due_date_error(due_date, today=timezone.localdate()):
            raise ValidationError(message)
        return due_date
