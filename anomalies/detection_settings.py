"""The detection settings in force for a set of series: which `DetectionSettings` rows apply to
each (customer, metric), merged into the engine's `DetectionConfig`.

The one place scopes are resolved: scans, the sensitivity preview, the anomaly API's chart
and the account page's charts all read their configs here. Reads only (a selector): one
query whatever the number of series.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Q

from .detection import DetectionConfig, preset
from .detection.config import PER_SERIES_FIELDS
from .detection.vocabulary import metric_family
from .models import DetectionSettings

# Nobody saved a sensitivity for any scope of the series: the engine's default preset.
DEFAULT_SENSITIVITY = DetectionConfig().sensitivity


@dataclass(frozen=True)
class SettingsScope:
    """Who a settings row applies to: a customer (its id as a string) or every customer
    (None), and a metric or every metric ("")."""

    customer_id: str | None
    metric: str


@dataclass(frozen=True)
class ConfigInForce:
    """A series' config and where it came from: `sources` maps "sensitivity" and each
    threshold a CSM tunes (`PER_SERIES_FIELDS`) to the scope whose row set it, or to None
    where nobody did (the default preset, or the preset's own threshold)."""

    config: DetectionConfig
    sources: Mapping[str, SettingsScope | None]

    def values(self) -> dict[str, ValueInForce]:
        """The sensitivity and each threshold a CSM tunes, with the scope that set it."""
        return {
            name: ValueInForce(value=getattr(self.config, name), source=source)
            for name, source in self.sources.items()
        }


@dataclass(frozen=True)
class ValueInForce:
    """One setting in force: its value and the scope whose row set it (None: nobody did, so
    it is the preset's; for the sensitivity, the default preset)."""

    value: str | float | int
    source: SettingsScope | None


def detection_config_for_series(
    *, series: Iterable[tuple[object, str]], override: DetectionSettings | None = None
) -> list[ConfigInForce]:
    """Each series' config, in the order given: `series` holds (customer id, metric) pairs.

    The sensitivity comes from the most specific scope with a row (customer and metric,
    customer, metric, global; the default preset without one), its preset's thresholds
    apply, and each explicit threshold on top comes from the most specific row that sets it.

    `override` is an unsaved row: what the settings would be if it were saved (it takes the
    place of its scope's row, or adds that scope). The preview asks this.
    """
    scopes = [SettingsScope(str(customer), metric) for customer, metric in series]
    return detection_config_for_scopes(scopes=scopes, override=override)


def detection_config_for_scopes(
    *, scopes: Iterable[SettingsScope], override: DetectionSettings | None = None
) -> list[ConfigInForce]:
    """The config in force at each scope, in the order given: a series' scope (a customer
    and a metric) or a broader one, whose config is what a series it covers gets when no
    narrower row applies (a customer's scope: its row, then the global one). The sensitivity
    page and the settings API show these; `override` as in detection_config_for_series."""
    scopes = list(scopes)
    if not scopes:
        return []
    customer_ids = sorted({s.customer_id for s in scopes if s.customer_id is not None})
    rows = DetectionSettings.objects.filter(
        Q(customer__isnull=True) | Q(customer_id__in=customer_ids)
    )
    by_scope = {settings_scope_of(row): row for row in rows}
    if override is not None:
        by_scope[settings_scope_of(override)] = override
    # Series of one customer share their customer's rows, and most customers have none: a
    # portfolio needs a handful of merges, not one per series.
    merged: dict[tuple[SettingsScope, ...], ConfigInForce] = {}
    configs = []
    for scope in scopes:
        found = tuple(candidate for candidate in _broader(scope) if candidate in by_scope)
        if found not in merged:
            merged[found] = _merge([(candidate, by_scope[candidate]) for candidate in found])
        configs.append(merged[found])
    return configs


# A scan asks for every series' key, and few distinct configs exist: each is digested once.
@functools.lru_cache(maxsize=1024)
def config_key(config: DetectionConfig) -> str:
    """A short digest of a config: equal for equal settings, so an anomaly can remember the
    settings it was last reported under (UsageAnomaly.settings_key)."""
    # The dataclass's repr names every field with its value, in declaration order.
    return hashlib.sha256(repr(config).encode()).hexdigest()[:16]


def detection_config_for_scope(*, metric: str) -> ConfigInForce:
    """The config every customer gets on `metric` (a metric, a family such as `feature:*`,
    or "" for all metrics) from the rows that are not a customer's: that scope's row, the
    family's, then the global one. What a tuning proposal reads its "from" values in."""
    return detection_config_for_scopes(scopes=[SettingsScope(None, metric)])[0]


def _broader(scope: SettingsScope) -> tuple[SettingsScope, ...]:
    """The scopes whose rows apply at `scope`, most specific first: customer and metric,
    customer, metric, the metric's family, global."""
    customer, metric = scope.customer_id, scope.metric
    candidates = (
        *((SettingsScope(customer, metric), SettingsScope(customer, "")) if customer else ()),
        SettingsScope(None, metric),
        # A family's row (`feature:*`, written by accepted tuning proposals) sits between
        # the metric's own row and the global one.
        SettingsScope(None, metric_family(metric)),
        SettingsScope(None, ""),
    )
    # dict.fromkeys: a metric that is its own family is one scope, not two.
    return tuple(dict.fromkeys(candidates))


def settings_scope_of(row: DetectionSettings) -> SettingsScope:
    """The scope a settings row (saved or not) applies to."""
    return SettingsScope(str(row.customer_id) if row.customer_id else None, row.metric)


def _merge(scoped_rows: list[tuple[SettingsScope, DetectionSettings]]) -> ConfigInForce:
    """Rows most specific first: the first row's sensitivity, then field by field the first
    row that sets a threshold."""
    sources: dict[str, SettingsScope | None] = dict.fromkeys(
        ("sensitivity", *PER_SERIES_FIELDS), None
    )
    sensitivity = DEFAULT_SENSITIVITY
    if scoped_rows:
        sources["sensitivity"], first = scoped_rows[0]
        sensitivity = first.sensitivity
    thresholds = {}
    for field in PER_SERIES_FIELDS:
        for scope, row in scoped_rows:
            # The model's columns carry the engine's field names.
            value = getattr(row, field)
            if value is not None:
                thresholds[field] = value
                sources[field] = scope
                break
    return ConfigInForce(config=preset(sensitivity, **thresholds), sources=sources)
