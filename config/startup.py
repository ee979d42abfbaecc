"""What the WSGI and ASGI entry points check before they serve a single request."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_development_key_in_production() -> None:
    # Serving real traffic with the development key would make every session forgeable.
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "Set SECRET_KEY in the environment before serving with DEBUG off."
        )
