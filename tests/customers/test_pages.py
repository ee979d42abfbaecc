import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_customer_list_requires_login(client):
    response = client.get(reverse("customer-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_csm_sees_only_their_accounts(client, csm, other_csm, make_customer):
    make_customer(name="Mine Ltd", csm=csm)
    make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(csm)
    response = client.get(reverse("customer-list"))
    assert response.status_code == 200
    assert b"Mine Ltd" in response.content
    assert b"Theirs Inc" not in response.content


def test_staff_sees_every_account(client, staff, csm, other_csm, make_customer):
    make_customer(name="Mine Ltd", csm=csm)
    make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(staff)
    response = client.get(reverse("customer-list"))
    assert b"Mine Ltd" in response.content
    assert b"Theirs Inc" in response.content


def test_login_page_has_csrf_protection(client):
    response = client.get(reverse("login"))
    assert b"csrfmiddlewaretoken" in response.content
