"""Real local peers for the notification tests: an HTTP server standing in for a Slack
webhook and an SMTP server (aiosmtpd), both on 127.0.0.1 and a free port."""

import datetime as dt
import json
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from anomalies.models import UsageAnomaly
from notifications.models import NotificationPreference


class SlackServer:
    """Answers each POST with the next status of `script` (the last one repeats); "hang"
    means never answer within the client's timeout. Records every body it received."""

    def __init__(self):
        self.script = [200]
        self.received = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.received.append(json.loads(body))
                status = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if status == "hang":
                    time.sleep(1.5)
                    status = 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/services/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slack_server():
    with SlackServer() as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            self.messages.append(envelope)
            return "250 Message accepted for delivery"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _notification_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://tremor.example.com"
    settings.SLACK_TIMEOUT_SECONDS = 0.5


@pytest.fixture
def owner(csm):
    csm.email = "alice@example.com"
    csm.save()
    return csm


@pytest.fixture
def preference(owner, slack_server):
    return NotificationPreference.objects.create(
        user=owner, in_app=True, email=True, slack=True, slack_webhook_url=slack_server.url
    )


@pytest.fixture
def make_anomaly(make_customer):
    def make(*, customer, **fields):
        fields.setdefault("metric_type", "api_calls")
        fields.setdefault("anomaly_type", "drop")
        fields.setdefault("severity", "critical")
        fields.setdefault("direction", "negative")
        fields.setdefault("baseline_value", Decimal("1200"))
        fields.setdefault("actual_value", Decimal("400"))
        fields.setdefault("deviation_percent", Decimal("-66.67"))
        fields.setdefault("detected_at", timezone.now())
        fields.setdefault("start_date", dt.date(2025, 5, 12))
        fields.setdefault("possible_cause", "SDK v3 rollout")
        return UsageAnomaly.objects.create(customer=customer, **fields)

    return make
