"""Usage ingestion throughput on PostgreSQL: the bulk service against one query per row.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev .venv/bin/python bench/ingest.py

Works in a scratch database (tremor_bench_ingest on the same server) that it drops and
recreates, so it never touches the database DATABASE_URL names.
"""

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anomalies.detection.vocabulary import CORE_METRICS, feature_metric  # noqa: E402
from bench import scratch  # noqa: E402

SCRATCH_DB = "tremor_bench_ingest"
METRICS = (*CORE_METRICS, feature_metric("reports"), feature_metric("exports"))
# Above this the CSV path is skipped: it re-parses the whole file in Python.
CSV_MAX_SECONDS = 120


def setup_django(url: str) -> None:
    # Must be set before django.setup(): settings read DATABASE_URL once, at import.
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generate(rows: int, customers: int) -> list[dict]:
    """Deterministic records: every customer x metric x day, until `rows` are made."""
    rng = random.Random(20240301)
    days = -(-rows // (customers * len(METRICS)))
    start = date(2023, 1, 1)
    records = []
    for d in range(days):
        day = (start + timedelta(days=d)).isoformat()
        for c in range(customers):
            for metric in METRICS:
                records.append(
                    {
                        "customer_external_id": f"acct-{c:05}",
                        "metric": metric,
                        "date": day,
                        "value": float(rng.randrange(0, 5000)),
                    }
                )
                if len(records) == rows:
                    return records
    return records


def timed(label: str, rows: int, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {rows:>9,} rows {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s")
    return result, rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--skip-csv", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("bench/ingest.py needs DATABASE_URL=postgres://... (a PostgreSQL server)")
    bench_url = scratch.scratch_url(url, name=SCRATCH_DB, script="bench/ingest.py")
    scratch.recreate_database(bench_url, name=SCRATCH_DB)
    setup_django(bench_url)

    from django.core.management import call_command
    from django.db import connection

    from customers import ingest
    from customers.models import Customer, UsageMetric
    from customers.services import usage_ingest

    Customer.objects.bulk_create(
        Customer(external_id=f"acct-{c:05}", name=f"Account {c}") for c in range(args.customers)
    )
    print(f"PostgreSQL {connection.pg_version}, scratch database {SCRATCH_DB}")
    records = generate(args.rows, args.customers)
    rows = len(records)

    batch, _ = timed(
        "parse + validate (ingest.parse_records)", rows, lambda: ingest.parse_records(records)
    )
    assert not batch.errors
    first, bulk_rate = timed(
        "bulk service, first import (insert)", rows, lambda: usage_ingest(batch=batch)
    )
    assert first.inserted == rows, first
    again, reimport_rate = timed(
        "bulk service, re-import (all unchanged)", rows, lambda: usage_ingest(batch=batch)
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, rows), again
    changed = ingest.parse_records([r | {"value": r["value"] + 1} for r in records])
    updated, update_rate = timed(
        "bulk service, re-import (all changed)", rows, lambda: usage_ingest(batch=changed)
    )
    assert updated.updated == rows, updated

    # The naive path on keys that do not exist yet (a new metric), then again on the same
    # keys, so it is compared with the bulk path doing the same kind of work.
    sample = records[: args.naive_sample]
    ids = dict(Customer.objects.values_list("external_id", "id"))

    def naive():
        for r in sample:
            UsageMetric.objects.update_or_create(
                customer_id=ids[r["customer_external_id"]],
                metric="naive_" + r["metric"].replace(":", "_"),
                date=date.fromisoformat(r["date"]),
                defaults={"value": r["value"]},
            )

    _, naive_insert_rate = timed("naive update_or_create per row (insert)", len(sample), naive)
    _, naive_again_rate = timed("naive update_or_create per row (unchanged)", len(sample), naive)
    print()
    print(f"bulk / naive, insert:    {bulk_rate / naive_insert_rate:8.1f}x")
    print(f"bulk / naive, unchanged: {reimport_rate / naive_again_rate:8.1f}x")

    if args.skip_csv:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("customer_external_id,metric,date,value\n")
            f.writelines(
                f"{r['customer_external_id']},{r['metric']},{r['date']},{r['value']}\n"
                for r in records
            )
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {UsageMetric._meta.db_table}")
        print()

        def import_csv():
            # The command's progress bar writes to sys.stderr; keep it out of the figures.
            with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
                call_command("import_usage", str(path), stdout=devnull, stderr=devnull)

        _, csv_rate = timed("import_usage CSV end to end (insert)", rows, import_csv)
        timed("import_usage CSV end to end (unchanged)", rows, import_csv)
        assert UsageMetric.objects.count() == rows
        if rows / csv_rate > CSV_MAX_SECONDS:
            print(f"(CSV import took over {CSV_MAX_SECONDS} s)")


if __name__ == "__main__":
    main()
