"""Full-scan scale: a whole portfolio scanned through real Redis and Celery workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/scan_scale.py [--accounts 10000] [--metrics 10] [--days 180]
        [--naive-sample 50] [--chunk 500] [--workers 2] [--layout date]
        [--read-paths text,binary] [--scratch-db tremor_bench_scan] [--keep-db] [--reuse-db]

Seeds accounts x metrics x days of usage into a scratch database (`--scratch-db` on the
DATABASE_URL server, dropped and recreated; the database DATABASE_URL names is never
touched) with binary COPY, starts `--workers` Celery workers (`--pool=solo`, one process
each, so each one's peak memory is its own) on a dedicated Redis database (index
`--redis-db` of the REDIS_URL server, flushed first), runs `scan_start` as of the
last seeded day and waits for the run to finish; once per `--read-paths` entry (text: the
CSV COPY parsed by pandas, as before issue 15; binary: scan_inputs.usage_batch), on the
same data, then compares them. Then, in a separate process, the naive path on a sample of
accounts: one ORM read and one `detect_series` call per series.

`--layout date` (default) stores rows day by day, as daily ingestion lays them out, so one
chunk's rows are spread over the whole table; `--layout customer` stores each account's
rows together (the best case, as after CLUSTER).
"""

import os

# One BLAS thread per process: the workers get one core each.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anomalies.detection.vocabulary import (  # noqa: E402
    CORE_METRICS,
    Direction,
    feature_metric,
)

OUT = ROOT / "bench" / "out"
SCRATCH_DB = "tremor_bench_scan"
TABLE = "customers_usagemetric"
BASE_METRICS = CORE_METRICS + tuple(
    feature_metric(name)
    for name in ("reports", "exports", "dashboards", "alerts", "search", "sharing", "integrations")
)
END = dt.date(2026, 3, 29)  # the last seeded day, the scan's as_of
SEED = 20260329
DROP_SHARE = 0.02
DROP_MIN_LEVEL = 50.0  # drops are injected into series whose typical day is at least this
MISSING_SHARE = 0.005
PG_EPOCH = dt.date(2000, 1, 1)
# Issue 15's targets for the default run (10k accounts x 10 metrics x 180 days, 2 workers).
TARGET_SECONDS = 15.0
TARGET_WORKER_MB = 400.0
READ_PATHS = {"text": "CSV COPY + pandas", "binary": "binary COPY + numpy"}


# --- setup ------------------------------------------------------------------------------------


def urls_from_env(redis_db: int, scratch_db: str) -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(
            "bench/scan_scale.py needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(got {url!r}); it works in a scratch database {scratch_db} on that server"
        )
    redis_url = os.environ.get("REDIS_URL", "")
    rparts = urlsplit(redis_url)
    if rparts.scheme not in {"redis", "rediss"}:
        sys.exit(
            "bench/scan_scale.py needs Redis: set REDIS_URL=redis://host:6379/0 "
            f"(got {redis_url!r}); it uses database {redis_db} of that server"
        )
    return (
        urlunsplit(parts._replace(path="/" + scratch_db)),
        urlunsplit(rparts._replace(path=f"/{redis_db}")),
    )


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres", scheme="postgresql"))


def psycopg_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def database_exists(url: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name(url),))
        return row.fetchone() is not None


def recreate_database(url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name(url)}"')


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')


def setup_django(db_url: str, redis_url: str, chunk: int) -> None:
    # Settings read the environment once, at import: set everything before django.setup().
    os.environ.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        SCAN_CHUNK_CUSTOMERS=str(chunk),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- data ------------------------------------------------------------------------------------


def metric_names(n: int) -> list[str]:
    names = list(BASE_METRICS[:n])
    names += [feature_metric(f"extra_{k}") for k in range(n - len(names))]
    return names


