import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address a request came from, for login lockout and password-reset limits.

    Without trusted proxies it is REMOTE_ADDR. Behind TRUSTED_PROXY_COUNT proxies that each
    append to X-Forwarded-For, it is the entry that many places from the right: the address
    the outermost proxy saw. Entries further left are whatever the client chose to send, so
    trusting them would let an attacker pick a new address for every guess; and trusting no
    header behind a proxy would put every user behind one address, a lockout for all at once.
    """
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        if len(forwarded) >= proxies:
            remote = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(remote))
    except ValueError:
        return None
