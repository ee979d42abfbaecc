"""Where a Slack webhook may point, and the one connection that goes there.

A CSM types the webhook URL and our worker POSTs to it from inside our network, so without
rules it reaches whatever the worker can: https://169.254.169.254/ (the cloud's metadata
service), https://127.0.0.1:6379/ (our Redis), a host on the office network. The rules, checked
on the text when the URL is saved and again before every send, then on every address the host
resolves to:

- https only (the URL is a secret sent with every message), no user name or password in it;
- the host in SLACK_WEBHOOK_HOSTS (hooks.slack.com by default; empty means any public host);
- port 443 unless the allow-list entry names another (`relay.example.com:8443`). Slack only
  listens on 443, and with an empty allow-list other ports would let a CSM probe any service
  on any public host (SMTP, databases) and read the answer from the delivery's error;
- every address the host resolves to public: not loopback, private, link-local, multicast,
  reserved or unspecified, IPv4 inside IPv6 unwrapped first; SLACK_WEBHOOK_ALLOWED_NETWORKS
  lists the exceptions (a relay on your own network);
- no redirect is ever followed: it would lead anywhere without these checks.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

HTTPS_PORT = 443
# Names that only ever mean a machine of our own (RFC 6761 localhost, mDNS .local, ICANN's
# .internal for private use, RFC 8375 home.arpa), and single-label names ("metadata",
# "redis") that the resolver's search list completes inside our network.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# (the check, how the refusal names it), first match wins: 169.254.169.254 is private too,
# but "link-local" is what tells ops it is the metadata service.
REFUSED_KINDS = (
    ("is_loopback", "a loopback address"),
    ("is_unspecified", "the unspecified address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
)


class WebhookRefused(Exception):
    """The URL breaks a rule; the message says which, for the CSM who typed it."""


@dataclass(frozen=True)
class WebhookTarget:
    host: str  # lower case, IPv6 without brackets: what TLS and the Host header name
    port: int
    path: str  # the request line's path and query
    addresses: tuple  # getaddrinfo()'s answers, every one checked


def webhook_url_error(url: str) -> str | None:
    """What is wrong with a webhook URL as typed (no name lookup), or None. Empty is fine."""
    if not url:
        return None
    try:
        _url_checked(url)
    except WebhookRefused as exc:
        return str(exc)
    return None


def webhook_url_normalize(url: str) -> str:
    """The URL as stored: scheme and host in lower case, no :443. Path and query keep their
    case (the secret is in them). Only for a URL webhook_url_error() accepted."""
    if not url:
        return url
    parts, host, port = _url_checked(url)
    return urlunsplit(("https", _netloc(host, port), parts.path, parts.query, parts.fragment))


def webhook_post(url: str, body: bytes, *, timeout: float) -> int:
    """POST a JSON body to the webhook; the response's status (a 3xx is returned, never
    followed). Raises WebhookRefused when the URL or an address of its host breaks a rule,
    OSError or http.client.HTTPException when the peer cannot be reached or talked to."""
    target = webhook_target(url)
    connection = _PinnedHTTPSConnection(target, timeout=timeout)
    try:
        connection.request(
            "POST", target.path, body=body, headers={"Content-Type": "application/json"}
        )
        # The status is all we need: the body is never read, so a peer cannot stream one
        # at us for as long as each read stays under the timeout.
        return connection.getresponse().status
    finally:
        connection.close()


def webhook_target(url: str) -> WebhookTarget:
    """Check the URL, resolve its host and check every address. socket.gaierror (an OSError)
    when the name does not resolve: that may pass, so it is not a refusal."""
    parts, host, port = _url_checked(url)
    addresses = tuple(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    for *_, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0])
        if kind := _address_refused(address):
            # Any bad answer refuses the lot: a name with one public and one internal address
            # is the classic way past a check that looks at the first.
            raise WebhookRefused(
                f"The Slack webhook URL's host {host} resolves to {address}, {kind}."
            )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return WebhookTarget(host=host, port=port, path=path, addresses=addresses)


def _url_checked(url: str) -> tuple[SplitResult, str, int]:
    """The URL split, its host and port, once the text passes every rule."""
    try:
        parts = urlsplit(url.strip())
        port = HTTPS_PORT if parts.port is None else parts.port
    except ValueError:  # a port that is not a number, an unclosed [
        raise WebhookRefused("The Slack webhook URL is not a valid URL.") from None
    # urlsplit lowers the scheme, so HTTPS:// passes here and at send time alike.
    if parts.scheme != "https":
        raise WebhookRefused("The Slack webhook URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("The Slack webhook URL must not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise WebhookRefused("The Slack webhook URL has no host.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None  # a name: its addresses are checked at send time, where they count
    allowed = _allowed_hosts()
    if allowed:
        if (host, port) not in allowed:
            names = " or ".join(settings.SLACK_WEBHOOK_HOSTS)
            raise WebhookRefused(f"The Slack webhook URL must point to {names}.")
    elif port != HTTPS_PORT:
        raise WebhookRefused("The Slack webhook URL must use the standard HTTPS port (443).")
    elif literal is None and ("." not in host or host.endswith(LOCAL_SUFFIXES)):
        # Only without an allow-list: a name the operator listed is theirs to vouch for (its
        # addresses are still checked).
        raise WebhookRefused(f"The Slack webhook URL's host {host} is a local name.")
    if literal is not None and (kind := _address_refused(literal)):
        raise WebhookRefused(f"The Slack webhook URL points to {host}, {kind}.")
    return parts, host, port


def _netloc(host: str, port: int) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return netloc if port == HTTPS_PORT else f"{netloc}:{port}"


def _allowed_hosts() -> set[tuple[str, int]]:
    allowed = set()
    for entry in settings.SLACK_WEBHOOK_HOSTS:
        try:
            parts = urlsplit(f"//{entry.strip()}")
            allowed.add((parts.hostname, HTTPS_PORT if parts.port is None else parts.port))
        except ValueError as exc:
            raise ImproperlyConfigured(f"SLACK_WEBHOOK_HOSTS: bad entry {entry!r}") from exc
    return allowed


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [
            ipaddress.ip_network(entry.strip(), strict=False)
            for entry in settings.SLACK_WEBHOOK_ALLOWED_NETWORKS
        ]
    except ValueError as exc:
        raise ImproperlyConfigured(f"SLACK_WEBHOOK_ALLOWED_NETWORKS: {exc}") from exc


def _address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why the worker must not connect to this address (a phrase), or None."""
    if any(address in network for network in _allowed_networks()):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 carried in IPv6 reaches the IPv4 address: ::ffff:127.0.0.1 is loopback.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            kind = _address_refused(embedded)
            return f"{kind} ({embedded} inside IPv6)" if kind else None
    for check, kind in REFUSED_KINDS:
        if getattr(address, check):
            return kind
    # What the flags above do not name, such as 100.64.0.0/10 (carrier-grade NAT: neither
    # private nor global). Multicast is checked by name because Python 3.11 calls 224.0.0.1
    # global.
    if not address.is_global:
        return "not a public address"
    return None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the addresses webhook_target() checked, never to a fresh lookup of the
    name: a second answer could be 127.0.0.1 (DNS rebinding, a TTL of zero). The TLS handshake
    (SNI, the certificate's name) and the Host header still use the host name. No proxy:
    urllib would honour HTTPS_PROXY, whose own lookup we could not check."""

    def __init__(self, target: WebhookTarget, *, timeout: float):
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._checked_addresses = target.addresses

    def connect(self):
        error = OSError(f"no address for {self.host}")
        for *_, sockaddr in self._checked_addresses:
            try:
                # A numeric address: create_connection() does no lookup of its own.
                sock = socket.create_connection(sockaddr[:2], self.timeout)
                break
            except OSError as exc:
                error = exc
        else:
            raise error
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