def generate(accounts: int, metrics: int, days: int):
    """Deterministic usage: values[a, m, d] (NaN = no row), and the injected drops as
    (account, metric, first day index)."""
    rng = np.random.default_rng(SEED)
    start = END - dt.timedelta(days=days - 1)
    t = np.arange(days)
    account_level = np.exp(rng.uniform(np.log(20), np.log(50_000), accounts))
    # api_calls at the account's level, people metrics and features a share of it.
    share = np.exp(rng.uniform(np.log(0.01), np.log(1.0), (accounts, metrics)))
    share[:, 0] = 1.0
    level = account_level[:, None] * share
    dow = (start.weekday() + t) % 7
    weekend = rng.uniform(0.3, 0.95, (accounts, metrics))
    week = np.where(dow[None, None, :] >= 5, weekend[:, :, None], 1.0)
    growth = np.exp(rng.normal(0.1, 0.3, accounts)[:, None, None] * t[None, None, :] / 365)
    sigma = rng.uniform(0.03, 0.12, (accounts, metrics))
    noise = np.exp(rng.standard_normal((accounts, metrics, days)) * sigma[:, :, None])
    expected = level[:, :, None] * week * growth * noise
    del week, noise

    eligible = np.flatnonzero((level * np.exp(0.1 * days / 365)).ravel() >= DROP_MIN_LEVEL)
    n_drops = round(DROP_SHARE * accounts * metrics)
    picked = np.sort(rng.choice(eligible, size=min(n_drops, eligible.size), replace=False))
    drops = []
    for flat in picked:
        a, m = divmod(int(flat), metrics)
        first = days - int(rng.integers(3, 8))  # the last 3 to 7 days
        expected[a, m, first:] *= rng.uniform(0.1, 0.5)
        drops.append((a, m, first))

    values = rng.poisson(expected).astype(np.float64)
    del expected
    values[rng.random(values.shape) < MISSING_SHARE] = np.nan
    return values, drops, start


def row_dtype(metric: str) -> np.dtype:
    """One row of PostgreSQL's binary COPY format for (customer_id, metric, date, value)."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", "V16"),
            ("metric_len", ">i4"),
            ("metric", f"S{len(metric.encode())}"),
            ("date_len", ">i4"),
            ("date", ">i4"),
            ("value_len", ">i4"),
            ("value", ">f8"),
        ]
    )


def rows_block(ids: np.ndarray, metric: str, days: np.ndarray, values: np.ndarray) -> bytes:
    """Rows for accounts `ids` (V16) x `days` (PostgreSQL day numbers) of one metric;
    `values` has shape (len(ids), len(days)), NaN = no row."""
    n_acc, n_days = values.shape
    rows = np.empty((n_acc, n_days), dtype=row_dtype(metric))
    rows["fields"] = 4
    rows["id_len"] = 16
    rows["id"] = ids[:, None]
    rows["metric_len"] = len(metric.encode())
    rows["metric"] = metric.encode()
    rows["date_len"] = 4
    rows["date"] = days[None, :]
    rows["value_len"] = 8
    rows["value"] = values
    return rows[~np.isnan(values)].tobytes()


def copy_blocks(values, ids, metrics, start, layout: str):
    n_acc, _, n_days = values.shape
    day_numbers = (start - PG_EPOCH).days + np.arange(n_days, dtype=np.int32)
    yield b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    if layout == "date":
        for d in range(n_days):
            yield b"".join(
                rows_block(ids, metric, day_numbers[d : d + 1], values[:, m, d : d + 1])
                for m, metric in enumerate(metrics)
            )
    else:  # accounts in primary-key order (the scan's chunk order), 100 at a time
        order = np.array(sorted(range(n_acc), key=lambda a: ids[a].tobytes()))
        for i in range(0, n_acc, 100):
            block = order[i : i + 100]
            yield b"".join(
                rows_block(ids[block], metric, day_numbers, values[block, m, :])
                for m, metric in enumerate(metrics)
            )
    yield (-1).to_bytes(2, "big", signed=True)


def seed(db_url: str, values, ids: np.ndarray, metrics, start, layout: str) -> dict:
    """Load usage with binary COPY; the table's secondary indexes are dropped for the load
    and rebuilt after it (same names and definitions), foreign-key triggers are off for it."""
    import psycopg

    timings = {}
    with psycopg.connect(psycopg_url(db_url)) as conn:
        unique = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            (TABLE,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass AND NOT indisprimary AND indexrelid NOT IN "
            "(SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
            (TABLE, TABLE),
        ).fetchall()
        for name, _ in unique:
            conn.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("SET session_replication_role = replica")
        clock = time.perf_counter()
        with conn.cursor().copy(
            f"COPY {TABLE} (customer_id, metric, date, value) FROM STDIN WITH (FORMAT binary)"
        ) as copy:
            for block in copy_blocks(values, ids, metrics, start, layout):
                copy.write(block)
        timings["copy"] = time.perf_counter() - clock
        conn.execute("SET session_replication_role = origin")
        conn.execute("SET maintenance_work_mem = '1GB'")
        clock = time.perf_counter()
        for name, definition in unique:
            conn.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        timings["indexes"] = time.perf_counter() - clock
    with psycopg.connect(psycopg_url(db_url), autocommit=True) as conn:
        clock = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        timings["analyze"] = time.perf_counter() - clock
        timings["table_mb"] = (
            conn.execute("SELECT pg_total_relation_size(%s)", (TABLE,)).fetchone()[0] / 2**20
        )
    return timings


# --- workers ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and the largest of its children's (solo pool: no children)."""
    peaks = [0.0]
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
    return max(peaks)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


