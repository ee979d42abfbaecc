"""API load: the two anomaly lists under concurrent CSMs, served by gunicorn on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev .venv/bin/python bench/api_load.py \\
        [--accounts 10000] [--csms 50] [--clients 50] [--seconds 20] [--workers 4] \\
        [--anomalies-per-account 3 30] [--baseline main] [--scratch-db tremor_bench_api]

Seeds a scratch database (`--scratch-db` on the DATABASE_URL server, dropped and recreated;
the database DATABASE_URL names is never touched): `--accounts` accounts spread over
`--csms` CSMs, each with `--anomalies-per-account` anomalies (an open drop, a resolved spike
and a dismissed drop, then older resolved and dismissed ones), one account with a long
history of resolved anomalies, a week of usage, an API token per CSM. Several
`--anomalies-per-account` run one after the other: the portfolio list's latency must not
grow with the table.

With `--baseline REF` every size runs twice, first on REF's code (`git archive REF`, unpacked
in a temporary directory, migrated into its own scratch database) and then on this tree's,
and the closing table puts the two side by side: before and after a change, in one run.
Each run is a child process (`--child`), so each imports its own tree's Django project.

Then, in this process with Django's test client, the number of SQL queries of each list at
page sizes 10, 50 and 100: it must not grow with the page (no N+1). Then it starts
`gunicorn config.wsgi -w <workers>` on a free loopback port with production settings
(DEBUG off) and, for `--seconds` per endpoint, `--clients` threads each logged in as one CSM
(token) request as fast as they can:

- GET /api/analytics/anomalies            (the CSM's portfolio, first page of 50)
- GET /api/customers/<id>/usage/anomalies (one of the CSM's accounts, chosen at random)

and prints per endpoint p50/p95/p99 latency, requests per second and errors (any answer
but 200, or a failed connection) as a markdown table. gunicorn is always stopped. Each run
also prints the plans (EXPLAIN ANALYZE) of the portfolio list's count and page queries.
"""

import argparse
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scratch  # noqa: E402

SCRATCH_DB = "tremor_bench_api"
# The seed's first three anomalies of each account: an open drop, a resolved spike, a
# dismissed drop. Beyond those an account gets older resolved and dismissed ones.
BASE_ANOMALIES = 3
MAX_ANOMALIES_PER_ACCOUNT = 200
# Days between an account's older anomalies (they never overlap, as the engine's would not).
HISTORY_STEP_DAYS = 3
SEED = 20260401
PAGE_SIZES = (10, 50, 100)
# Portfolio requests made one at a time in process (one_at_a_time).
SEQUENTIAL_REQUESTS = 200
HISTORY_ANOMALIES = 150  # resolved anomalies of the one long-history account
USAGE_DAYS = 7
# Hard caps whatever --seconds says: no run can spin forever.
MAX_REQUESTS_PER_CLIENT = 200_000
REQUEST_TIMEOUT = 30.0
STARTUP_SECONDS = 60.0
# Production settings, except plain HTTP on loopback and unhashed static names (the API
# serves no static file, and the bench does not run collectstatic).
SERVER_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "STATIC_MANIFEST": "false",
    "LOG_LEVEL": "WARNING",
}


# --- setup ------------------------------------------------------------------------------------


