"""Reads. Keyword-only functions named <entity>_<action>."""

from django.db.models import Q
from django.utils import timezone

from .models import ApiToken, hash_key


def api_token_usable(*, key: str) -> ApiToken | None:
    """The token this key belongs to, with its user, unless it is revoked or expired."""
    now = timezone.now()
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
