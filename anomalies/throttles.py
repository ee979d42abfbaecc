"""The per-user scan rate, one allowance shared by the scan API and the customer page's Rescan.

A rate such as "30/hour" (SCAN_THROTTLE_RATE, DRF's syntax) is kept as 30 slots per user in
Django's cache: a scan takes a free slot, which frees itself an hour later. That is DRF's
sliding window (never more than 30 in any hour), but taking a slot is one `cache.add`, atomic
on Redis (SET NX) and in local memory. DRF's own throttle reads the history, appends and writes
it back: two workers throttling at once both write, and one scan goes uncounted.

The cache is Redis in production, so every gunicorn worker and host counts against the same
slots. When Redis cannot be reached the throttle fails open: it lets the scan through and logs
a warning. Throttling protects capacity, not data, and a Redis outage should not turn every
scan into an error (the scan itself needs the broker, and says so if it is down).
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'30/hour' -> (30, 3600). As DRF: the period's first letter counts (s, m, h, d)."""
    count, _, period = rate.partition("/")
    seconds = _PERIOD_SECONDS.get(period[:1])
    if not count.isdigit() or seconds is None:
        raise ImproperlyConfigured(
            f"Rate {rate!r} is not '<number>/<second|minute|hour|day>', e.g. '30/hour'."
        )
    return int(count), seconds


def _slot_take(scope: str, ident: object, *, rate: str) -> float | None:
    """Take one of the slots of `ident` in `scope`: None when one was free, else the seconds
    until the oldest frees up."""
    limit, period = parse_rate(rate)
    keys = [f"throttle:{scope}:{ident}:{slot}" for slot in range(limit)]
    try:
        taken = cache.get_many(keys)
        now = time.time()
        for key in keys:
            # Another worker may take the same free slot between get_many and add: add then
            # fails and we try the next one.
            if key not in taken and cache.add(key, now, timeout=period):
                return None
        taken = cache.get_many(keys)
    except redis.RedisError as exc:
        logger.warning("%s throttle not applied, the cache is unreachable: %s", scope, exc)
        return None
    oldest = min(taken.values(), default=now - period)
    return max(oldest + period - now, 0.0)


def scan_throttle_wait(user) -> float | None:
    """Count one scan for `user`: None when it is allowed, else seconds until one will be."""
    return _slot_take("scan", user.pk, rate=settings.SCAN_THROTTLE_RATE)


def scan_throttle_allows(user) -> bool:
    """Whether `user` may start a scan now; an allowed scan is counted."""
    return scan_throttle_wait(user) is None


class ScanThrottle(BaseThrottle):
    """The scan rate for DRF views (after authentication, so the user is known)."""

    def allow_request(self, request, view):
        self._wait = scan_throttle_wait(request.user)
        return self._wait is None

    def wait(self):
        return self._wait