def setup_django(env: dict, tree: Path) -> None:
    # Settings read the environment once, at import: set everything before django.setup().
    os.environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    # The project under test first: a baseline's tree shadows this one.
    sys.path.insert(0, str(tree))
    # WhiteNoise (DEBUG off) looks for collectstatic's output, which the API does not need.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(accounts: int, csms: int, per_account: int) -> dict:
    """Returns {token: [customer ids]} per CSM, and the long-history account and its CSM's
    token for the query counts."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.services import api_token_create
    from anomalies.detection.vocabulary import API_CALLS, LOGINS, feature_metric
    from anomalies.models import AnomalyType, Direction, UsageAnomaly
    from customers.models import Customer, Severity, UsageMetric

    rng = random.Random(SEED)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"csm{k:02}", first_name="CSM", last_name=f"{k:02}")
        for k in range(csms)
    )
    token_of = {user.pk: api_token_create(user=user)[1] for user in users}
    customers = Customer.objects.bulk_create(
        (
            Customer(
                id=uuid.UUID(int=rng.getrandbits(128), version=4),
                external_id=f"acct-{a:05}",
                name=f"Account {a:05}",
                csm=users[a % csms],
                arr=Decimal(rng.randrange(1_000, 500_000)),
            )
            for a in range(accounts)
        ),
        batch_size=2000,
    )
    today = timezone.localdate()
    now = timezone.now()

    def anomaly(customer, days_ago: int, **fields) -> UsageAnomaly:
        base = Decimal(rng.randrange(1_000, 50_000))
        fields.setdefault("status", "open")
        if fields["status"] == "dismissed":
            fields.update(dismissed_at=now, dismiss_reason="false_positive")
        return UsageAnomaly(
            customer=customer,
            baseline_value=base,
            actual_value=base / 3,
            deviation_percent=Decimal("-66.67"),
            severity=rng.choice(Severity.values),
            start_date=today - dt.timedelta(days=days_ago),
            detected_at=now - dt.timedelta(days=days_ago, minutes=rng.randrange(1440)),
            **fields,
        )

    def older(customer, k: int) -> UsageAnomaly:
        days_ago = 90 + HISTORY_STEP_DAYS * k
        if k % 2:
            return anomaly(
                customer,
                days_ago,
                metric_type=LOGINS,
                anomaly_type=AnomalyType.DROP,
                direction=Direction.NEGATIVE,
                status="dismissed",
            )
        return anomaly(customer, days_ago, metric_type=API_CALLS, anomaly_type=AnomalyType.SPIKE,
                       direction=Direction.POSITIVE, status="resolved",
                       end_date=today - dt.timedelta(days=days_ago - 1))  # fmt: skip

    rows = []
    for customer in customers:
        rows += [
            anomaly(customer, rng.randrange(1, 10), metric_type=API_CALLS,
                    anomaly_type=AnomalyType.DROP, direction=Direction.NEGATIVE),
            anomaly(customer, rng.randrange(20, 60), metric_type=LOGINS,
                    anomaly_type=AnomalyType.SPIKE, direction=Direction.POSITIVE,
                    status="resolved", end_date=today - dt.timedelta(10)),
            anomaly(customer, rng.randrange(5, 30), metric_type=feature_metric("reports"),
                    anomaly_type=AnomalyType.DROP, direction=Direction.NEGATIVE,
                    status="dismissed"),
        ][:per_account]  # fmt: skip
        rows += [older(customer, k) for k in range(per_account - BASE_ANOMALIES)]
    history = customers[0]
    rows += [
        anomaly(history, 400 - 2 * k, metric_type=API_CALLS, anomaly_type=AnomalyType.DROP,
                direction=Direction.NEGATIVE, status="resolved",
                end_date=today - dt.timedelta(days=399 - 2 * k))
        for k in range(HISTORY_ANOMALIES)
    ]  # fmt: skip
    UsageAnomaly.objects.bulk_create(rows, batch_size=5000)
    UsageMetric.objects.bulk_create(
        (
            UsageMetric(
                customer=customer,
                metric=API_CALLS,
                date=today - dt.timedelta(days=d),
                value=float(rng.randrange(0, 50_000)),
            )
            for customer in customers
            for d in range(USAGE_DAYS)
        ),
        batch_size=10_000,
    )
    by_user = {user.pk: [] for user in users}
    for customer in customers:
        by_user[customer.csm_id].append(str(customer.pk))
    return {
        "portfolios": {token_of[pk]: ids for pk, ids in by_user.items()},
        "history_customer": str(history.pk),
        "history_token": token_of[history.csm_id],
        "anomalies": len(rows),
    }


# --- query counts (in process) -----------------------------------------------------------------


def query_counts(data: dict) -> tuple[dict, list[str]]:
    """{(endpoint, page size): (queries, rows on the page)} through Django's test client, and
    the plans (EXPLAIN ANALYZE) of the portfolio's anomaly queries at the default page."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {data['history_token']}")
    urls = {
        "portfolio": "/api/analytics/anomalies",
        "customer": f"/api/customers/{data['history_customer']}/usage/anomalies",
    }
    counts, plans = {}, []
    # Unmeasured: the token's first use writes its last-used mark, which later ones skip.
    client.get(urls["portfolio"])
    for name, url in urls.items():
        for size in PAGE_SIZES:
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url, {"page_size": size})
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            rows = len(response.json()["results"])
            counts[name, size] = (len(ctx.captured_queries), rows)
            if name == "portfolio" and size == 50:
                plans = explain(q["sql"] for q in ctx.captured_queries)
    return counts, plans


