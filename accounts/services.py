"""Writes. Keyword-only functions named <entity>_<action>."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import ApiToken

# last_used_at is for people ("is this token still in use?"): minute precision is plenty, and
# a busy client then costs one UPDATE a minute instead of one per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def api_token_create(
    *, user: AbstractBaseUser, name: str = "", expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token and its key; the key is not stored and cannot be shown again."""
    token = ApiToken(user=user, name=name, expires_at=expires_at)
    key = token.assign_new_key()
    token.save()
    return token, key


def api_token_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke the tokens not revoked yet; returns how many were."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_mark_used(*, token: ApiToken) -> None:
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
