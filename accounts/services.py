"""Writes. Keyword-only functions named <entity>_<action>."""

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import ApiToken, PasswordResetRequest

# last_used_at is for people ("is this token still in use?"): minute precision is plenty, and
# a busy client then costs one UPDATE a minute instead of one per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def api_token_create(
    *, user: User, name: str = "", expires_at: dt.datetime | None = None
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
    # The token was read for this request: when its mark is recent, the UPDATE below would
    # match no row, so a busy client's requests skip that statement altogether.
    if token.last_used_at is not None and token.last_used_at >= now - LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


@transaction.atomic
def password_reset_request_record(*, email: str, ip_address: str | None) -> bool:
    """Whether a reset email may go to this address now; if so, the request is counted.

    Refused requests are not stored, so one client cannot grow the table past its own limit.
    Two requests at once can both pass at the limit: an accepted race, one email too many.
    """
    email = email.strip().lower()  # the reset form looks users up case-insensitively
    since = timezone.now() - dt.timedelta(minutes=settings.PASSWORD_RESET_WINDOW_MINUTES)
    PasswordResetRequest.objects.filter(created_at__lt=since).delete()
    recent = PasswordResetRequest.objects.filter(created_at__gte=since)
    if recent.filter(email=email).count() >= settings.PASSWORD_RESET_LIMIT_PER_EMAIL:
        return False
    if (
        ip_address is not None
        and recent.filter(ip_address=ip_address).count()
        >= settings.PASSWORD_RESET_LIMIT_PER_ADDRESS
    ):
        return False
    PasswordResetRequest.objects.create(email=email, ip_address=ip_address)
    return True
