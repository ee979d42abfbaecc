import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import api_token_create


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print its key, once: only its hash is stored "
        "(use it as 'Authorization: Token <key>'; revoke it in admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--expires-days", type=positive_int, help="Days until it expires (default: never)."
        )
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args, username, expires_days, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        expires_at = timezone.now() + dt.timedelta(days=expires_days) if expires_days else None
        _, key = api_token_create(user=user, name=name, expires_at=expires_at)
        self.stdout.write(key)
