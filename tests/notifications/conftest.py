"""Real local peers for the notification tests: an HTTPS server standing in for a Slack
webhook and an SMTP server (aiosmtpd), both on 127.0.0.1 (or ::1) and a free port."""

import datetime as dt
import functools
import json
import socket
import socketserver
import ssl
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from notifications.models import NotificationPreference

# A test CA and a certificate it signed for localhost, 127.0.0.1 and ::1 (valid until 2126),
# made once with `openssl req -x509` and `openssl x509 -req`: webhooks are https only, so the
# peer speaks TLS and the client verifies it like Slack's.
TLS_DIR = Path(__file__).parent / "tls"


class SlackServer:
    """Answers each POST with the next status of `script` (the last one repeats); "hang"
    means never answer within the client's timeout; a 3xx sends `location`. Records every
    TCP connection it accepts (before TLS or HTTP: a refused webhook must leave it at zero),
    every body and every Host header it received."""

    def __init__(self, host="127.0.0.1"):
        self.script = [200]
        self.location = ""
        self.connections = 0
        self.received = []
        self.host_headers = []
        server = self
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(TLS_DIR / "localhost.pem")

        class Handler(BaseHTTPRequestHandler):
            def setup(self):
                self.request.do_handshake()
                super().setup()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.received.append(json.loads(body))
                server.host_headers.append(self.headers["Host"])
                status = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if status == "hang":
                    time.sleep(1.5)
                    status = 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", server.location)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True
            block_on_close = False

            def server_bind(self):
                # HTTPServer's own looks the address up in DNS (getfqdn): slow for ::1.
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

            def get_request(self):
                sock, address = self.socket.accept()
                server.connections += 1
                # The handshake happens in the handler's thread (setup), not in this loop.
                return tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), (
                    address
                )

            def handle_error(self, request, client_address):
                pass  # a client that hangs up mid-handshake (a timeout test) is no news

        self.httpd = Server((host, 0), Handler)
        self.port = self.httpd.server_port
        self.netloc = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.url = f"https://{self.netloc}/services/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slack_server(settings):
    """A webhook peer the settings let through: its host and port on the allow-list and
    loopback among the allowed networks (production allows neither)."""
    with SlackServer() as server:
        settings.SLACK_WEBHOOK_HOSTS = [server.netloc]
        settings.SLACK_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        yield server


@pytest.fixture
def bystander():
    """A listener no webhook may reach: refusal tests point at it and count its connections."""
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
def _notification_settings(settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://tremor.example.com"
    settings.SLACK_TIMEOUT_SECONDS = 0.5
    # The production defaults, whatever a developer's .env says.
    settings.SLACK_WEBHOOK_HOSTS = ["hooks.slack.com"]
    settings.SLACK_WEBHOOK_ALLOWED_NETWORKS = []
    # OpenSSL reads it whenever a default context is made: the client trusts the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "ca.pem"))


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
def make_anomaly(make_anomaly):
    """The kit's anomaly with the figures the message tests read back: 1,200/day down to 400
    since 2025-05-12, with a possible cause."""
    return functools.partial(
        make_anomaly,
        baseline_value=Decimal("1200"),
        actual_value=Decimal("400"),
        start_date=dt.date(2025, 5, 12),
        possible_cause="SDK v3 rollout",
    )
