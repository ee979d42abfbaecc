"""The outcome on the customer page's anomaly cards: shown (derived or set, with the actions
taken), set through a CSRF-protected form by the owner, a 404 for another CSM."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from anomalies.models import AnomalyAction
from customers.services import lifecycle_record
from tests.factories import make_anomaly_of as make_anomaly

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START = dt.date(2025, 3, 3)


@pytest.fixture
def account(make_customer, csm):
    return make_customer(name="Acme Corp", csm=csm)


@pytest.fixture
def anomaly(account):
    return make_anomaly(account, start_date=START, status="resolved", end_date=START)


def post_outcome(client, anomaly, **data):
    prefix = f"outcome-{anomaly.pk}"
    return client.post(
        reverse("anomaly-outcome", args=[anomaly.pk]),
        {f"{prefix}-{key}": value for key, value in data.items()},
    )


def test_the_card_shows_a_derived_outcome_and_the_actions(client, csm, account, anomaly):
    AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="schedule_training")
    lifecycle_record(
        customer=account, kind="contracted", date=START + dt.timedelta(days=40),
        arr_before=50000, arr_after=30000,
    )  # fmt: skip
    client.force_login(csm)

    html = client.get(reverse("customer-detail", args=[account.pk])).content.decode()

    assert (
        "derived from the lifecycle change of Apr 12, 2025: contracted, ARR $50,000 → $30,000"
        in html
    )
    assert "Schedule training" in html
    assert f'action="{reverse("anomaly-outcome", args=[anomaly.pk])}"' in html


def test_the_owner_sets_the_outcome(client, csm, account, anomaly):
    client.force_login(csm)
    response = post_outcome(client, anomaly, outcome="no_impact", note="seasonal dip")

    assert response.status_code == 302
    anomaly.refresh_from_db()
    assert (anomaly.outcome, anomaly.outcome_note, anomaly.outcome_set_by) == (
        "no_impact",
        "seasonal dip",
        csm,
    )
    html = client.get(response.url).content.decode()
    assert "set by Alice Owner" in html


def test_a_bad_value_is_a_400_naming_the_field(client, csm, anomaly):
    client.force_login(csm)
    response = post_outcome(client, anomaly, outcome="lost")
    assert response.status_code == 400
    assert "Select a valid choice. lost is not one of the available choices." in (
        response.content.decode()
    )
    anomaly.refresh_from_db()
    assert anomaly.outcome == "unknown"


def test_another_csm_gets_a_404(client, other_csm, anomaly):
    client.force_login(other_csm)
    assert post_outcome(client, anomaly, outcome="churned").status_code == 404
    anomaly.refresh_from_db()
    assert anomaly.outcome == "unknown"


def test_the_form_needs_its_csrf_token(csm, anomaly):
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)
    assert post_outcome(client, anomaly, outcome="churned").status_code == 403
