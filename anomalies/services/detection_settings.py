"""Writes of the detection settings that the sensitivity page and the API edit."""

from __future__ import annotations

from django.db import transaction

from ..models import DetectionSettings


def settings_save(*, customer_id, metric: str, values: dict, user) -> DetectionSettings:
    """Create or update the settings row of one scope (customer or None, metric or "");
    thresholds left out or None fall back to the sensitivity preset."""
    fields = {
        "sensitivity": values["sensitivity"],
        "drop_percent": values.get("drop_percent"),
        "spike_percent": values.get("spike_percent"),
        "z_threshold": values.get("z_threshold"),
        "min_duration_days": values.get("min_duration_days"),
        "min_volume": values.get("min_volume"),
        "updated_by": user,
    }
    with transaction.atomic():
        row = (
            DetectionSettings.objects.select_for_update()
            .filter(customer_id=customer_id, metric=metric)
            .first()
        )
        if row is None:
            row = DetectionSettings(customer_id=customer_id, metric=metric)
        for key, value in fields.items():
            setattr(row, key, value)
        row.save()
    return row


def settings_delete(*, customer_id, metric: str) -> bool:
    """Remove the settings row of one scope: its series fall back to the broader scopes.
    False when the scope had no row of its own (nothing was removed)."""
    deleted, _ = DetectionSettings.objects.filter(customer_id=customer_id, metric=metric).delete()
    return deleted > 0
