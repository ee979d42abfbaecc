import datetime as dt
import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from anomalies.models import DetectionSettings, ScanRun

pytestmark = pytest.mark.django_db

SOME_ID = "0b7f7a52-9a8c-4a47-8f83-1b1d7d6a1f00"

ENDPOINTS = [
    ("get", "/api/customers"),
    ("get", f"/api/customers/{SOME_ID}"),
    ("patch", f"/api/customers/{SOME_ID}"),
    ("get", f"/api/customers/{SOME_ID}/usage/anomalies"),
    ("get", "/api/analytics/anomalies"),
    ("get", f"/api/analytics/anomalies/{SOME_ID}"),
    ("put", f"/api/analytics/anomalies/{SOME_ID}/dismiss"),
    ("put", f"/api/analytics/anomalies/{SOME_ID}/reopen"),
    ("post", "/api/analytics/anomalies/scan"),
    ("get", f"/api/analytics/scans/{SOME_ID}"),
    ("get", "/api/analytics/settings"),
    ("put", "/api/analytics/settings"),
    ("get", "/api/analytics/anomalies/summary?customer=Dataflow"),
    ("post", "/api/usage/"),
]


def test_a_form_with_too_many_fields_is_a_json_400(csm, settings):
    # Django refuses it before DRF sees it (TooManyFieldsSent); the answer must still be the
    # API's JSON, not Django's HTML page.
    client = APIClient()
    client.force_authenticate(user=csm)
    fields = "&".join(f"f{n}=x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    response = client.post(
        "/api/analytics/anomalies/scan", fields, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Bad request."}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_requests_are_refused_with_401(anon_api, mine, method, path):
    response = getattr(anon_api, method)(path, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "Dataflow" not in response.content.decode()


def test_anonymous_requests_change_nothing(anon_api, mine, make_anomaly):
    anomaly = make_anomaly(mine)

    anon_api.put(
        f"/api/analytics/anomalies/{anomaly.id}/dismiss", {"reason": "expected"}, format="json"
    )
    anon_api.post("/api/analytics/anomalies/scan", {}, format="json")
    anon_api.put(
        "/api/analytics/settings",
        {"customer": str(mine.id), "sensitivity": "high"},
        format="json",
    )

    anomaly.refresh_from_db()
    assert anomaly.status == "open"
    assert not ScanRun.objects.exists()
    assert not DetectionSettings.objects.exists()


# --- tokens -------------------------------------------------------------------------------


def new_key(user) -> str:
    return api_token_create(user=user)[1]


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_authenticates_as_its_user(csm, mine, theirs):
    response = token_client(new_key(csm)).get("/api/customers")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [str(mine.id)]


def test_a_token_can_write(csm, mine, make_anomaly):
    anomaly = make_anomaly(mine)

    response = token_client(new_key(csm)).put(
        f"/api/analytics/anomalies/{anomaly.id}/dismiss", {"reason": "expected"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["dismissed_by"] == "alice"


@pytest.mark.parametrize("key", ["0" * 40, "garbage", ""])
def test_a_wrong_token_is_401(csm, key):
    new_key(csm)

    response = token_client(key).get("/api/customers")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_inactive_users_token_is_refused(csm):
    key = new_key(csm)
    csm.is_active = False
    csm.save()

    assert token_client(key).get("/api/customers").status_code == 401


def test_a_bearer_header_is_not_a_token(csm):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key(csm)}")

    assert client.get("/api/customers").status_code == 401


# --- sessions -----------------------------------------------------------------------------


def test_a_logged_in_session_can_read(csm, mine):
    client = APIClient()
    client.force_login(csm)

    response = client.get("/api/customers")

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_session_write_without_a_csrf_token_is_refused(csm, mine, make_anomaly):
    anomaly = make_anomaly(mine)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(csm)

    response = client.put(
        f"/api/analytics/anomalies/{anomaly.id}/dismiss", {"reason": "expected"}, format="json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    anomaly.refresh_from_db()
    assert anomaly.status == "open"


def test_a_token_write_needs_no_csrf_token(csm, mine, make_anomaly):
    anomaly = make_anomaly(mine)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {new_key(csm)}")

    response = client.put(
        f"/api/analytics/anomalies/{anomaly.id}/dismiss", {"reason": "expected"}, format="json"
    )

    assert response.status_code == 200


# --- the create_api_token command ---------------------------------------------------------


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_the_command_creates_and_prints_a_token(csm, mine):
    printed = run_command("alice")

    token = ApiToken.objects.get(user=csm)
    assert printed.startswith(token.prefix)
    assert token.expires_at is None
    assert token_client(printed).get("/api/customers").status_code == 200


def test_the_command_makes_a_new_token_each_time_and_the_old_one_keeps_working(csm, mine):
    first, second = run_command("alice"), run_command("alice")

    assert first != second
    assert ApiToken.objects.filter(user=csm).count() == 2
    for key in (first, second):
        assert token_client(key).get("/api/customers").status_code == 200


def test_the_command_sets_an_expiry_in_days(csm):
    run_command("alice", "--expires-days", "30")

    token = ApiToken.objects.get(user=csm)
    assert abs(token.expires_at - token.created_at - dt.timedelta(days=30)) < dt.timedelta(
        seconds=5
    )


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="nobody"):
        run_command("nobody")
    assert not ApiToken.objects.exists()


def test_each_user_gets_their_own_token(csm, other_csm):
    assert run_command("alice") != run_command("bob")


def test_another_csms_object_reads_exactly_like_a_missing_one(
    csm_api, other_api, mine, make_anomaly
):
    anomaly = make_anomaly(mine)

    theirs_to_them = other_api.get(f"/api/analytics/anomalies/{anomaly.id}")
    missing = other_api.get(f"/api/analytics/anomalies/{uuid.uuid4()}")

    assert theirs_to_them.status_code == missing.status_code == 404
    assert theirs_to_them.json() == missing.json()
    assert csm_api.get(f"/api/analytics/anomalies/{anomaly.id}").status_code == 200
