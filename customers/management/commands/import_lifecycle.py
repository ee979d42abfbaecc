from django.core.management.base import BaseCommand, CommandError

from customers import ingest, lifecycle
from customers.limits import usage_limits
from customers.services import lifecycle_import


class Command(BaseCommand):
    help = (
        "Import lifecycle changes (churned, contracted, renewed, expanded) from a CSV file with "
        "the columns customer_external_id,kind,date (and optionally arr_before, arr_after, "
        "note). All or nothing; a change already recorded (same customer, kind and date) is "
        "updated, so re-importing the same file changes nothing. The outcomes of the accounts' "
        "anomalies are derived again."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to a UTF-8 CSV file")

    def handle(self, *args, file, **options):
        try:
            with open(file, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None

        lines = ingest.decode_csv(data).splitlines(keepends=True)
        try:
            batch = lifecycle.parse_csv(lines, limits=usage_limits())
        except ingest.UsageFileError as exc:
            raise CommandError(f"{file}: {exc}") from None

        result = lifecycle_import(batch=batch)

        for line in ingest.errors_lines(result.errors):
            self.stderr.write(line)
        if not result.written:
            raise CommandError(
                f"{result.rejected} bad row(s) in {file}; nothing was imported. Fix them and "
                "import the file again."
            )
        self.stdout.write(self.style.SUCCESS(f"{result.created} created, {result.updated} updated"))
