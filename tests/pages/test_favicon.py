"""The favicon: linked from every page, and /favicon.ico (which browsers ask for anyway)
answers with a redirect to it rather than a 404."""

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON = "/static/tremor/favicon.svg"


def test_favicon_ico_redirects_to_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == ICON


def test_the_icon_is_a_static_svg():
    path = finders.find("tremor/favicon.svg")
    assert path is not None
    with open(path, encoding="utf-8") as icon:
        assert icon.read().startswith("<svg ")


def test_every_page_links_the_icon(client, csm):
    login = client.get(reverse("login")).content.decode()
    assert f'<link rel="icon" href="{ICON}" type="image/svg+xml">' in login
    client.force_login(csm)
    assert f'href="{ICON}"' in client.get(reverse("anomaly-table")).content.decode()
