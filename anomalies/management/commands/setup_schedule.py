from django.core.management.base import BaseCommand

from anomalies.schedule import DAILY_SCAN_NAME, schedule_ensure


class Command(BaseCommand):
    help = "Register the nightly anomaly scan in django-celery-beat (runs after every migrate)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="reset the schedule to the settings' hour and minute, undoing admin edits",
        )

    def handle(self, *args, force, **options):
        written = schedule_ensure(force=force)
        state = "registered" if written else "already registered (use --force to reset it)"
        self.stdout.write(f"{DAILY_SCAN_NAME}: {state}")