class Workers:
    def __init__(self, n: int, db_url: str, redis_url: str, chunk: int, read_path: str):
        self.n, self.procs, self.logs = n, [], []
        self.read_path = read_path
        self.env = os.environ | {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "SCAN_CHUNK_CUSTOMERS": str(chunk),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.env.pop("CELERY_RESULT_BACKEND", None)

    def start(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            log = OUT / f"scan_scale_worker{i}.log"
            self.logs.append(log)
            cmd = [
                sys.executable,
                __file__,
                "--worker-child",
                f"scanbench{i}@%h",
                "--read-path",
                self.read_path,
            ]
            with open(log, "w") as f:
                self.procs.append(
                    subprocess.Popen(
                        cmd, cwd=ROOT, env=self.env, stdout=f, stderr=subprocess.STDOUT
                    )
                )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc, log in zip(self.procs, self.logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited ({proc.returncode}), see {log}")
            if all(" ready." in log.read_text() for log in self.logs):
                return
            time.sleep(0.2)
        raise RuntimeError(f"workers not ready after {timeout} s, see {self.logs}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_child(name: str, read_path: str) -> None:
    """A Celery worker as `celery -A config worker --pool=solo` starts it; with `--read-path
    text`, its chunks read usage as before issue 15 (CSV COPY parsed by pandas, then the
    batch built from the frame), so both paths run on the same data in one bench run."""
    import django

    django.setup()
    if read_path == "text":
        from anomalies import scan_inputs

        def text_usage_batch(*, customer_ids, start, end):
            frame = scan_inputs.usage_frame(customer_ids=customer_ids, start=start, end=end)
            return scan_inputs.series_batch(frame, customer_ids=customer_ids, start=start, end=end)

        scan_inputs.usage_batch = text_usage_batch
    from config import celery_app

    celery_app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            "-n",
            name,
        ]
    )


# --- the scan --------------------------------------------------------------------------------


def reset_scan_state() -> None:
    from anomalies.models import DataQualityEvent, ScanRun, UsageAnomaly
    from customers.models import RiskSignal
    from notifications.models import NotificationRequest

    NotificationRequest.objects.all().delete()
    RiskSignal.objects.all().delete()
    UsageAnomaly.objects.all().delete()
    DataQualityEvent.objects.all().delete()
    ScanRun.objects.all().delete()


def run_scan(workers: Workers, as_of: dt.date) -> dict:
    from anomalies.models import ScanRun
    from anomalies.services.scans import scan_start

    pids = [p.pid for p in workers.procs]
    cpu_before = [cpu_seconds(p) for p in pids]
    busy_before = machine_busy_seconds()
    clock = time.perf_counter()
    run = scan_start(trigger=ScanRun.Trigger.SHELL, as_of=as_of)
    enqueued = time.perf_counter() - clock
    while True:
        status = ScanRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
        if status not in ScanRun.ACTIVE_STATUSES:
            break
        for proc, log in zip(workers.procs, workers.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"a worker died during the scan, see {log}")
        time.sleep(0.05)
    wall = time.perf_counter() - clock
    worker_cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu_before, strict=True)]
    machine_busy = machine_busy_seconds() - busy_before
    run.refresh_from_db()
    return {
        "run": run,
        "wall": wall,
        "enqueue": enqueued,
        "worker_cpu": worker_cpu,
        "machine_busy": machine_busy,
        "peak_mb": [peak_rss_mb(p) for p in pids],
    }


