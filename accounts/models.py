import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# A recognizable start ("tmr_") lets secret scanners and people spot a leaked Tremor key; the
# 32 random bytes after it are what makes it unguessable.
KEY_START = "tmr_"
KEY_RANDOM_BYTES = 32
# Shown in admin and stored in clear: enough characters to tell tokens apart, far too few to
# help guess the rest (for keys migrated from DRF's 40-hex tokens, 48 of 160 bits).
PREFIX_CHARS = 12


def hash_key(key: str) -> str:
    """SHA-256 of the key. A plain hash, not a slow password hash: the key is 256 random bits,
    so there is nothing to brute-force, and every API request pays for the lookup."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """An API key for `Authorization: Token <key>`. Only its hash is stored; the key itself is
    shown once, when the token is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(max_length=PREFIX_CHARS, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the token never expires."
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    def assign_new_key(self) -> str:
        """Give this (unsaved) token a fresh key and return it: the only time it is known."""
        key = KEY_START + secrets.token_urlsafe(KEY_RANDOM_BYTES)
        self.prefix = key[:PREFIX_CHARS]
        self.key_hash = hash_key(key)
        return key


class PasswordResetRequest(models.Model):
    """A password-reset email sent, kept for the limit's window (PASSWORD_RESET_WINDOW_MINUTES)
    to count recent ones per address and per email; older rows are deleted as new ones come."""

    email = models.CharField(max_length=254)
    ip_address = models.GenericIPAddressField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.email} from {self.ip_address} at {self.created_at:%Y-%m-%d %H:%M}"
