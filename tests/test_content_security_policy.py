"""Every page answers with the Content-Security-Policy: scripts from this site only, never
inline; the browser test (tests/browser) checks the pages work under it."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

CSM_PAGES = [
    "/",
    "/?customer=Acme",
    "/anomalies/",
    "/customers/",
    "/settings/",
    "/insights/",
    "/notifications/",
    "/notifications/preferences/",
]
ANONYMOUS_PAGES = [
    "/accounts/login/",
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/invalid-token/",
    "/no-such-page/",
]
STAFF_PAGES = ["/admin/", "/admin/accounts/apitoken/", "/api/docs/", "/api/docs/?script="]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def assert_strict(response):
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", CSM_PAGES)
def test_a_csms_pages_carry_the_policy(client, csm, make_customer, path):
    make_customer(name="Acme", csm=csm)
    client.force_login(csm)

    response = client.get(path)

    assert response.status_code == 200
    assert_strict(response)


def test_a_customer_page_carries_the_policy(client, csm, make_customer):
    customer = make_customer(name="Acme", csm=csm)
    client.force_login(csm)

    response = client.get(reverse("customer-detail", args=[customer.pk]))

    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_pages_before_login_carry_the_policy(client, path):
    response = client.get(path, follow=True)

    assert response.status_code in {200, 404}
    assert_strict(response)


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_carry_the_policy(client, staff, path):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)

    response = client.get(path)

    assert response.status_code == 200
    assert_strict(response)


def test_the_login_lockout_page_carries_the_policy(client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post("/accounts/login/", {"username": "x", "password": "wrong"})

    assert response.status_code == 429
    assert_strict(response)


def test_the_pages_need_no_inline_script(client, staff, make_customer):
    """What the policy forbids is not in the templates: no inline <script> and no on*=
    handlers (the browser test would see them blocked; this names the page)."""
    staff.is_superuser = True
    staff.save()
    make_customer(name="Acme", csm=staff)
    client.force_login(staff)

    html = client.get("/").content.decode()

    assert "<script>" not in html and "onchange=" not in html
    assert 'src="/static/anomalies/portfolio.js"' in html
