"""The customer page on PostgreSQL: the charts' old path (one engine replay per metric, on
every view) against the current one (one replay of all metrics, cached on its inputs).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tremor_dev .venv/bin/python \\
        bench/customer_page.py [--metrics 10] [--days 730] [--anomalies 40] [--repeats 5] \\
        [--query days=365]

Seeds a scratch database (tremor_bench_customer_page on the DATABASE_URL server, dropped and
recreated; the database DATABASE_URL names is never touched) with one account: `--metrics`
metrics of `--days` days of daily usage up to today (weekly pattern, growth, noise, a few
missing days, a drop in one metric), `--anomalies` anomalies over them (open, resolved and
dismissed, each with an action), 90 days of health scores and a few risk signals. Then it
renders the page with Django's test client, as the account's CSM, `--repeats` times per path:

- old: the charts through `series_windows_per_metric` below (the code the page ran before:
  `series_trace` per metric, nothing cached);
- new, cold: `series_windows` with a cache that keeps nothing (the first view after the
  usage or the settings changed);
- new, warm: `series_windows` with the configured cache (Redis with REDIS_URL, else local
  memory) after one view (every later view of the same data);

and prints each path's median time (wall clock, and this process's CPU time, which a busy
machine does not inflate), SQL queries per view, and old / new. The three paths
must draw the same charts: the run stops if they do not.
"""

import argparse
import contextlib
import datetime as dt
import os
import re
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anomalies.detection.vocabulary import CORE_METRICS, feature_metric  # noqa: E402
from bench import scratch  # noqa: E402

SCRATCH_DB = "tremor_bench_customer_page"
SEED = 20261130
METRICS = CORE_METRICS + tuple(
    feature_metric(name)
    for name in ("reports", "exports", "dashboards", "alerts", "search", "sharing", "integrations")
)
MISSING_SHARE = 0.01
HEALTH_DAYS = 90
RISK_SIGNALS = 5
TARGET_SECONDS = 0.3
# A metric's chart on the page (templates/anomalies/_chart.html; the health chart has no id).
CHART = re.compile(r'<figure class="chart[^"]*" id="metric-.*?</figure>', re.DOTALL)
NO_CACHE = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}


# --- setup ------------------------------------------------------------------------------------


def setup_django(url: str) -> None:
    # Settings read DATABASE_URL once, at import: set it before django.setup().
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The test client's host. Not setup_test_environment(): its template instrumentation
    # (the copies of every context it keeps for response.context) would be measured too.
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    # Production settings but unhashed static names (the bench runs no collectstatic).
    os.environ.setdefault("STATIC_MANIFEST", "false")
    # WhiteNoise (DEBUG off) looks for collectstatic's output, which the bench does not need.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def usage_values(n_metrics: int, n_days: int, last: dt.date) -> np.ndarray:
    """(metrics, days) daily usage ending on `last`: levels from 5 to 50,000 a day, a weekly
    pattern with quiet weekends, 20 % growth a year, 8 % noise, MISSING_SHARE missing days
    (NaN) and a 60 % drop in the second metric's last week."""
    rng = np.random.default_rng(SEED)
    first = last - dt.timedelta(days=n_days - 1)
    dow = (first.weekday() + np.arange(n_days)) % 7
    weekly = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.6, 0.55])[dow]
    growth = 1.2 ** (np.arange(n_days) / 365.0)
    levels = 10.0 ** rng.uniform(0.7, 4.7, n_metrics)
    noise = np.exp(rng.normal(0.0, 0.08, (n_metrics, n_days)))
    values = np.round(levels[:, None] * weekly * growth * noise)
    values[rng.random((n_metrics, n_days)) < MISSING_SHARE] = np.nan
    if n_metrics > 1:
        values[1, -7:] *= 0.4
    return values