STAGES = ("read", "read_usage", "detect", "write")


def chunk_stats(run) -> dict:
    chunks = list(run.chunks.order_by("index"))
    per = {k: [float(c.timings.get(k, 0.0)) for c in chunks] for k in STAGES}
    busy = [(c.finished_at - c.started_at).total_seconds() for c in chunks]
    return {"chunks": chunks, "per": per, "busy": busy}


def sanity(drops, ids: np.ndarray, metrics, start: dt.date) -> dict:
    from anomalies.models import UsageAnomaly

    injected = {
        (str(uuid.UUID(bytes=ids[a].tobytes())), metrics[m]): start + dt.timedelta(days=first)
        for a, m, first in drops
    }
    rows = UsageAnomaly.objects.values_list(
        "customer_id", "metric_type", "direction", "start_date", "anomaly_type"
    )
    found, other, types = set(), 0, {}
    for customer, metric, direction, first, kind in rows:
        key = (str(customer), metric)
        types[kind] = types.get(kind, 0) + 1
        drop_day = injected.get(key)
        if (
            drop_day is not None
            and direction == Direction.NEGATIVE
            and first >= drop_day - dt.timedelta(2)
        ):
            found.add(key)
        else:
            other += 1
    return {"injected": len(injected), "found": len(found), "other": other, "types": types}


# --- the naive path (run in its own process, for its own peak memory) -------------------------


def naive_child(sample: int, as_of: dt.date) -> None:
    from django.conf import settings

    from anomalies.detection import detect_series
    from customers.models import Customer, UsageMetric

    start = as_of - dt.timedelta(days=settings.SCAN_HISTORY_DAYS - 1)
    n_days = (as_of - start).days + 1
    customers = list(Customer.objects.order_by("external_id")[:sample])
    read = detect = 0.0
    series = findings = 0
    wall = time.perf_counter()
    for customer in customers:
        clock = time.perf_counter()
        metrics = sorted(
            UsageMetric.objects.filter(customer=customer, date__range=(start, as_of))
            .values_list("metric", flat=True)
            .distinct()
        )
        read += time.perf_counter() - clock
        for metric in metrics:
            clock = time.perf_counter()
            rows = list(
                UsageMetric.objects.filter(
                    customer=customer, metric=metric, date__range=(start, as_of)
                ).order_by("date")
            )
            values = [None] * n_days
            for row in rows:
                values[(row.date - start).days] = row.value
            read += time.perf_counter() - clock
            clock = time.perf_counter()
            findings += len(
                detect_series(values, start=start, series_id=f"{customer.pk}/{metric}", as_of=as_of)
            )
            detect += time.perf_counter() - clock
            series += 1
    wall = time.perf_counter() - wall
    print(
        json.dumps(
            {
                "customers": len(customers),
                "series": series,
                "findings": findings,
                "wall": wall,
                "read": read,
                "detect": detect,
                "peak_mb": peak_rss_mb(os.getpid()),
            }
        )
    )


