"""Small helpers for model choices: members built from the engine's vocabulary, and the
database constraints that hold a field to them, so a row written by raw SQL, a bulk upsert or
a future service cannot hold a value the application does not know."""

from enum import StrEnum

from django.db import models


def choice_members(words: type[StrEnum], labels=None) -> list[tuple[str, tuple[str, str]]]:
    """The members of a `TextChoices` copy of a vocabulary enum, for Django's functional API:
    `models.TextChoices("Severity", choice_members(vocabulary.Severity))`. The label is the
    word's own, or `labels[word]` where a field reads it differently."""
    return [(w.name, (w.value, labels[w] if labels else w.label)) for w in words]


def choices_constraint(
    field: str, choices: type[models.TextChoices], *, name: str, blank: bool = False
):
    """A CHECK constraint that `field` holds one of `choices`, or "" too when `blank` (a
    choice not made yet: no dismissal reason, no closing outcome)."""
    condition = models.Q(**{f"{field}__in": choices.values})
    if blank:
        condition = models.Q(**{field: ""}) | condition
    return models.CheckConstraint(condition=condition, name=name)
