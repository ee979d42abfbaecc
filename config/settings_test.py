"""Test settings: production settings (DEBUG off, secure cookies, HSTS) with only what a test
client over plain HTTP needs changed."""

from .settings import *  # noqa: F403

# The test client speaks plain HTTP; redirecting it to https would hide every response.
SECURE_SSL_REDIRECT = False
# Hashing with PBKDF2's 1M iterations dominates a suite that logs users in a lot.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No collectstatic before tests: serve plain static names instead of the hashed manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
