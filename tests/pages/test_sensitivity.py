"""The sensitivity page: settings in force, saving a scope, and the 90-day preview."""

import datetime as dt
import re

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anomalies.models import DetectionSettings
from anomalies.selectors import METRIC_CHOICE_DAYS
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


@pytest.mark.parametrize("name", ["sensitivity", "sensitivity-in-force", "sensitivity-remove"])
def test_it_requires_login(client, name):
    response = (
        client.get(reverse(name)) if name != "sensitivity-remove" else client.post(reverse(name))
    )
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


def _choices(response, field) -> list[str]:
    return [label for _, label in response.context["form"].fields[field].choices]


def _placeholder(response, field) -> str:
    text = response.content.decode()
    match = re.search(rf'name="{field}"[^>]*placeholder="([^"]*)"', text) or re.search(
        rf'placeholder="([^"]*)"[^>]*name="{field}"', text
    )
    assert match, text
    return match[1].replace("&#x27;", "'")


def test_metrics_are_chosen_from_the_accounts_metrics(
    client, csm, account, other_csm, make_customer
):
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    today = timezone.localdate()
    long_ago = today - dt.timedelta(days=METRIC_CHOICE_DAYS + 1)
    for customer, metric, day in [
        (account, "feature:reports", today),
        (theirs, "feature:secret_sauce", today),
        # Not sent for months: nothing a scan still judges.
        (account, "feature:retired", long_ago),
    ]:
        UsageMetric.objects.create(customer=customer, metric=metric, date=day, value=1)
    client.force_login(csm)
    response = client.get(URL)
    # Every metric, the feature family, the core metrics and the account's own, by label.
    assert _choices(response, "metric") == [
        "All metrics",
        "All features",
        "API calls",
        "Logins",
        "Active users",
        "Reports feature",
    ]
    assert b'<option value="feature:reports">Reports feature</option>' in response.content
    # Another CSM's account's metric is no choice: a field error, nothing saved.
    response = client.post(
        URL, {"customer": account.pk, "metric": "feature:secret_sauce", "sensitivity": "low"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["metric"] == [
        "feature:secret_sauce is not a metric of your accounts: choose one from the list."
    ]
    assert not DetectionSettings.objects.exists()


def test_empty_thresholds_show_what_the_preset_means(client, csm, account):
    client.force_login(csm)
    response = client.get(URL)
    # Nothing saved anywhere: the medium preset's numbers (anomalies.detection.config).
    assert _placeholder(response, "drop_percent") == "preset 'medium': 30"
    assert _placeholder(response, "z_threshold") == "preset 'medium': 3.5"
    assert _placeholder(response, "min_duration_days") == "preset 'medium': 2"
    assert "Empty: preset &#x27;medium&#x27;: 10" in response.content.decode()


def test_empty_thresholds_show_the_broader_scopes_values(client, csm, account):
    DetectionSettings.objects.create(sensitivity="low", drop_percent=42.5)
    DetectionSettings.objects.create(customer=account, metric="", spike_percent=70)
    client.force_login(csm)
    form = {"customer": account.pk, "metric": "api_calls", "preview": "1"}
    response = client.post(URL, {**form, "sensitivity": "high"})
    assert response.status_code == 200
    # At Acme's API calls with the high preset: the global drop, Acme's spike, high's z.
    assert _placeholder(response, "drop_percent") == "global: 42.5"
    assert _placeholder(response, "spike_percent") == "Acme: 70"
    assert _placeholder(response, "z_threshold") == "preset 'high': 3"
    response = client.post(URL, {**form, "sensitivity": "low"})
    assert _placeholder(response, "z_threshold") == "preset 'low': 4.5"
    assert "Empty: preset &#x27;low&#x27;: 4.5" in response.content.decode()


def test_the_placeholders_follow_the_chosen_scope(client, csm, account, other_csm, make_customer):
    """What the page's script asks when the CSM picks another scope or sensitivity."""
    DetectionSettings.objects.create(metric="logins", sensitivity="medium", min_volume=12)
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(csm)
    url = reverse("sensitivity-in-force")
    query = {"customer": account.pk, "metric": "logins", "sensitivity": "low"}
    response = client.get(url, query)
    assert response.status_code == 200
    body = response.json()
    assert body["min_volume"] == {
        "placeholder": "Logins: 12",
        "help_text": "Empty: Logins: 12",
    }
    assert body["drop_percent"]["placeholder"] == "preset 'low': 50"
    for field, value in [("customer", theirs.pk), ("metric", "Bad!"), ("sensitivity", "max")]:
        response = client.get(url, {**query, field: value})
        assert response.status_code == 400
        assert field in response.json()["errors"]


def test_the_table_shows_the_values_in_force_and_their_source(client, csm, account):
    DetectionSettings.objects.create(sensitivity="low", drop_percent=42.5)
    DetectionSettings.objects.create(customer=account, sensitivity="high")
    client.force_login(csm)
    response = client.get(URL)
    rows = {r["customer"]: r for r in response.context["rows"]}
    assert [(c["text"], c["from"]) for c in rows["Acme"]["thresholds"]] == [
        ("42.5", "global"),
        ("30", "preset 'high'"),
        ("3", "preset 'high'"),
        ("2", "preset 'high'"),
        ("5", "preset 'high'"),
    ]
    assert (rows["Acme"]["sensitivity"]["text"], rows["Acme"]["sensitivity"]["from"]) == (
        "High",
        "",
    )
    assert rows["All customers"]["sensitivity"]["text"] == "Low"


def test_the_table_shows_the_default_preset_when_nothing_was_saved(client, csm, account):
    client.force_login(csm)
    response = client.get(URL)
    (row,) = response.context["rows"]
    assert (row["sensitivity"]["text"], row["sensitivity"]["from"]) == ("Medium", "default preset")
    assert not row["removable"]
    assert b"Nobody changed the global settings." in response.content


def test_the_page_takes_a_bounded_number_of_queries(
    client, csm, make_customer, django_assert_max_num_queries
):
    for i in range(6):
        customer = make_customer(name=f"Account {i}", csm=csm)
        DetectionSettings.objects.create(customer=customer, metric="api_calls", sensitivity="low")
    client.force_login(csm)
    # Session, user, the metric choices (2), the first account, the rows and their merge,
    # the form's accounts (rendered twice), the bell's count; none per row.
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200


def _remove(client, customer, metric=""):
    return client.post(
        reverse("sensitivity-remove"),
        {"customer": customer.pk if customer else "", "metric": metric},
    )


def test_the_owner_removes_an_override_with_the_button(client, csm, account):
    DetectionSettings.objects.create(customer=account, metric="api_calls", sensitivity="low")
    kept = DetectionSettings.objects.create(customer=account, sensitivity="high")
    client.force_login(csm)
    text = client.get(URL).content.decode()
    assert text.count('action="/settings/remove"') == 2
    assert 'aria-label="Remove the override of Acme, API calls"' in text

    response = _remove(client, account, "api_calls")

    assert response.status_code == 302
    assert list(DetectionSettings.objects.all()) == [kept]
    text = client.get(URL).content.decode()
    assert "Removed the override of Acme, API calls: it now follows the broader settings." in text
    # Removing it again removes nothing, and says so.
    _remove(client, account, "api_calls")
    assert "Acme, API calls had no override of its own" in client.get(URL).content.decode()


def test_a_csm_cannot_remove_global_or_another_csms_override(
    client, csm, account, other_csm, make_customer
):
    theirs = make_customer(name="Theirs Inc", csm=other_csm)
    DetectionSettings.objects.create(sensitivity="low")
    DetectionSettings.objects.create(customer=theirs, sensitivity="low")
    client.force_login(csm)
    assert 'action="/settings/remove"' not in client.get(URL).content.decode()

    assert _remove(client, None).status_code == 403
    response = _remove(client, theirs)
    assert response.status_code == 302
    assert "Nothing was removed: customer:" in client.get(URL).content.decode()
    assert DetectionSettings.objects.count() == 2


def test_staff_remove_the_global_override(client, staff):
    DetectionSettings.objects.create(sensitivity="low")
    client.force_login(staff)
    assert 'action="/settings/remove"' in client.get(URL).content.decode()
    _remove(client, None)
    assert not DetectionSettings.objects.exists()
    assert "Removed the override of global" in client.get(URL).content.decode()


def test_removing_requires_csrf(csm, account):
    DetectionSettings.objects.create(customer=account, sensitivity="low")
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    assert _remove(client, account).status_code == 403
    assert DetectionSettings.objects.exists()


def _drop_start():
    """The first day of usage_with_moderate_drop's drop: day 170 of 210 ending today."""
    return timezone.localdate() - dt.timedelta(days=209 - 170)


def test_the_preview_names_the_anomalies_a_change_would_remove(client, csm, account):
    usage_with_moderate_drop(account)
    client.force_login(csm)
    response = client.post(URL, {"customer": account.pk, "sensitivity": "low", "preview": "1"})
    # The medium preset finds the 40 % drop, the low one (50 %) does not.
    assert response.context["added"]["total"] == 0
    (removed,) = response.context["removed"]["anomalies"]
    assert (
        removed["customer_name"],
        removed["metric_label"],
        removed["type_label"],
        removed["start"],
        removed["tier_label"],
    ) == ("Acme", "API calls", "Drop", _drop_start(), "Warning")
    text = response.content.decode()
    section = text[text.index('id="preview-removed"') :]
    assert "The change would remove 1 anomaly" in section
    assert f'<a href="/customers/{account.pk}/">Acme</a>' in section
    assert _drop_start().isoformat() in section
    assert "It would add none." in text
    assert "more." not in text


def test_the_preview_names_the_anomalies_a_change_would_add(client, csm, account):
    DetectionSettings.objects.create(sensitivity="low")
    usage_with_moderate_drop(account)
    client.force_login(csm)
    response = client.post(URL, {"customer": account.pk, "sensitivity": "high", "preview": "1"})
    assert response.context["removed"]["total"] == 0
    (added,) = response.context["added"]["anomalies"]
    assert (added["customer_name"], added["type_label"], added["start"]) == (
        "Acme",
        "Drop",
        _drop_start(),
    )
    assert "The change would add 1 anomaly" in response.content.decode()


def test_the_preview_list_is_bounded(client, staff, account, make_customer, monkeypatch):
    monkeypatch.setattr("anomalies.settings_preview.PREVIEW_LIST_MAX", 1)
    usage_with_moderate_drop(account)
    usage_with_moderate_drop(make_customer(name="Beta"))
    client.force_login(staff)
    response = client.post(URL, {"customer": "", "sensitivity": "low", "preview": "1"})
    removed = response.context["removed"]
    assert (removed["total"], removed["more"]) == (2, 1)
    # Equal severity and start: by name.
    assert [a["customer_name"] for a in removed["anomalies"]] == ["Acme"]
    assert "and 1 more." in response.content.decode()
