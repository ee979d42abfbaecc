"""API load: the two anomaly lists under concurrent CSMs, served by gunicorn on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev .venv/bin/python bench/api_load.py \\
        [--accounts 10000] [--csms 50] [--clients 50] [--seconds 20] [--workers 4]

Seeds a scratch database (tremor_bench_api on the DATABASE_URL server, dropped and
recreated; the database DATABASE_URL names is never touched): `--accounts` accounts spread
over `--csms` CSMs, each with an open drop, a resolved spike and a dismissed drop, one
account with a long history of resolved anomalies, a week of usage, an API token per CSM.

Then, in this process with Django's test client, the number of SQL queries of each list at
page sizes 10, 50 and 100: it must not grow with the page (no N+1). Then it starts
`gunicorn config.wsgi -w <workers>` on a free loopback port with production settings
(DEBUG off) and, for `--seconds` per endpoint, `--clients` threads each logged in as one CSM
(token) request as fast as they can:

- GET /api/analytics/anomalies            (the CSM's portfolio, first page of 50)
- GET /api/customers/<id>/usage/anomalies (one of the CSM's accounts, chosen at random)

and prints per endpoint p50/p95/p99 latency, requests per second and errors (any answer
but 200, or a failed connection) as a markdown table. gunicorn is always stopped.
"""

import argparse
import datetime as dt
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
SEED = 20260401
PAGE_SIZES = (10, 50, 100)
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


def setup_django(env: dict) -> None:
    # Settings read the environment once, at import: set everything before django.setup().
    os.environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    sys.path.insert(0, str(ROOT))
    # WhiteNoise (DEBUG off) looks for collectstatic's output, which the API does not need.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(accounts: int, csms: int) -> dict:
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
        ]  # fmt: skip
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


def query_counts(data: dict) -> dict:
    """{(endpoint, page size): (queries, rows on the page)} through Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {data['history_token']}")
    urls = {
        "portfolio": "/api/analytics/anomalies",
        "customer": f"/api/customers/{data['history_customer']}/usage/anomalies",
    }
    counts = {}
    for name, url in urls.items():
        for size in PAGE_SIZES:
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url, {"page_size": size})
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            rows = len(response.json()["results"])
            counts[name, size] = (len(ctx.captured_queries), rows)
    return counts


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, db_url: str, workers: int, log: Path):
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
                cwd=ROOT,
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
                    timeout=5,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--csms", type=int, default=50)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500:
        sys.exit("--clients must be between 1 and 500")
    if not 0 < args.seconds <= 600:
        sys.exit("--seconds must be in (0, 600]")

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("bench/api_load.py needs DATABASE_URL=postgres://... (a PostgreSQL server)")
    db_url = scratch.scratch_url(url, name=SCRATCH_DB, script="bench/api_load.py")
    scratch.recreate_database(db_url, name=SCRATCH_DB)
    # The in-process client runs with the server's settings.
    setup_django(SERVER_ENV | {"DATABASE_URL": db_url, "SECRET_KEY": secrets.token_urlsafe(50)})

    from django.db import connection

    clock = time.perf_counter()
    data = seed(args.accounts, args.csms)
    print(
        f"PostgreSQL {connection.pg_version}, scratch database {SCRATCH_DB}: seeded "
        f"{args.accounts:,} accounts over {args.csms} CSMs, {data['anomalies']:,} anomalies, "
        f"{args.accounts * USAGE_DAYS:,} usage rows in {time.perf_counter() - clock:.1f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    counts = query_counts(data)
    print()
    print("SQL queries per request (Django test client, in process)")
    print()
    print("| endpoint | " + " | ".join(f"page_size={s}" for s in PAGE_SIZES) + " |")
    print("|---|" + "---|" * len(PAGE_SIZES))
    flat = True
    for name in ("portfolio", "customer"):
        cells = [f"{counts[name, s][0]} queries ({counts[name, s][1]} rows)" for s in PAGE_SIZES]
        print(f"| {name} | " + " | ".join(cells) + " |")
        flat &= len({counts[name, s][0] for s in PAGE_SIZES}) == 1
    print()
    print(f"query count independent of page size: {'yes' if flat else 'NO (N+1?)'}")
    connection.close()

    portfolios = data["portfolios"]
    tokens = [list(portfolios)[i % len(portfolios)] for i in range(args.clients)]
    endpoints = {
        "GET /api/analytics/anomalies": lambda token, rng: "/api/analytics/anomalies",
        "GET /api/customers/<id>/usage/anomalies": lambda token, rng: (
            f"/api/customers/{rng.choice(portfolios[token])}/usage/anomalies"
        ),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = Gunicorn(db_url, args.workers, Path(tmp) / "gunicorn.log")
        try:
            server.wait_ready(tokens[0])
            for name, path_for in endpoints.items():
                drive(server.url, path_for, tokens, min(2.0, args.seconds))  # warm-up
                results[name] = drive(server.url, path_for, tokens, args.seconds)
        finally:
            server.stop()

    print()
    print(
        f"Load: {args.clients} clients (threads, requests.Session, {args.csms} CSM tokens), "
        f"{args.seconds:.0f} s per endpoint, gunicorn -w {args.workers} (sync), "
        f"{os.cpu_count()} CPUs shared by server, clients and PostgreSQL"
    )
    print()
    print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        lat = r["latencies"]
        print(
            f"| {name} | {len(lat):,} | {len(lat) / r['wall']:,.0f} | "
            f"{percentile(lat, 50) * 1000:.1f} | {percentile(lat, 95) * 1000:.1f} | "
            f"{percentile(lat, 99) * 1000:.1f} | {r['errors']} |"
        )
    if not flat or any(r["errors"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
