"""Lifecycle changes recorded, edited and deleted in admin reach the anomalies' outcomes and
the account's status, as from the API or an import."""

import datetime as dt

import pytest
from django.urls import reverse

from customers.models import LifecycleEvent
from tests.factories import make_anomaly_of as make_anomaly

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START = dt.date(2025, 3, 3)


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "pw-1"))
    return client


def test_adding_a_churn_in_admin_derives_outcomes_and_deleting_it_takes_them_back(
    admin_client, make_customer
):
    customer = make_customer()
    anomaly = make_anomaly(customer, start_date=START)
    response = admin_client.post(
        reverse("admin:customers_lifecycleevent_add"),
        {"customer": customer.pk, "kind": "churned", "date": "2025-04-01", "arr_before": "5000",
         "arr_after": "0", "note": "gone"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]

    event = LifecycleEvent.objects.get()
    assert (event.source, event.recorded_by.username) == ("admin", "root")
    anomaly.refresh_from_db()
    customer.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_event_id) == ("churned", event.pk)
    assert customer.status == "churned"

    response = admin_client.post(
        reverse("admin:customers_lifecycleevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_derived) == ("unknown", False)


def test_admin_refuses_figures_that_contradict_the_kind(admin_client, make_customer):
    customer = make_customer()
    response = admin_client.post(
        reverse("admin:customers_lifecycleevent_add"),
        {"customer": customer.pk, "kind": "expanded", "date": "2025-04-01", "arr_before": "5000",
         "arr_after": "4000"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "an expansion raises ARR" in response.content.decode()
    assert not LifecycleEvent.objects.exists()


def test_the_customer_page_inline_records_a_change(admin_client, make_customer):
    customer = make_customer(name="Inline Co")
    anomaly = make_anomaly(customer, start_date=START)
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    data.update(csm="", renewal_date="", status_changed_on="")
    prefix = "lifecycle_events"
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-kind": "expanded",
            f"{prefix}-0-date": "2025-03-20",
            f"{prefix}-0-arr_before": "1000",
            f"{prefix}-0-arr_after": "2000",
            f"{prefix}-0-note": "",
        }
    )
    for formset in page.context["inline_admin_formsets"]:
        mgmt = formset.formset.management_form
        if formset.formset.prefix != prefix:
            data.update({f"{mgmt.prefix}-{k}": v for k, v in mgmt.initial.items()})
    response = admin_client.post(
        reverse("admin:customers_customer_change", args=[customer.pk]), data
    )
    assert response.status_code == 302, response.context and response.context.get("errors")
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_derived) == ("expanded", True)
    assert LifecycleEvent.objects.get().source == "admin"
