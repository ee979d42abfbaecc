"""Styled 403, 404 and 500 pages with the site's navigation; JSON errors under /api/."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from config.errors import forbidden, internal_error

pytestmark = pytest.mark.django_db


def test_404_page_has_the_navigation(client, csm):
    client.force_login(csm)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    text = response.content.decode()
    assert 'id="error-page"' in text
    assert f'href="{reverse("customer-list")}"' in text  # the header's nav
    assert "Log out" in text


def test_settings_scope_refusal_is_the_styled_403(client, csm):
    client.force_login(csm)
    response = client.post(reverse("sensitivity"), {"customer": "", "sensitivity": "low"})
    assert response.status_code == 403
    text = response.content.decode()
    assert 'id="error-page"' in text
    assert "Only staff may change global or per-metric settings." in text
    assert f'href="{reverse("insights")}"' in text


def test_500_page_renders_without_the_database(django_assert_num_queries):
    request = RequestFactory().get("/customers/")
    with django_assert_num_queries(0):
        response = internal_error(request)
    assert response.status_code == 500
    text = response.content.decode()
    assert 'id="error-page"' in text
    assert f'href="{reverse("customer-list")}"' in text


@pytest.mark.parametrize(
    ("view", "status"), [(internal_error, 500), (lambda r: forbidden(r, None), 403)]
)
def test_api_paths_keep_json_errors(view, status):
    response = view(RequestFactory().get("/api/analytics/anomalies"))
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"


def test_api_404_stays_json(client, csm):
    client.force_login(csm)
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