def explain(queries) -> list[str]:
    """EXPLAIN ANALYZE of each query of the anomalies table that counts or pages it."""
    from django.db import connection

    plans = []
    for sql in queries:
        if 'FROM "anomalies_usageanomaly"' not in sql or "actions" in sql.split("WHERE")[0]:
            continue
        if "COUNT(" not in sql and "LIMIT" not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        plans.append(f"{'count' if 'COUNT(' in sql else 'page'}:\n{plan}")
    return plans


def one_at_a_time(data: dict, requests: int) -> dict:
    """The portfolio list requested `requests` times in a row through the test client, each
    CSM in turn: latency without queueing, and how much of it is SQL. On a shared machine
    this moves less than the load's figures, whose queues amplify every other process."""
    from django.db import connection
    from django.test import Client

    in_sql = [0.0]

    def timed(execute, sql, params, many, context):
        clock = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            in_sql[0] += time.perf_counter() - clock

    clients = [
        Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
        for token in data["portfolios"]
    ]
    totals, sqls = [], []
    with connection.execute_wrapper(timed):
        for k in range(requests):
            in_sql[0] = 0.0
            clock = time.perf_counter()
            response = clients[k % len(clients)].get("/api/analytics/anomalies")
            totals.append(time.perf_counter() - clock)
            sqls.append(in_sql[0])
            assert response.status_code == 200, response.status_code
    return {
        "p50": percentile(totals, 50) * 1000,
        "p99": percentile(totals, 99) * 1000,
        "sql_p50": percentile(sqls, 50) * 1000,
        "sql_p99": percentile(sqls, 99) * 1000,
    }


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, db_url: str, workers: int, log: Path, tree: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = (
            os.environ
            | SERVER_ENV
            | {
                "DATABASE_URL": db_url,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DJANGO_SETTINGS_MODULE": "config.settings",
            }
        )
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(gunicorn), "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{self.port}"],
                cwd=tree,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: stop() reaches the workers even if the master dies.
                start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, token: str) -> None:
        import requests

        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                response = requests.get(
                    f"{self.url}/api/analytics/anomalies",
                    headers={"Authorization": f"Token {token}"},
                    timeout=REQUEST_TIMEOUT,
                )
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"gunicorn answered {response.status_code}:\n{self.tail()}")
            return
        raise RuntimeError(f"gunicorn not ready after {STARTUP_SECONDS:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


# --- the load --------------------------------------------------------------------------------


def drive(base: str, path_for, tokens: list[str], seconds: float) -> dict:
    """`len(tokens)` threads, one session each, requesting `path_for(token, rng)` until the
    deadline. Returns latencies (s) of the 200s, the error count and the wall time."""
    import requests

    start = threading.Barrier(len(tokens) + 1)
    results = [None] * len(tokens)

    def client(i: int, token: str) -> None:
        rng = random.Random(SEED + i)
        latencies, errors = [], 0
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            start.wait()
            deadline = time.perf_counter() + seconds
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.perf_counter() >= deadline:
                    break
                clock = time.perf_counter()
                try:
                    response = session.get(base + path_for(token, rng), timeout=REQUEST_TIMEOUT)
                    response.content  # noqa: B018  (read the whole body)
                    ok = response.status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - clock)
                else:
                    errors += 1
        results[i] = (latencies, errors)

    threads = [
        threading.Thread(target=client, args=(i, token), daemon=True)
        for i, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    clock = time.perf_counter()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT + 10)
    wall = time.perf_counter() - clock
    latencies = [x for r in results if r for x in r[0]]
    errors = sum(r[1] for r in results if r)
    return {"latencies": latencies, "errors": errors, "wall": wall}


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    return statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]


