"""The per-user scan rate: one allowance, whichever gunicorn worker answers and whether the scan
comes from the API or the customer page's Rescan button; a Redis that is down or silent lets
scans through instead of failing them."""

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create
from anomalies.models import ScanRun
from tests.workers import running_gunicorn

START = "/api/analytics/anomalies/scan"
RATE = 5
HANG_SECONDS = 10


def _post_scan(base_url: str, token: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (an http:// URL of our own server)
        base_url + START,
        data=json.dumps({}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_share_one_scan_allowance(django_user_model, cache_of_its_own, tmp_path):
    # A CSM without accounts: each scan finishes at once, with nothing to send to a broker.
    user = django_user_model.objects.create_user(username="carol")
    _, token = api_token_create(user=user)
    env = {"SCAN_THROTTLE_RATE": f"{RATE}/hour", "CACHE_KEY_PREFIX": cache_of_its_own}

    with running_gunicorn(log_path=tmp_path / "gunicorn.log", workers=3, env=env) as server:
        # Six at a time: every worker is busy at once, as in a burst from a script.
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda _: _post_scan(server.url, token), range(3 * RATE)))
        log = server.log()

    assert sorted(statuses) == [202] * RATE + [429] * (2 * RATE), log
    answered_by = set(re.findall(rf'^<(\d+)> "POST {START} ', log, flags=re.MULTILINE))
    assert len(answered_by) >= 2, log
    assert ScanRun.objects.count() == RATE


@pytest.mark.django_db
def test_the_rescan_button_and_the_api_share_one_allowance(client, csm, make_customer, settings):
    settings.SCAN_THROTTLE_RATE = "2/hour"
    customer, other = make_customer(csm=csm), make_customer(csm=csm)
    api = APIClient()
    api.force_authenticate(user=csm)
    client.force_login(csm)
    rescan = reverse("customer-rescan", args=[customer.pk])
    other_scan = {"customer_ids": [str(other.pk)]}

    assert api.post(START, other_scan, format="json").status_code == 202
    client.post(rescan)
    response = client.post(rescan, follow=True)

    assert b"You have started too many scans lately" in response.content
    assert ScanRun.objects.count() == 2
    assert api.post(START, other_scan, format="json").status_code == 429


@pytest.fixture
def silent_redis():
    """A port that accepts connections and never answers: a hung Redis. Connections are
    dropped after HANG_SECONDS, so a client without a socket timeout fails, not hangs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)
        stop = threading.Event()

        def accept():
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                threading.Timer(HANG_SECONDS, conn.close).start()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        stop.set()
        thread.join()


@pytest.fixture
def closed_port_redis():
    """A port nobody listens on: a Redis that is down."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.parametrize("redis_at", ["closed_port_redis", "silent_redis"])
def test_scans_go_through_with_a_warning_when_redis_is_unreachable(
    csm, settings, caplog, request, redis_at
):
    # The production cache configuration (REDIS_URL is set), pointed at a dead Redis.
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    location = request.getfixturevalue(redis_at)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": location}}
    api = APIClient()
    api.force_authenticate(user=csm)

    started = time.monotonic()
    response = api.post(START, {}, format="json")

    assert response.status_code == 202
    # The socket timeouts bound the wait: a hung Redis never hangs the request.
    assert time.monotonic() - started < HANG_SECONDS / 2
    assert "scan throttle not applied, the cache is unreachable" in caplog.text
