"""Login brute force: failures lock a username (from any address) and an address (whatever
the usernames) for a cool-off, on the site's and admin's login; the lockout page never tells
whether the account exists; ops lift a lockout in admin or with `manage.py axes_reset*`."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
ATTACKER = "203.0.113.7"


def attempt(client, username, password, *, ip=ATTACKER, url=LOGIN):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client, username, times, *, ip=ATTACKER, url=LOGIN):
    for _ in range(times):
        response = attempt(client, username, "wrong-password", ip=ip, url=url)
    return response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "Too many failed logins" in response.content.decode()


def test_forty_wrong_passwords_then_the_right_one_is_refused(client, csm):
    fail(client, "alice", 40)

    response = attempt(client, "alice", "alice-pass-123")

    assert_locked_out(response)
    assert not logged_in(client)


def test_an_existing_and_an_unknown_username_get_the_same_answer(client, csm):
    for username, ip in (("alice", "198.51.100.1"), ("nobody", "198.51.100.2")):
        assert fail(client, username, 40, ip=ip).status_code == 429
    existing = attempt(client, "alice", "alice-pass-123", ip="198.51.100.1")
    unknown = attempt(client, "nobody", "alice-pass-123", ip="198.51.100.2")

    assert existing.status_code == unknown.status_code == 429
    assert existing.content == unknown.content
    assert b"alice" not in existing.content


def test_a_username_is_locked_whatever_the_address(client, csm):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong-password", ip=f"192.0.2.{n + 1}")

    assert_locked_out(attempt(client, "alice", "alice-pass-123", ip="192.0.2.200"))


def test_an_address_is_locked_across_usernames(client, csm):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"guess{n}", "wrong-password")

    assert_locked_out(attempt(client, "alice", "alice-pass-123"))
    # From elsewhere, alice (never guessed at) logs in.
    assert attempt(client, "alice", "alice-pass-123", ip="192.0.2.50").status_code == 302
    assert logged_in(client)


def test_the_lockout_ends_after_the_cool_off(client, csm):
    fail(client, "alice", 40)
    assert_locked_out(attempt(client, "alice", "alice-pass-123"))

    # Time travel: the last failure was a cool-off and a second ago.
    AccessAttempt.objects.update(
        attempt_time=dt.datetime.now(dt.UTC) - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )

    assert attempt(client, "alice", "alice-pass-123").status_code == 302
    assert logged_in(client)


def test_the_admin_login_is_locked_too(client, staff):
    fail(client, "olga", 20, url=ADMIN_LOGIN)

    response = attempt(client, "olga", "olga-pass-123", url=ADMIN_LOGIN)

    assert_locked_out(response)
    assert not logged_in(client)
    assert client.get(reverse("admin:index")).status_code == 302


def test_an_attackers_own_login_does_not_clear_their_failures_against_a_victim(
    client, csm, other_csm
):
    half = settings.AXES_FAILURE_LIMIT // 2
    fail(client, "alice", half)
    assert attempt(client, "bob", "bob-pass-123").status_code == 302  # the attacker's account
    client.logout()
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - half)

    assert_locked_out(attempt(client, "alice", "alice-pass-123", ip="192.0.2.99"))


def test_ops_unlock_a_username_with_the_command(client, csm):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong-password", ip=f"192.0.2.{n + 1}")
    assert_locked_out(attempt(client, "alice", "alice-pass-123", ip="192.0.2.100"))

    call_command("axes_reset_username", "alice")

    assert attempt(client, "alice", "alice-pass-123", ip="192.0.2.100").status_code == 302


def test_ops_unlock_in_admin(client, csm, django_user_model):
    fail(client, "alice", 40)
    assert_locked_out(attempt(client, "alice", "alice-pass-123"))
    ops = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1")
    admin = Client()
    admin.force_login(ops)
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert "alice" in admin.get(changelist).content.decode()

    admin.post(
        changelist,
        {
            "action": "delete_selected",
            "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
            "post": "yes",
        },
    )

    assert not AccessAttempt.objects.exists()
    assert attempt(client, "alice", "alice-pass-123").status_code == 302


def test_api_tokens_and_sessions_still_work_for_a_locked_out_username(client, csm, make_customer):
    make_customer(csm=csm)
    fail(client, "alice", 40)
    assert_locked_out(attempt(client, "alice", "alice-pass-123"))

    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=csm)[1]}")
    session = APIClient()
    session.force_login(csm)

    assert token.get("/api/customers", REMOTE_ADDR=ATTACKER).status_code == 200
    assert session.get("/api/customers", REMOTE_ADDR=ATTACKER).status_code == 200


def test_behind_a_proxy_a_forged_forwarded_for_does_not_escape_the_address_lockout(
    client, csm, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client forges a new address each time; the proxy appends the real one.
        client.post(
            LOGIN,
            {"username": f"guess{n}", "password": "wrong-password"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}, {ATTACKER}",
        )

    response = client.post(
        LOGIN,
        {"username": "alice", "password": "alice-pass-123"},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=f"192.0.2.200, {ATTACKER}",
    )
    assert_locked_out(response)
    # Another user behind the same proxy is not locked out with the attacker.
    assert (
        client.post(
            LOGIN,
            {"username": "alice", "password": "alice-pass-123"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="198.51.100.20",
        ).status_code
        == 302
    )