# --- main ------------------------------------------------------------------------------------


ENDPOINTS = ("GET /api/analytics/anomalies", "GET /api/customers/<id>/usage/anomalies")


def run_one(args, tree: Path) -> dict:
    """Seed, count queries and load one tree's code at one size (in a child process)."""
    url = os.environ.get("DATABASE_URL", "")
    db_url = scratch.scratch_url(url, name=args.scratch_db, script="bench/api_load.py")
    scratch.recreate_database(db_url, name=args.scratch_db)
    # The in-process client runs with the server's settings.
    setup_django(
        SERVER_ENV | {"DATABASE_URL": db_url, "SECRET_KEY": secrets.token_urlsafe(50)}, tree
    )

    from django.db import connection

    clock = time.perf_counter()
    data = seed(args.accounts, args.csms, args.anomalies_per_account[0])
    seeded = time.perf_counter() - clock
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    counts, plans = query_counts(data)
    sequential = one_at_a_time(data, SEQUENTIAL_REQUESTS)
    connection.close()

    portfolios = data["portfolios"]
    tokens = [list(portfolios)[i % len(portfolios)] for i in range(args.clients)]
    paths = {
        ENDPOINTS[0]: lambda token, rng: "/api/analytics/anomalies",
        ENDPOINTS[1]: lambda token, rng: (
            f"/api/customers/{rng.choice(portfolios[token])}/usage/anomalies"
        ),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = Gunicorn(db_url, args.workers, Path(tmp) / "gunicorn.log", tree)
        try:
            server.wait_ready(tokens[0])
            for name, path_for in paths.items():
                drive(server.url, path_for, tokens, min(2.0, args.seconds))  # warm-up
                r = drive(server.url, path_for, tokens, args.seconds)
                lat = r["latencies"]
                results[name] = {
                    "requests": len(lat),
                    "rps": len(lat) / r["wall"],
                    **{f"p{p}": percentile(lat, p) * 1000 for p in (50, 95, 99)},
                    "errors": r["errors"],
                }
        finally:
            server.stop()
    return {
        "pg": connection.pg_version,
        "anomalies": data["anomalies"],
        "seeded": seeded,
        "counts": {f"{name}|{size}": v for (name, size), v in counts.items()},
        "plans": plans,
        "sequential": sequential,
        "results": results,
    }


def print_counts(counts: dict) -> bool:
    print("| endpoint | " + " | ".join(f"page_size={s}" for s in PAGE_SIZES) + " |")
    print("|---|" + "---|" * len(PAGE_SIZES))
    flat = True
    for name in ("portfolio", "customer"):
        cells = [counts[f"{name}|{s}"] for s in PAGE_SIZES]
        print(f"| {name} | " + " | ".join(f"{q} queries ({rows} rows)" for q, rows in cells) + " |")
        flat &= len({q for q, _ in cells}) == 1
    print()
    print(f"query count independent of page size: {'yes' if flat else 'NO (N+1?)'}")
    return flat


def child(args, tree: Path) -> None:
    out = run_one(args, tree)
    print(json.dumps(out))


def baseline_tree(ref: str, into: Path) -> Path:
    """REF's files (committed ones only) unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--csms", type=int, default=50)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--anomalies-per-account",
        type=int,
        nargs="+",
        default=[BASE_ANOMALIES],
        help="anomalies of each account; several values run one after the other",
    )
    parser.add_argument("--baseline", default="", help="a git ref to run first, for comparison")
    parser.add_argument("--scratch-db", default=SCRATCH_DB, help="the database seeded (dropped!)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.clients <= 500:
        sys.exit("--clients must be between 1 and 500")
    if not 0 < args.seconds <= 600:
        sys.exit("--seconds must be in (0, 600]")
    if not all(1 <= n <= MAX_ANOMALIES_PER_ACCOUNT for n in args.anomalies_per_account):
        sys.exit(f"--anomalies-per-account must be between 1 and {MAX_ANOMALIES_PER_ACCOUNT}")
    if not os.environ.get("DATABASE_URL", ""):
        sys.exit("bench/api_load.py needs DATABASE_URL=postgres://... (a PostgreSQL server)")
    if args.child:
        child(args, Path(args.child))
        return

    runs, flat = [], True
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("this tree", ROOT)]
        if args.baseline:
            trees.insert(0, (args.baseline, baseline_tree(args.baseline, Path(tmp))))
        for per_account in args.anomalies_per_account:
            for label, tree in trees:
                command = [
                    sys.executable, __file__, "--child", str(tree),
                    "--accounts", str(args.accounts), "--csms", str(args.csms),
                    "--clients", str(args.clients), "--seconds", str(args.seconds),
                    "--workers", str(args.workers), "--scratch-db", args.scratch_db,
                    "--anomalies-per-account", str(per_account),
                ]  # fmt: skip
                # In the tree: Celery's app puts the working directory on sys.path.
                done = subprocess.run(
                    command, check=True, stdout=subprocess.PIPE, text=True, cwd=tree
                )
                out = json.loads(done.stdout.strip().splitlines()[-1])
                runs.append((label, per_account, out))
                flat &= print_run(label, per_account, args, out)

    print()
    print(
        f"Load: {args.clients} clients (threads, requests.Session, {args.csms} CSM tokens), "
        f"{args.seconds:.0f} s per endpoint, gunicorn -w {args.workers} (sync), "
        f"{os.cpu_count()} CPUs shared by server, clients and PostgreSQL"
    )
    print()
    print("| code | anomalies | endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    failed = not flat
    for label, _per_account, out in runs:
        for name in ENDPOINTS:
            r = out["results"][name]
            print(
                f"| {label} | {out['anomalies']:,} | {name} | {r['requests']:,} | "
                f"{r['rps']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
                f"{r['errors']} |"
            )
            failed |= bool(r["errors"])
    print()
    print(
        f"The portfolio list one request at a time ({SEQUENTIAL_REQUESTS} requests, Django's "
        "test client in process, each CSM in turn): no queue, so other processes on the "
        "machine move it least"
    )
    print()
    print("| code | anomalies | p50 ms | p99 ms | of which SQL, p50 ms | SQL p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _per_account, out in runs:
        q = out["sequential"]
        print(
            f"| {label} | {out['anomalies']:,} | {q['p50']:.1f} | {q['p99']:.1f} | "
            f"{q['sql_p50']:.1f} | {q['sql_p99']:.1f} |"
        )
    if failed:
        sys.exit(1)


def print_run(label: str, per_account: int, args, out: dict) -> bool:
    """Prints one run's seed, query counts and plans; False if the counts grow with the page."""
    print(
        f"## {label}: PostgreSQL {out['pg']}, scratch database {args.scratch_db}: seeded "
        f"{args.accounts:,} accounts over {args.csms} CSMs, {out['anomalies']:,} anomalies "
        f"({per_account} per account), {args.accounts * USAGE_DAYS:,} usage rows in "
        f"{out['seeded']:.1f} s"
    )
    print()
    print("SQL queries per request (Django test client, in process)")
    print()
    flat = print_counts(out["counts"])
    print()
    print("Plans of the portfolio list's anomaly queries (page_size=50):")
    print()
    for plan in out["plans"]:
        print("```")
        print(plan)
        print("```")
    print(flush=True)
    return flat


if __name__ == "__main__":
    main()
