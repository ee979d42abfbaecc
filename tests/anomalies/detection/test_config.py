"""Sensitivity presets and the config's validation."""

import re
from dataclasses import FrozenInstanceError, fields

import pytest

from anomalies.detection import DetectionConfig, preset
from anomalies.detection.config import PER_SERIES_FIELDS, PRESET_NAMES, SHARED_FIELDS


# Every per-series threshold makes detection stricter as it grows.
@pytest.mark.parametrize("field", PER_SERIES_FIELDS)
def test_low_is_stricter_than_medium_is_stricter_than_high(field):
    low, medium, high = (getattr(preset(name), field) for name in ("low", "medium", "high"))

    assert low >= medium >= high
    assert low > high


def test_medium_is_the_default():
    assert preset("medium") == DetectionConfig()
    assert DetectionConfig().sensitivity == "medium"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("low", (4.5, 50.0, 100.0, 3, 20.0)),
        ("medium", (3.5, 30.0, 50.0, 2, 10.0)),
        ("high", (3.0, 20.0, 30.0, 2, 5.0)),
    ],
)
def test_preset_thresholds(name, expected):
    config = preset(name)

    assert config.sensitivity == name
    assert tuple(getattr(config, f) for f in PER_SERIES_FIELDS) == expected


def test_presets_share_the_statistical_fields():
    low, medium, high = (preset(name) for name in PRESET_NAMES)

    for name in SHARED_FIELDS:
        assert getattr(low, name) == getattr(medium, name) == getattr(high, name), name


def test_fields_are_split_into_per_series_and_shared():
    names = {f.name for f in fields(DetectionConfig)}

    assert set(PER_SERIES_FIELDS) | set(SHARED_FIELDS) | {"sensitivity"} == names
    assert not set(PER_SERIES_FIELDS) & set(SHARED_FIELDS)


def test_preset_overrides():
    config = preset("high", drop_percent=40.0, min_volume=None)

    assert config.drop_percent == 40.0
    assert config.min_volume == preset("high").min_volume  # None keeps the preset's
    assert config.sensitivity == "high"


def test_with_overrides_returns_a_new_config():
    base = preset("medium")

    changed = base.with_overrides(z_threshold=5.0, spike_percent=None)

    assert (changed.z_threshold, changed.spike_percent) == (5.0, base.spike_percent)
    assert base.z_threshold == 3.5
    assert base.with_overrides() == base


def test_with_overrides_validates():
    with pytest.raises(ValueError, match="DetectionConfig.drop_percent must be between 0 and 100"):
        preset("medium").with_overrides(drop_percent=120.0)


def test_config_is_frozen():
    with pytest.raises(FrozenInstanceError):
        preset("medium").z_threshold = 1.0


def test_unknown_preset():
    with pytest.raises(
        ValueError, match="unknown sensitivity 'extreme': use one of low, medium, high"
    ):
        preset("extreme")


def test_unknown_override_field():
    with pytest.raises(TypeError, match="sensitivty"):
        preset("medium", sensitivty="low")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sensitivity": "max"}, "sensitivity must be one of low, medium, high, got 'max'"),
        ({"z_threshold": 0}, "z_threshold must be > 0, got 0"),
        ({"z_threshold": -1.0}, "z_threshold must be > 0, got -1.0"),
        ({"drop_percent": 0}, "drop_percent must be between 0 and 100, got 0"),
        ({"drop_percent": 100}, "drop_percent must be between 0 and 100, got 100"),
        ({"spike_percent": 0}, "spike_percent must be > 0, got 0"),
        ({"min_duration_days": 0}, "min_duration_days must be >= 1, got 0"),
        ({"min_volume": -1}, "min_volume must be >= 0, got -1"),
        ({"window_days": 21}, "window_days must be a multiple of 7, at least 28, got 21"),
        ({"window_days": 30}, "window_days must be a multiple of 7, at least 28, got 30"),
        ({"iqr_k": 0}, "iqr_k must be > 0, got 0"),
        ({"min_points": 2}, "min_points must be >= 3, got 2"),
        ({"min_history_days": 5}, "min_history_days must be >= min_points, got 5"),
        ({"cold_start_z_factor": 0.9}, "cold_start_z_factor must be >= 1, got 0.9"),
        ({"pattern_horizon_days": 2}, "pattern_horizon_days must be > min_duration_days, got 2"),
        ({"level_lookback_days": 13}, "level_lookback_days must be >= 14, got 13"),
        ({"recovery_days": 0}, "recovery_days must be >= 1, got 0"),
        ({"abandonment_ratio": 1}, "abandonment_ratio must be between 0 and 1, got 1"),
        ({"abandonment_ratio": 0}, "abandonment_ratio must be between 0 and 1, got 0"),
        ({"abandonment_min_days": 0}, "abandonment_min_days must be >= 1, got 0"),
        ({"replay_days": 20}, "replay_days must be >= pattern_horizon_days, got 20"),
        ({"outage_share": 0}, "outage_share must be between 0 and 1, got 0"),
        ({"outage_share": 1.5}, "outage_share must be between 0 and 1, got 1.5"),
        ({"outage_min_accounts": 1}, "outage_min_accounts must be >= 2, got 1"),
        ({"scale_refresh_days": 0}, "scale_refresh_days must be >= 1, got 0"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else None,
)
def test_validation_names_the_field(overrides, message):
    with pytest.raises(ValueError, match=f"^{re.escape('DetectionConfig.' + message)}$"):
        DetectionConfig(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"outage_share": 1.0},
        {"drop_percent": 99.9},
        {"min_volume": 0},
        {"window_days": 28, "replay_days": 28},
        {"holiday_country": None},
        {"holiday_country": "DE"},
    ],
)
def test_valid_edges(overrides):
    DetectionConfig(**overrides)
