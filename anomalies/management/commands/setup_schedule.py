from django.core.management.base import BaseCommand

from config.schedule import Outcome, schedule_install

_SAID = {
    Outcome.CREATED: "registered",
    Outcome.RESET: "reset to the defaults",
    Outcome.UNCHANGED: "already registered",
    Outcome.KEPT: "edited in admin, kept (use --force to reset it)",
}


class Command(BaseCommand):
    help = (
        "Register every periodic task of config/schedule.py in django-celery-beat "
        "(runs after every migrate)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="reset every periodic task to the table and the settings, undoing admin edits",
        )

    def handle(self, *args, force, **options):
        for name, outcome in schedule_install(force=force).items():
            self.stdout.write(f"{name}: {_SAID[outcome]}")