def run_naive(db_url: str, redis_url: str, chunk: int, sample: int, as_of: dt.date) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--naive-child",
        "--naive-sample",
        str(sample),
        "--as-of",
        as_of.isoformat(),
    ]
    env = os.environ | {"DATABASE_URL": db_url, "REDIS_URL": redis_url, "_SCAN_CHUNK": str(chunk)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"naive path failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------


def spread(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def report(args, scan: dict, stats: dict, naive: dict | None, checks: dict) -> None:
    run = scan["run"]
    wall = scan["wall"]
    per = stats["per"]
    sums = {k: sum(v) for k, v in per.items()}
    busy = sum(stats["busy"])
    rate = run.series_count / wall
    print()
    print(
        f"Scan {run.status}: {run.customers_total:,} accounts, {run.series_count:,} series, "
        f"{run.chunks_total} chunks of {args.chunk}, {args.workers} workers (solo pool), "
        f"errors {run.error_count}"
    )
    dash = "-"
    naive_rate = naive["series"] / naive["wall"] if naive else None
    rows = [
        (
            "series",
            f"{run.series_count:,}",
            f"{naive['series']:,} ({naive['customers']} accounts)" if naive else dash,
        ),
        ("wall time, s", f"{wall:.2f}", f"{naive['wall']:.2f}" if naive else dash),
        ("series / s (wall)", f"{rate:,.0f}", f"{naive_rate:,.0f}" if naive else dash),
        (
            "series / s per busy process",
            f"{run.series_count / busy:,.0f} (series / summed chunk time)",
            f"{naive_rate:,.0f} (one process)" if naive else dash,
        ),
    ]
    for k in ("read", "detect", "write"):
        share = sums[k] / busy * 100 if busy else 0
        rows.append(
            (
                f"{k}, s",
                f"{sums[k]:.2f} summed over chunks ({share:.0f}% of chunk time)",
                f"{naive[k]:.2f}" if naive and k in naive else dash,
            )
        )
    peaks = ", ".join(f"{p:.0f}" for p in scan["peak_mb"])
    rows.append(
        (
            "peak memory, MB",
            f"{peaks} (VmHWM per worker)",
            f"{naive['peak_mb']:.0f}" if naive else dash,
        )
    )
    print()
    print("| figure | engine path, full scan | naive path, sample |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if naive:
        print(
            f"engine / naive, series/s: {rate / naive_rate:,.0f}x end to end "
            f"({args.workers} workers against one process); "
            f"{run.series_count / busy / naive_rate:,.0f}x per busy process "
            "(the naive path does not write)"
        )
    target = "MET" if wall <= TARGET_SECONDS else "MISSED"
    print(f"target: full scan in <= {TARGET_SECONDS:.0f} s -> {wall:.1f} s, {target}")
    peak = max(scan["peak_mb"])
    target = "MET" if peak <= TARGET_WORKER_MB else "MISSED"
    print(f"target: <= {TARGET_WORKER_MB:.0f} MB per worker -> {peak:.0f} MB, {target}")
    print(
        f"per series: {busy / run.series_count * 1000:.2f} ms of chunk time "
        f"(read {sums['read'] / run.series_count * 1000:.2f}, detect "
        f"{sums['detect'] / run.series_count * 1000:.2f}, write "
        f"{sums['write'] / run.series_count * 1000:.2f})"
    )
    print()
    print("Where the time went")
    print(f"- scan_start (ids, chunks, enqueue): {scan['enqueue']:.2f} s")
    print(
        f"- chunk time summed over workers: {busy:.2f} s "
        f"(read+detect+write {sums['read'] + sums['detect'] + sums['write']:.2f} s)"
    )
    print(
        f"- per chunk min / median / max, s: read {spread(per['read'])} (of which usage "
        f"{spread(per['read_usage'])}), "
        f"detect {spread(per['detect'])}, write {spread(per['write'])}, "
        f"whole chunk {spread(stats['busy'])}"
    )
    cpu = scan["worker_cpu"]
    print(
        f"- CPU during the scan: workers {' + '.join(f'{c:.1f}' for c in cpu)} s, everything else "
        f"(PostgreSQL, Redis, this process) {max(scan['machine_busy'] - sum(cpu), 0):.1f} s, "
        f"of {os.cpu_count()} x {wall:.1f} = {os.cpu_count() * wall:.1f} s available"
    )
    print()
    print(
        f"Sanity: {checks['injected']} drops injected (series with a typical day >= "
        f"{DROP_MIN_LEVEL:.0f}), {checks['found']} found as a negative anomaly from their start "
        f"on ({checks['found'] / max(checks['injected'], 1):.0%}); {checks['other']} other "
        f"anomalies (the data has no other injections) in {run.series_count:,} series; by type "
        + ", ".join(f"{k} {v}" for k, v in sorted(checks["types"].items()))
    )
    if naive:
        print(f"Naive path findings on its sample: {naive['findings']}")


def anomaly_keys() -> set:
    """What a scan found, to check that both read paths lead to the same anomalies."""
    from anomalies.models import UsageAnomaly

    return set(
        UsageAnomaly.objects.values_list(
            "customer_id", "metric_type", "anomaly_type", "start_date", "severity"
        )
    )


def report_read_paths(scans: dict) -> None:
    """The same data scanned once per read path, side by side: absolute times move with the
    machine's other load, the ratios much less (the workers' CPU seconds least: a worker
    waiting for a core or for PostgreSQL spends none)."""
    paths = list(scans)
    figures = {}
    for path, (scan, stats, _) in scans.items():
        sums = {k: sum(v) for k, v in stats["per"].items()}
        figures[path] = {
            "wall time, s": scan["wall"],
            "chunk time summed, s": sum(stats["busy"]),
            "read, s (summed)": sums["read"],
            "- of which usage, s": sums["read_usage"],
            "detect, s (summed)": sums["detect"],
            "write, s (summed)": sums["write"],
            "worker CPU summed, s": sum(scan["worker_cpu"]),
            "peak memory per worker, MB": max(scan["peak_mb"]),
        }
    print()
    print("Read paths, one full scan each on the same data (same run)")
    print(
        "| figure | "
        + " | ".join(READ_PATHS[p] for p in paths)
        + f" | ratio {paths[-1]} / {paths[0]} |"
    )
    print("|---|" + "---|" * len(paths) + "---|")
    for name in figures[paths[0]]:
        cells = [figures[p][name] for p in paths]
        ratio = f"{cells[-1] / cells[0]:.2f}" if cells[0] else "-"
        print(f"| {name} | " + " | ".join(f"{c:,.2f}" for c in cells) + f" | {ratio} |")
    for path in paths:
        stats = scans[path][1]
        busy = sum(stats["busy"]) or 1.0
        split = ", ".join(
            f"{k} {sum(stats['per'][k]) / busy:.0%}" for k in ("read", "detect", "write")
        )
        print(f"- {READ_PATHS[path]}: share of chunk time {split}")
    same = all(keys == scans[paths[0]][2] for _, _, keys in scans.values())
    print(
        "- anomalies found: "
        + ", ".join(f"{READ_PATHS[p]} {len(scans[p][2])}" for p in paths)
        + (" (the same ones)" if same else " (DIFFERENT: the read paths disagree)")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--naive-sample", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=500, help="SCAN_CHUNK_CUSTOMERS")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--layout", choices=("date", "customer"), default="date")
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument(
        "--scratch-db",
        default=SCRATCH_DB,
        help="the scratch database's name (dropped and recreated; one per person sharing a server)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="scan the kept scratch database as it is (same --accounts/--metrics/--days/--layout)",
    )
    parser.add_argument(
        "--read-paths",
        type=lambda v: [p for p in v.split(",") if p],
        default=list(READ_PATHS),
        help="the scan's usage read paths to run, one full scan each, in this order: text "
        "(CSV COPY parsed by pandas, before issue 15), binary (binary COPY into numpy); "
        "default text,binary",
    )
    parser.add_argument("--naive-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-child", help=argparse.SUPPRESS)
    parser.add_argument("--read-path", choices=list(READ_PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := set(args.read_paths) - set(READ_PATHS):
        parser.error(f"--read-paths: unknown {', '.join(sorted(unknown))} (text, binary)")

    if args.worker_child:
        worker_child(args.worker_child, args.read_path)
        return
    if args.naive_child:
        setup_django(
            os.environ["DATABASE_URL"], os.environ["REDIS_URL"], int(os.environ["_SCAN_CHUNK"])
        )
        naive_child(args.naive_sample, dt.date.fromisoformat(args.as_of))
        return

    db_url, redis_url = urls_from_env(args.redis_db, args.scratch_db)
    metrics = metric_names(args.metrics)
    clock = time.perf_counter()
    values, drops, start = generate(args.accounts, args.metrics, args.days)
    rng = np.random.default_rng(SEED + 1)
    ids = np.frombuffer(
        b"".join(uuid.UUID(bytes=rng.bytes(16), version=4).bytes for _ in range(args.accounts)),
        dtype="V16",
    )
    n_rows = int(np.count_nonzero(~np.isnan(values)))
    print(
        f"generated {args.accounts:,} accounts x {args.metrics} metrics x {args.days} days: "
        f"{n_rows:,} rows, {len(drops)} injected drops, {time.perf_counter() - clock:.1f} s"
    )

    reuse = args.reuse_db and database_exists(db_url)
    if not reuse:
        recreate_database(db_url)
    setup_django(db_url, redis_url, args.chunk)
    from django.core.management import call_command
    from django.db import connection

    from customers.models import Customer, UsageMetric

    if reuse:
        stored = UsageMetric.objects.count()
        if stored != n_rows:
            sys.exit(f"--reuse-db: {args.scratch_db} holds {stored:,} rows, expected {n_rows:,}")
        reset_scan_state()
        print(f"reusing {args.scratch_db} ({stored:,} rows)")
    else:
        call_command("migrate", verbosity=0)
        Customer.objects.bulk_create(
            (
                Customer(
                    id=uuid.UUID(bytes=ids[a].tobytes()),
                    external_id=f"acct-{a:05}",
                    name=f"Account {a}",
                )
                for a in range(args.accounts)
            ),
            batch_size=2000,
        )
        connection.close()  # the load below uses its own connection
        load = seed(db_url, values, ids, metrics, start, args.layout)
        print(
            f"loaded into {args.scratch_db} ({args.layout} layout): COPY {load['copy']:.1f} s "
            f"({n_rows / load['copy']:,.0f} rows/s), indexes {load['indexes']:.1f} s, "
            f"VACUUM ANALYZE {load['analyze']:.1f} s, table + indexes {load['table_mb']:,.0f} MB"
        )
    del values

    import redis

    scans = {}
    for k, path in enumerate(args.read_paths):
        if k:
            reset_scan_state()
        redis.Redis.from_url(redis_url).flushdb()
        workers = Workers(args.workers, db_url, redis_url, args.chunk, path)
        try:
            workers.start()
            workers.wait_ready()
            print(
                f"{args.workers} workers ready, {READ_PATHS[path]} read; scanning as of {END} "
                f"(chunks of {args.chunk})"
            )
            scan = run_scan(workers, END)
        finally:
            workers.stop()
        scans[path] = (scan, chunk_stats(scan["run"]), anomaly_keys())
    checks = sanity(drops, ids, metrics, start)
    connection.close()
    naive = None
    if args.naive_sample > 0:
        naive = run_naive(db_url, redis_url, args.chunk, args.naive_sample, END)
    scan, stats, _ = scans[args.read_paths[-1]]
    report(args, scan, stats, naive, checks)
    if len(scans) > 1:
        report_read_paths(scans)
    if not args.keep_db:
        connection.close()
        drop_database(db_url)


if __name__ == "__main__":
    main()
