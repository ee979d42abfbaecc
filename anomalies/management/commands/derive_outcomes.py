from django.core.management.base import BaseCommand, CommandError

from anomalies.services.outcomes import outcome_window_days, outcomes_derive


class Command(BaseCommand):
    help = (
        "Derive the outcomes of every anomaly again from the accounts' lifecycle changes (after "
        "changing ANOMALY_OUTCOME_WINDOW_DAYS, or lifecycle rows written outside Tremor). "
        "Outcomes set by a CSM are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--window-days",
            type=int,
            default=None,
            help="days after an anomaly's start a lifecycle change counts (the setting)",
        )

    def handle(self, *args, window_days, **options):
        window = window_days if window_days is not None else outcome_window_days()
        if window < 0:
            raise CommandError(f"--window-days must be 0 or more, got {window}")
        changed = outcomes_derive(window_days=window)
        self.stdout.write(
            self.style.SUCCESS(f"{changed} outcome(s) changed (window {window} days)")
        )
