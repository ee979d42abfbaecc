"""Fixtures for the REST API tests of every package, a plugin of tests/conftest.py: an API
client per persona, one customer for the CSM and one for the other CSM (anomalies come from
the kit in tests/factories.py)."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def api_for(db):
    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def csm_api(api_for, csm):
    return api_for(csm)


@pytest.fixture
def other_api(api_for, other_csm):
    return api_for(other_csm)


@pytest.fixture
def staff_api(api_for, staff):
    return api_for(staff)


@pytest.fixture
def mine(make_customer, csm):
    return make_customer(
        name="Dataflow Inc",
        external_id="dataflow-001",
        csm=csm,
        tier="enterprise",
        arr=Decimal("120000.50"),
    )


@pytest.fixture
def theirs(make_customer, other_csm):
    return make_customer(name="Globex", external_id="globex-002", csm=other_csm)


@pytest.fixture
def today():
    return timezone.localdate()


def result_ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]
