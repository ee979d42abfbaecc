"""API tokens: stored hashed, shown once, expiring, revocable, with a last-used time; the
admin never shows a key; DRF's old clear-text tokens are migrated by hashing them."""

import datetime as dt
import importlib
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import LAST_USED_RESOLUTION, api_token_create, api_token_mark_used

pytestmark = pytest.mark.django_db


def get_customers(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/customers")


def stored_row(token: ApiToken) -> str:
    """The token's row as the database holds it, every column as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiToken._meta.db_table} WHERE id = %s", [token.pk])  # noqa: S608
        return " ".join(str(value) for value in cursor.fetchone())


def command_key(*args) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1")


def test_the_key_is_never_stored_in_clear(csm):
    key = command_key("alice")

    token = ApiToken.objects.get(user=csm)
    row = stored_row(token)
    assert key not in row
    # Not even most of it: only the short display prefix is kept.
    assert key[len(token.prefix) :] not in row
    assert key.startswith(token.prefix) and len(token.prefix) < len(key) // 3


def test_the_command_prints_a_working_key(csm):
    assert get_customers(command_key("alice")).status_code == 200


def test_an_expired_token_is_401(csm):
    token, key = api_token_create(user=csm, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert get_customers(key).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = get_customers(key)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_is_401(client, superuser, csm):
    token, key = api_token_create(user=csm)
    client.force_login(superuser)

    client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert get_customers(key).status_code == 401


def test_last_used_is_recorded(csm):
    token, key = api_token_create(user=csm)
    assert token.last_used_at is None

    before = timezone.now()
    get_customers(key)

    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before


def test_a_failed_request_does_not_touch_last_used(csm):
    token, _ = api_token_create(user=csm)

    get_customers("tmr_" + "x" * 43)

    token.refresh_from_db()
    assert token.last_used_at is None


def test_the_admin_changelist_and_change_page_never_show_the_key(client, superuser, csm):
    token, key = api_token_create(user=csm, name="BI export")
    client.force_login(superuser)

    listing = client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    change = client.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).content.decode()

    for page in (listing, change):
        assert token.prefix in page and "BI export" in page
        assert key not in page
        assert token.key_hash not in page


def test_admin_shows_a_new_key_once(client, superuser, csm):
    client.force_login(superuser)

    response = client.post(
        reverse("admin:accounts_apitoken_add"), {"user": csm.pk, "name": "BI export"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = response.context["key"]
    assert key in response.content.decode()
    assert get_customers(key).status_code == 200
    token = ApiToken.objects.get(user=csm)
    assert key not in stored_row(token)
    assert key not in client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()


# Outside a test transaction, as migrations run: SQLite's schema editor must switch its
# foreign-key checks off, which it cannot do inside one.
@pytest.mark.django_db(transaction=True)
def test_drf_tokens_are_migrated_by_hashing_their_keys(csm):
    # The table rest_framework.authtoken left behind, with one clear-text key.
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, timezone.now(), csm.pk]
        )
    migration = importlib.import_module("accounts.migrations.0002_migrate_drf_tokens")

    with connection.schema_editor() as schema_editor:
        migration.hash_drf_tokens(django_apps(), schema_editor)

    assert "authtoken_token" not in connection.introspection.table_names()
    token = ApiToken.objects.get(user=csm)
    assert old_key not in stored_row(token)
    assert get_customers(old_key).status_code == 200


def django_apps():
    from django.apps import apps

    return apps


def test_a_recently_used_token_costs_no_write(csm, django_assert_num_queries):
    token, key = api_token_create(user=csm)
    get_customers(key)  # marks it used
    token.refresh_from_db()
    marked = token.last_used_at

    with django_assert_num_queries(0):
        api_token_mark_used(token=token)

    # Last used a while ago: marked again, in one statement.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=marked - LAST_USED_RESOLUTION * 2)
    token.refresh_from_db()
    with django_assert_num_queries(1):
        api_token_mark_used(token=token)
    token.refresh_from_db()
    assert token.last_used_at > marked
