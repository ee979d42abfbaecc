"""The settings in force for a series: scope precedence field by field, an unsaved override,
and one query however many series."""

import pytest

from anomalies.detection import preset
from anomalies.detection_settings import SettingsScope, detection_config_for_series
from anomalies.models import DetectionSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(make_customer):
    return make_customer(name="Acme")


@pytest.fixture
def beta(make_customer):
    return make_customer(name="Beta")


@pytest.fixture
def four_scopes(acme):
    """A row on each scope, each setting something the less specific ones also set."""
    DetectionSettings.objects.create(sensitivity="low", drop_percent=40, min_volume=15)
    DetectionSettings.objects.create(metric="logins", sensitivity="high", spike_percent=80)
    DetectionSettings.objects.create(customer=acme, sensitivity="medium", z_threshold=4.2)
    DetectionSettings.objects.create(
        customer=acme, metric="logins", sensitivity="high", min_duration_days=4
    )


def scope(customer=None, metric=""):
    return SettingsScope(str(customer.pk) if customer else None, metric)


def test_without_settings_every_series_gets_the_medium_preset(acme):
    [resolved] = detection_config_for_series(series=[(acme.pk, "logins")])
    assert resolved.config == preset("medium")
    assert set(resolved.sources.values()) == {None}


@pytest.mark.usefixtures("four_scopes")
def test_the_most_specific_scope_wins_field_by_field(acme, beta):
    acme_logins, acme_api, beta_logins, beta_api = detection_config_for_series(
        series=[
            (acme.pk, "logins"),
            (acme.pk, "api_calls"),
            (beta.pk, "logins"),
            (beta.pk, "api_calls"),
        ]
    )

    # Every field from a different scope.
    assert acme_logins.config == preset(
        "high",
        min_duration_days=4,
        z_threshold=4.2,
        spike_percent=80,
        drop_percent=40,
        min_volume=15,
    )
    assert acme_logins.sources == {
        "sensitivity": scope(acme, "logins"),
        "min_duration_days": scope(acme, "logins"),
        "z_threshold": scope(acme),
        "spike_percent": scope(metric="logins"),
        "drop_percent": scope(),
        "min_volume": scope(),
    }
    # The customer's row sets the sensitivity; what nobody set comes from its preset.
    assert acme_api.config == preset("medium", z_threshold=4.2, drop_percent=40, min_volume=15)
    assert acme_api.sources["sensitivity"] == scope(acme)
    assert acme_api.sources["spike_percent"] is None
    # Another customer's rows are not Beta's.
    assert beta_logins.config == preset("high", spike_percent=80, drop_percent=40, min_volume=15)
    assert beta_logins.sources["sensitivity"] == scope(metric="logins")
    assert beta_api.config == preset("low", drop_percent=40, min_volume=15)
    assert beta_api.sources["sensitivity"] == scope()


@pytest.mark.usefixtures("four_scopes")
def test_an_unsaved_override_takes_its_scopes_place(acme, beta):
    series = [(acme.pk, "logins"), (acme.pk, "api_calls"), (beta.pk, "logins")]
    before = detection_config_for_series(series=series)
    # Replaces Acme's logins row: its minimum duration is gone, Acme's z stays.
    override = DetectionSettings(customer=acme, metric="logins", sensitivity="low")
    acme_logins, acme_api, beta_logins = detection_config_for_series(
        series=series, override=override
    )
    assert acme_logins.config == preset(
        "low", z_threshold=4.2, spike_percent=80, drop_percent=40, min_volume=15
    )
    assert acme_logins.sources["sensitivity"] == scope(acme, "logins")
    assert acme_logins.sources["min_duration_days"] is None
    assert [acme_api, beta_logins] == before[1:]
    assert DetectionSettings.objects.count() == 4  # nothing saved


@pytest.mark.usefixtures("four_scopes")
def test_an_override_on_a_scope_without_a_row_adds_it(acme, beta):
    override = DetectionSettings(customer=beta, metric="", sensitivity="medium", drop_percent=25)
    [beta_logins] = detection_config_for_series(series=[(beta.pk, "logins")], override=override)
    assert beta_logins.config == preset("medium", drop_percent=25, spike_percent=80, min_volume=15)
    assert beta_logins.sources["drop_percent"] == scope(beta)
    assert not DetectionSettings.objects.filter(customer=beta).exists()


def test_a_series_keeps_its_place_and_ids_may_be_strings_or_uuids(acme, beta):
    DetectionSettings.objects.create(customer=beta, sensitivity="high")
    configs = detection_config_for_series(
        series=[(str(beta.pk), "a"), (acme.pk, "a"), (beta.pk, "b")]
    )
    assert [c.config.sensitivity for c in configs] == ["high", "medium", "high"]


def test_many_series_cost_one_query(make_customer, django_assert_num_queries):
    customers = [make_customer() for _ in range(40)]
    metrics = [f"feature:f{i}" for i in range(25)]
    DetectionSettings.objects.create(sensitivity="low")
    for i, customer in enumerate(customers[:10]):
        DetectionSettings.objects.create(customer=customer, metric=metrics[i], z_threshold=5)
        DetectionSettings.objects.create(metric=metrics[i], drop_percent=45)
    series = [(c.pk, m) for c in customers for m in metrics]
    with django_assert_num_queries(1):
        configs = detection_config_for_series(series=series)
    assert len(configs) == 1000
    # A row always carries a sensitivity: the customer's row's (the model's default, medium).
    assert configs[0].config == preset("medium", z_threshold=5, drop_percent=45)
    assert configs[-1].config == preset("low")


def test_no_series_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert detection_config_for_series(series=[]) == []
