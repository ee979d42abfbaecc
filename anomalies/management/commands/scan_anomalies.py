import argparse
import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from anomalies.models import ScanRun
from anomalies.services.scans import (
    ChunkOutcome,
    ScanAlreadyRunning,
    ScanNotQueued,
    scan_run_sync,
    scan_start,
)
from config.progress import ProgressLines, progress_output
from customers.models import Customer


class Command(BaseCommand):
    help = "Scan accounts for usage anomalies now (all active accounts, or the given ones)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customer",
            action="append",
            dest="customers",
            metavar="EXTERNAL_ID",
            help="scan only this account (repeatable)",
        )
        parser.add_argument(
            "--sync",
            action="store_true",
            help="scan in this process instead of sending the work to Celery workers",
        )
        parser.add_argument(
            "--timeout", type=int, default=3600, help="seconds to wait for the workers"
        )
        parser.add_argument(
            "--as-of",
            type=_date,
            default=None,
            metavar="YYYY-MM-DD",
            help="scan as if today were this day (default: today), e.g. to backfill",
        )

    def handle(self, *args, customers, sync, timeout, as_of, verbosity, **options):
        ids = None
        if customers:
            found = dict(
                Customer.objects.filter(external_id__in=customers).values_list("external_id", "pk")
            )
            unknown = sorted(set(customers) - set(found))
            if unknown:
                raise CommandError(f"unknown customer external id(s): {', '.join(unknown)}")
            ids = list(found.values())
        try:
            run = scan_start(
                trigger=ScanRun.Trigger.SHELL, customer_ids=ids, as_of=as_of, enqueue=not sync
            )
        except (ScanAlreadyRunning, ScanNotQueued) as exc:
            raise CommandError(str(exc)) from None

        write = progress_output(self.stderr, verbosity=verbosity)
        write(f"scanning {run.customers_total:,} accounts in {run.chunks_total:,} chunk(s)")
        progress = ProgressLines(write, "scanning", total=run.chunks_total, unit="chunks")
        series = 0
        if sync:

            def chunk_done(outcome: ChunkOutcome) -> None:
                nonlocal series
                series += outcome.series
                progress.update(1, f", {series:,} series")

            run = scan_run_sync(run=run, progress=chunk_done)
        else:
            deadline = time.monotonic() + timeout
            while run.status in ScanRun.ACTIVE_STATUSES:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"scan {run.pk} still {run.status} after {timeout}s: are workers running?"
                    )
                time.sleep(0.5)
                run.refresh_from_db()
                if run.chunks_done != progress.done:
                    progress.at(run.chunks_done, f", {run.series_count:,} series")
        self._summary(run)
        if run.status == ScanRun.Status.FAILED:
            raise CommandError(f"scan {run.pk} failed: {run.errors[-1:] or 'see admin'}")

    def _summary(self, run: ScanRun):
        rows = [
            ("scan", str(run.pk)),
            ("status", run.get_status_display()),
            ("as of", str(run.as_of)),
            ("customers", f"{run.customers_done} / {run.customers_total}"),
            ("series", str(run.series_count)),
            ("anomalies new", str(run.anomalies_new)),
            ("anomalies updated", str(run.anomalies_updated)),
            ("anomalies resolved", str(run.anomalies_resolved)),
            ("errors", str(run.error_count)),
            ("duration", f"{run.duration.total_seconds():.1f}s" if run.duration else "-"),
        ]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            self.stdout.write(f"{key.ljust(width)}  {value}")
        for error in run.errors[:20]:
            self.stderr.write(f"error: {error}")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None
