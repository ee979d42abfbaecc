"""Usage ingestion throughput on PostgreSQL: the bulk service against one query per row, and
the CSV import before and after issue 15 against its floor, a raw binary COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev .venv/bin/python bench/ingest.py

Works in a scratch database (tremor_bench_ingest on the same server) that it drops and
recreates, so it never touches the database DATABASE_URL names.
"""

import argparse
import contextlib
import os
import random
import struct
import subprocess
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
# Issue 15's bar for the CSV import of 1 M rows, end to end.
TARGET_ROWS_PER_SECOND = 150_000


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
    print(f"{label:<50} {rows:>9,} rows {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s")
    return result, rows / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument(
        "--csv-only", action="store_true", help="only the CSV import: before, after, floor"
    )
    parser.add_argument("--skip-memory", action="store_true", help="no peak RSS measurement")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("bench/ingest.py needs DATABASE_URL=postgres://... (a PostgreSQL server)")
    bench_url = scratch.scratch_url(url, name=SCRATCH_DB, script="bench/ingest.py")
    scratch.recreate_database(bench_url, name=SCRATCH_DB)
    setup_django(bench_url)

    from django.db import connection

    from customers.models import Customer

    Customer.objects.bulk_create(
        Customer(external_id=f"acct-{c:05}", name=f"Account {c}") for c in range(args.customers)
    )
    print(f"PostgreSQL {connection.pg_version}, scratch database {SCRATCH_DB}")
    records = generate(args.rows, args.customers)
    rows = len(records)
    if not args.csv_only:
        service_figures(records, args.naive_sample)
    if args.skip_csv:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.csv"
        write_csv(path, records)
        del records
        print()
        csv_figures(path, rows, bench_url, memory=not args.skip_memory)


def service_figures(records: list[dict], naive_sample: int) -> None:
    """usage_ingest (the API's path) on parsed records, and against one query per row."""
    from customers import ingest
    from customers.models import Customer, UsageMetric
    from customers.services import usage_ingest

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
    sample = records[:naive_sample]
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


def write_csv(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("customer_external_id,metric,date,value\n")
        f.writelines(
            f"{r['customer_external_id']},{r['metric']},{r['date']},{r['value']}\n" for r in records
        )


def csv_figures(path: Path, rows: int, bench_url: str, *, memory: bool) -> dict[str, float]:
    """The CSV import of `path` on an empty usage table three ways, in one run: the path
    import_usage took before issue 15 (the reference parser and usage_ingest), the command as
    it is, and the floor: binary COPY of the same rows straight into the table."""
    from django.core.management import call_command
    from django.db import connection

    from customers import ingest
    from customers.limits import usage_limits
    from customers.models import UsageMetric
    from customers.services import usage_ingest
    from customers.usage_csv import read_usage_csv

    table = connection.ops.quote_name(UsageMetric._meta.db_table)

    def empty():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
            cursor.execute(f"VACUUM ANALYZE {table}")

    data = path.read_bytes()
    _, reference_parse = timed(
        "parse + validate, reference (ingest.read_csv)",
        rows,
        lambda: ingest.read_csv(data, limits=usage_limits()),
    )
    _, bulk_parse = timed(
        "parse + validate, bulk (usage_csv)",
        rows,
        lambda: read_usage_csv(data, limits=usage_limits()),
    )

    def before():
        batch = ingest.read_csv(path.read_bytes(), limits=usage_limits())
        assert usage_ingest(batch=batch).inserted == rows

    def after():
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
            call_command("import_usage", str(path), stdout=devnull, stderr=devnull)

    empty()
    _, before_rate = timed("before: reference parser + usage_ingest (insert)", rows, before)
    empty()
    _, after_rate = timed("after: import_usage end to end (insert)", rows, after)
    assert UsageMetric.objects.count() == rows
    timed("after: import_usage end to end (unchanged)", rows, after)

    payload = copy_payload()
    empty()
    _, floor_rate = timed("floor: binary COPY of the same rows", rows, lambda: copy_rows(payload))
    assert UsageMetric.objects.count() == rows
    print()
    print(f"parse, bulk / reference:       {bulk_parse / reference_parse:8.1f}x")
    print(f"end to end, after / before:    {after_rate / before_rate:8.1f}x")
    print(
        f"end to end, after / floor:     {after_rate / floor_rate:8.2f}"
        f"  (target >= {TARGET_ROWS_PER_SECOND:,} rows/s: "
        f"{'met' if after_rate >= TARGET_ROWS_PER_SECOND else 'NOT met'} on this machine)"
    )
    figures = {
        "before": before_rate,
        "after": after_rate,
        "floor": floor_rate,
        "reference_parse": reference_parse,
        "bulk_parse": bulk_parse,
    }
    if memory:
        empty()
        figures["peak_rss_mb"] = peak_rss_mb(path, bench_url)
        print(f"import_usage peak RSS, own process: {figures['peak_rss_mb']:8.0f} MB")
    return figures


def copy_payload() -> bytes:
    """The usage table's rows, as they are now, as a binary COPY payload (built before the
    clock starts: the floor is the server's share alone)."""
    from django.db import connection

    from customers.models import UsageMetric

    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack("!ii", 0, 0)]
    pg_epoch = date(2000, 1, 1)
    table = connection.ops.quote_name(UsageMetric._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT customer_id, metric, date, value FROM {table}")  # noqa: S608
        for customer_id, metric, day, value in cursor.fetchall():
            name = metric.encode()
            out.append(
                struct.pack(
                    f"!hi16si{len(name)}siiid",
                    4,
                    16,
                    customer_id.bytes,
                    len(name),
                    name,
                    4,
                    (day - pg_epoch).days,
                    8,
                    value,
                )
            )
    out.append(struct.pack("!h", -1))
    return b"".join(out)


def copy_rows(payload: bytes) -> None:
    from django.db import connection

    from customers.models import UsageMetric

    table = connection.ops.quote_name(UsageMetric._meta.db_table)
    with connection.cursor() as cursor:
        columns = "customer_id, metric, date, value"
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            for start in range(0, len(payload), 1 << 20):
                copy.write(payload[start : start + (1 << 20)])


# Run in the measured process: manage.py import_usage, then that process's own peak resident
# memory (VmHWM; getrusage of a child would count the pages of this big parent it forked from).
_PEAK_RSS_CHILD = """
import runpy, sys
sys.argv = ["manage.py", "import_usage", sys.argv[1]]
try:
    runpy.run_path("manage.py", run_name="__main__")
finally:
    peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    print(peak[0].split()[1], file=sys.stderr)
"""


def peak_rss_mb(path: Path, bench_url: str) -> float:
    """Peak resident memory of `manage.py import_usage` importing `path` in a process of its
    own (the figure the issue asks about: bounded, whatever the file's size)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_CHILD, str(path)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": bench_url},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return int(done.stderr.split()[-1]) / 1024  # kB


if __name__ == "__main__":
    main()
