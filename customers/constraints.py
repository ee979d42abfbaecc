"""Small helpers that turn model choices into database constraints, so a row written by raw
SQL, a bulk upsert or a future service cannot hold a value the application does not know."""

from django.db import models


def choices_constraint(field: str, choices: type[models.TextChoices], *, name: str):
    """A CHECK constraint that `field` holds one of `choices` (blank allowed only if listed)."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=name)
