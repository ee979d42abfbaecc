"""The sensitivity page: settings in force, saving a scope, and the 90-day preview."""

import datetime as dt
import re

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anomalies.models import DetectionSettings
from customers.models import UsageMetric

pytestmark = pytest.mark.django_db

URL = reverse("sensitivity")
WEEKLY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.65, 0.65])


@pytest.fixture
def account(make_customer, csm):
    return make_customer(name="Acme", csm=csm)


def usage_with_moderate_drop(customer, *, days=210, drop_days=range(170, 180), factor=0.6):
    """A weekly pattern with 3 % noise ending today, and a 40 % drop for ten days about a
    month ago: past the high preset's 20 % threshold, short of the low preset's 50 %."""
    today = timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    rng = np.random.default_rng(7)
    weekdays = (first.weekday() + np.arange(days)) % 7
    values = 2000.0 * WEEKLY[weekdays] * np.exp(rng.normal(0.0, 0.03, days))
    values[list(drop_days)] *= factor
    UsageMetric.objects.bulk_create(
        UsageMetric(customer=customer, metric="api_calls", date=day, value=value)
        for day, value in zip(
            (first + dt.timedelta(days=i) for i in range(days)), values, strict=True
        )
    )


def preview_counts(response) -> tuple[int, int]:
    text = response.content.decode()
    match = re.search(r"At the new setting: (\d+) anomal\w+ \(currently (\d+)\)", text)
    assert match, text
    return int(match[1]), int(match[2])


def test_it_shows_the_settings_in_force(client, csm, account, other_csm, make_customer):
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    DetectionSettings.objects.create(sensitivity="low", drop_percent=42.5)
    DetectionSettings.objects.create(customer=account, sensitivity="high")
    DetectionSettings.objects.create(customer=theirs, sensitivity="high")
    client.force_login(csm)
    response = client.get(URL)
    assert response.status_code == 200
    assert b"42.5" in response.content
    assert b"Acme" in response.content
    assert b"Theirs Inc" not in response.content


def test_preview_counts_differ_between_low_and_high(client, staff, account):
    usage_with_moderate_drop(account)
    client.force_login(staff)
    form = {"customer": "", "metric": "", "preview": "1"}
    high = preview_counts(client.post(URL, {**form, "sensitivity": "high"}))
    low = preview_counts(client.post(URL, {**form, "sensitivity": "low"}))
    assert high[0] > low[0]
    assert high[1] == low[1]  # "currently" is the same: nothing was saved
    assert not DetectionSettings.objects.exists()


def test_csm_previews_own_account(client, csm, account):
    usage_with_moderate_drop(account)
    client.force_login(csm)
    response = client.post(URL, {"customer": account.pk, "sensitivity": "low", "preview": "1"})
    assert response.status_code == 200
    new, current = preview_counts(response)
    assert new < current
    assert b"1 account" in response.content


def test_a_metric_scope_preview_changes_only_that_metric(client, staff, account):
    usage_with_moderate_drop(account)  # api_calls only
    client.force_login(staff)
    form = {"customer": "", "sensitivity": "low", "preview": "1"}
    new, current = preview_counts(client.post(URL, {**form, "metric": "api_calls"}))
    assert new < current
    assert preview_counts(client.post(URL, {**form, "metric": "logins"})) == (current, current)


def test_save_persists_with_updated_by(client, csm, account):
    client.force_login(csm)
    response = client.post(
        URL,
        {
            "customer": account.pk,
            "metric": "api_calls",
            "sensitivity": "high",
            "drop_percent": "25",
        },
    )
    assert response.status_code == 302
    row = DetectionSettings.objects.get()
    assert (row.customer, row.metric, row.sensitivity) == (account, "api_calls", "high")
    assert row.drop_percent == 25
    assert row.spike_percent is None
    assert row.updated_by == csm
    assert row.updated_at is not None
    assert b"Settings saved." in client.get(URL).content


def test_staff_saves_global(client, staff):
    client.force_login(staff)
    response = client.post(URL, {"customer": "", "sensitivity": "low"})
    assert response.status_code == 302
    row = DetectionSettings.objects.get()
    assert (row.customer, row.metric, row.updated_by) == (None, "", staff)


@pytest.mark.parametrize("metric", ["", "api_calls"])
def test_csm_cannot_save_global_or_metric_scope(client, csm, metric):
    client.force_login(csm)
    response = client.post(URL, {"customer": "", "metric": metric, "sensitivity": "low"})
    assert response.status_code == 403
    response = client.post(URL, {"customer": "", "sensitivity": "low", "preview": "1"})
    assert response.status_code == 403
    assert not DetectionSettings.objects.exists()


def test_csm_cannot_use_another_csms_account(client, csm, other_csm, make_customer):
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(csm)
    response = client.post(URL, {"customer": theirs.pk, "sensitivity": "low"})
    assert response.status_code == 400
    assert b"Theirs Inc" not in response.content
    assert not DetectionSettings.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("drop_percent", "0"),
        ("drop_percent", "99.95"),
        ("spike_percent", "10001"),
        ("z_threshold", "0.4"),
        ("z_threshold", "51"),
        ("min_duration_days", "0"),
        ("min_duration_days", "91"),
        ("min_volume", "-1"),
        ("drop_percent", "lots"),
        ("metric", "Not A Slug!"),
        ("sensitivity", "extreme"),
        ("customer", "not-a-uuid"),
    ],
)
def test_it_rejects_out_of_range_values(client, staff, field, value):
    client.force_login(staff)
    form = {"customer": "", "sensitivity": "medium", field: value}
    for action in ({}, {"preview": "1"}):
        response = client.post(URL, {**form, **action})
        assert response.status_code == 400
        assert b'class="errors"' in response.content
    assert not DetectionSettings.objects.exists()


def test_it_requires_csrf(csm, account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    response = client.post(URL, {"customer": account.pk, "sensitivity": "low"})
    assert response.status_code == 403
    assert not DetectionSettings.objects.exists()


def test_it_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_csm_lands_on_their_own_scope(client, csm, other_csm, make_customer):
    make_customer(name="Zeta", csm=csm)
    first = make_customer(name="Alpha", csm=csm)
    make_customer(name="Aaa Theirs", csm=other_csm)
    client.force_login(csm)
    response = client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    # Only their accounts, the first by name chosen; no global ("All customers") choice.
    labels = [label for _, label in response.context["form"].fields["customer"].choices]
    assert labels == ["Alpha", "Zeta"]
    assert "All customers (global)" not in text
    assert re.search(rf'<option value="{first.pk}" selected>Alpha</option>', text)


def test_staff_still_gets_the_global_scope(client, staff, account):
    client.force_login(staff)
    text = client.get(URL).content.decode()
    assert re.search(r'<option value="" selected>All customers \(global\)</option>', text)
