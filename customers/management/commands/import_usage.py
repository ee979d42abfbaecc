import mmap
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers import ingest
from customers.limits import usage_limits
from customers.selectors import active_user_ids_by_username
from customers.services import usage_import
from customers.usage_csv import read_usage_csv

# Below this size (about 50,000 rows) the import finishes before a progress bar would be
# worth drawing.
PROGRESS_MIN_BYTES = 2_000_000


class Command(BaseCommand):
    help = (
        "Import daily usage values from a CSV file with the columns "
        "customer_external_id,metric,date,value (and optionally customer_name and csm, "
        "the username of the account's CSM). Re-importing the same file changes nothing. "
        "An account that already has a CSM keeps it."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to a UTF-8 CSV file")
        parser.add_argument(
            "--create-customers",
            action="store_true",
            help="create a customer for every unknown external id, named from customer_name",
        )
        parser.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="import the good rows and list the rejected ones (default: all or nothing)",
        )
        parser.add_argument(
            "--csm",
            default="",
            metavar="USERNAME",
            help="make this user the CSM of every imported account that has none (new or "
            "existing) and no csm in the file; accounts with a CSM keep theirs",
        )

    def handle(self, *args, file, create_customers, skip_bad_rows, csm, **options):
        csm = csm.strip()
        if csm and not active_user_ids_by_username([csm]):
            raise CommandError(f"--csm: no active user {csm!r}")
        try:
            with open(file, "rb") as f:
                data = _mapped(f)
                size = len(data)
                with tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc="Reading",
                    file=sys.stderr,
                    disable=size < PROGRESS_MIN_BYTES,
                ) as progress:
                    table = read_usage_csv(data, limits=usage_limits(), progress=progress.update)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except ingest.UsageFileError as exc:
            raise CommandError(f"{file}: {exc}") from None

        if size >= PROGRESS_MIN_BYTES:
            self.stderr.write(f"Writing {len(table):,} rows...")
        result = usage_import(
            table=table, create_customers=create_customers, skip_bad_rows=skip_bad_rows, csm=csm
        )

        for line in ingest.errors_lines(result.errors):
            self.stderr.write(line)

        if not result.written:
            raise CommandError(
                f"{result.rejected} bad row(s) in {file}; nothing was imported. "
                "Fix them, or use --skip-bad-rows to import the rest."
            )
        summary = (
            f"{result.inserted} inserted, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.rejected} rejected"
        )
        if create_customers:
            summary += f", {result.customers_created} customers created"
        if result.csm_assigned:
            summary += f", {result.csm_assigned} accounts given a CSM"
        for external_id, owner, named in result.csm_kept:
            self.stderr.write(
                f"customer {external_id!r} keeps its CSM {owner!r} (the import named {named!r}; "
                "change an owner in admin)"
            )
        self.stdout.write(self.style.SUCCESS(summary))


def _mapped(file) -> bytes | mmap.mmap:
    """The file's bytes, mapped rather than read: the parser reads the page cache in blocks,
    and the process never holds a copy of the whole file. The map is left to close when
    dropped: an error's traceback may still hold views of it here."""
    try:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # empty, or not a regular file (a pipe)
        return file.read()