def seed(*, metrics: int, days: int, anomalies: int):
    """One account of `metrics` metrics with `days` days of usage up to today, `anomalies`
    anomalies (each with an action), HEALTH_DAYS health scores and RISK_SIGNALS risk signals;
    returns (its CSM, the account)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from anomalies.models import AnomalyAction, AnomalyType, Direction, UsageAnomaly
    from customers.models import (
        Customer,
        HealthScoreHistory,
        RiskSignal,
        RiskSignalKind,
        UsageMetric,
    )

    if metrics > len(METRICS):
        raise SystemExit(f"--metrics is at most {len(METRICS)}")
    rng = np.random.default_rng(SEED)
    csm = get_user_model().objects.create_user(username=f"csm-{uuid.uuid4().hex[:8]}")
    customer = Customer.objects.create(
        external_id=f"bench-{uuid.uuid4().hex[:8]}", name="Bench Account", csm=csm, arr=250_000
    )
    today = timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    names = METRICS[:metrics]
    values = usage_values(metrics, days, today)
    UsageMetric.objects.bulk_create(
        (
            UsageMetric(
                customer=customer,
                metric=names[m],
                date=first + dt.timedelta(days=d),
                value=float(values[m, d]),
            )
            for m, d in np.argwhere(~np.isnan(values)).tolist()
        ),
        batch_size=5000,
    )
    now = timezone.now()
    rows = []
    for k in range(anomalies):
        started = today - dt.timedelta(days=int(rng.integers(1, min(days, 365))))
        # One open anomaly per metric at most (as the scan keeps them), then the others.
        status = "open" if k < metrics else ("resolved", "dismissed")[k % 2]
        spike = k % 4 == 3
        fields = {}
        if status == "resolved":
            fields["end_date"] = min(started + dt.timedelta(days=5), today)
        if status == "dismissed":
            fields.update(dismissed_at=now, dismissed_by=csm, dismiss_reason="false_positive")
        rows.append(
            UsageAnomaly(
                customer=customer,
                metric_type=names[k % metrics],
                anomaly_type=AnomalyType.SPIKE if spike else AnomalyType.DROP,
                direction=Direction.POSITIVE if spike else Direction.NEGATIVE,
                severity=("info", "warning", "critical")[k % 3] if not spike else "info",
                baseline_value=1000,
                actual_value=2500 if spike else 400,
                deviation_percent=150 if spike else -60,
                start_date=started,
                detected_at=now - dt.timedelta(days=(today - started).days),
                status=status,
                **fields,
            )
        )
    UsageAnomaly.objects.bulk_create(rows)
    AnomalyAction.objects.bulk_create(
        AnomalyAction(anomaly=row, user=csm, kind="investigate", note=f"Looked at it ({k})")
        for k, row in enumerate(rows)
    )
    HealthScoreHistory.objects.bulk_create(
        HealthScoreHistory(
            customer=customer,
            date=today - dt.timedelta(days=d),
            score=60 + d % 30,
            usage_component=60.0 + d % 30,
        )
        for d in range(HEALTH_DAYS)
    )
    RiskSignal.objects.bulk_create(
        RiskSignal(
            customer=customer,
            kind=RiskSignalKind.values[k % len(RiskSignalKind.values)],
            severity="warning",
            title=f"Signal {k}",
        )
        for k in range(RISK_SIGNALS)
    )
    return csm, customer


# --- the two paths ----------------------------------------------------------------------------


def series_windows_per_metric(*, customer, metrics, first, last) -> list[dict]:
    """The charts' data as the page computed it before: one `series_trace` replay per
    metric, on every view."""
    from anomalies.detection import series_trace
    from anomalies.selectors import series_inputs

    inputs = series_inputs(customer=customer, metrics=metrics, first=first, last=last)
    batch = inputs.batch
    traces = [
        series_trace(batch.values[row], start=batch.start, metric=metric, config=config)
        for row, (metric, config) in enumerate(zip(batch.metrics, inputs.configs, strict=True))
    ]
    return inputs.windows(traces)


@contextlib.contextmanager
def old_path():
    with mock.patch("anomalies.views.customer.series_windows", series_windows_per_metric):
        yield


@contextlib.contextmanager
def new_path_cold():
    from django.test import override_settings

    with override_settings(CACHES=NO_CACHE):
        yield


PATHS = {
    "old (series_trace per metric)": old_path,
    "new, cold cache (series_traces)": new_path_cold,
    "new, warm cache": contextlib.nullcontext,
}


def measure(client, url: str, repeats: int) -> dict:
    """{path: {"seconds": median, "cpu_seconds": median of this process's CPU time (what
    other processes on a busy machine do not inflate; PostgreSQL's share is not in it),
    "queries": per view, "charts": the charts' SVGs}}."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for name, path in PATHS.items():
        with path():
            if path is contextlib.nullcontext:
                client.get(url, secure=True)  # fills the cache
            times, cpu = [], []
            for _ in range(repeats):
                with CaptureQueriesContext(connection) as queries:
                    began, began_cpu = time.perf_counter(), time.process_time()
                    # Over HTTPS, as production serves it (no redirect to measure).
                    response = client.get(url, secure=True)
                    times.append(time.perf_counter() - began)
                    cpu.append(time.process_time() - began_cpu)
                if response.status_code != 200:
                    raise SystemExit(f"{name}: {url} answered {response.status_code}")
            results[name] = {
                "seconds": statistics.median(times),
                "cpu_seconds": statistics.median(cpu),
                "queries": len(queries),
                "charts": CHART.findall(response.content.decode()),
            }
    charts = [result["charts"] for result in results.values()]
    if not charts[0] or any(other != charts[0] for other in charts[1:]):
        raise SystemExit("the paths drew different charts (or none)")
    return results


def run(*, metrics: int, days: int, anomalies: int, repeats: int, query: str = "") -> dict:
    """Seed one account in the current database and measure its page on every path."""
    from django.test import Client
    from django.urls import reverse

    csm, customer = seed(metrics=metrics, days=days, anomalies=anomalies)
    client = Client()
    client.force_login(csm)
    url = reverse("customer-detail", args=[customer.pk]) + (f"?{query}" if query else "")
    return measure(client, url, repeats)


def render(results: dict, *, metrics: int, days: int, anomalies: int, query: str = "") -> str:
    old = next(iter(results.values()))
    lines = [
        f"customer page{f' ?{query}' if query else ''}, {metrics} metrics x {days} days, "
        f"{anomalies} anomalies "
        f"(target: under {TARGET_SECONDS * 1000:.0f} ms)",
        "",
        "| path | median | CPU (this process) | SQL queries | old / this (median, CPU) |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result['seconds'] * 1000:.0f} ms | {result['cpu_seconds'] * 1000:.0f} ms "
            f"| {result['queries']} "
            f"| {old['seconds'] / result['seconds']:.1f}x, "
            f"{old['cpu_seconds'] / result['cpu_seconds']:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", type=int, default=len(METRICS))
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--anomalies", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--query", default="", help="the page's query string, e.g. days=365 for a year of charts"
    )
    args = parser.parse_args()
    url = scratch.scratch_url(
        os.environ.get("DATABASE_URL", ""), name=SCRATCH_DB, script="bench/customer_page.py"
    )
    scratch.recreate_database(url, name=SCRATCH_DB)
    setup_django(url)
    results = run(
        metrics=args.metrics,
        days=args.days,
        anomalies=args.anomalies,
        repeats=args.repeats,
        query=args.query,
    )
    print(
        render(
            results,
            metrics=args.metrics,
            days=args.days,
            anomalies=args.anomalies,
            query=args.query,
        )
    )


if __name__ == "__main__":
    main()
