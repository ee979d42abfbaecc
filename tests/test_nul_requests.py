"""A NUL character anywhere a request carries text (path, query parameter, form field) is a 400
naming where it was, on every page and every admin changelist: PostgreSQL cannot store or
compare NUL, and such a value used to reach a query and fail there as a 500."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

NUL = "\x00"


def _changelist_queries():
    """(changelist URL name, query) for every model in the admin: a search, and each of its
    list filters given an exact value."""
    cases = []
    for model, model_admin in admin.site._registry.items():
        url_name = f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        cases.append(pytest.param(url_name, "q", id=f"{model._meta.label}?q"))
        for entry in model_admin.list_filter:
            if isinstance(entry, str | tuple):
                param = (entry if isinstance(entry, str) else entry[0]) + "__exact"
            else:  # a SimpleListFilter class
                param = entry.parameter_name
            cases.append(pytest.param(url_name, param, id=f"{model._meta.label}?{param}"))
    return cases


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1")


@pytest.mark.parametrize("url_name, param", _changelist_queries())
def test_every_admin_changelist_refuses_a_nul(client, superuser, url_name, param):
    client.force_login(superuser)

    response = client.get(reverse(url_name), {param: NUL})

    assert response.status_code == 400
    assert f"query parameter '{param}' contains a NUL" in response.content.decode()


@pytest.mark.parametrize(
    "url_name",
    [
        "home",
        "anomaly-table",
        "anomaly-export",
        "customer-list",
        "followup-list",
        "customer-autocomplete",
        "customer-detail",
        "sensitivity",
        "notification-list",
        "notification-preferences",
        "admin:index",
    ],
)
def test_every_page_refuses_a_nul_in_its_query(client, superuser, make_customer, url_name):
    args = [make_customer().pk] if url_name == "customer-detail" else []
    client.force_login(superuser)

    response = client.get(reverse(url_name, args=args), {"q": f"Acme{NUL}"})

    assert response.status_code == 400
    assert "query parameter 'q' contains a NUL" in response.content.decode()


def test_the_staff_portfolio_switcher_refuses_a_nul(client, staff):
    client.force_login(staff)

    response = client.get(reverse("home"), {"csm": NUL})

    assert response.status_code == 400
    assert response.content.decode() == (
        "The query parameter 'csm' contains a NUL character, which cannot be stored."
    )


def test_a_nul_in_a_form_field_name_is_refused(client, csm):
    client.force_login(csm)

    response = client.post(reverse("sensitivity"), {f"metric{NUL}": "x"})

    assert response.status_code == 400
    assert "form field 'metric\\x00' contains a NUL" in response.content.decode()


def test_the_api_answers_a_nul_in_json(client, csm):
    client.force_login(csm)

    response = client.get(reverse("api-customer-list"), {"search": NUL})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The query parameter 'search' contains a NUL character, which cannot be stored."
    }
