"""bench/scan_scale.py: its read-path comparison, and a whole run on a tiny portfolio (real
PostgreSQL, Redis and Celery workers), both read paths side by side."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.scan_scale import READ_PATHS, db_name, report_read_paths

ROOT = Path(__file__).resolve().parents[2]


def _scan(wall, read, usage, detect, write, peak, cpu, keys):
    stats = {
        "per": {"read": read, "read_usage": usage, "detect": detect, "write": write},
        "busy": [r + d + w for r, d, w in zip(read, detect, write, strict=True)],
    }
    return ({"wall": wall, "peak_mb": peak, "worker_cpu": cpu}, stats, keys)


def test_the_read_paths_table_gives_each_figure_and_the_after_over_before_ratio(capsys):
    found = {("c", "api_calls", "drop")}
    before = _scan(20.0, [4.0, 4.0], [3.0, 3.0], [5, 5], [1, 1], [600, 500], [9, 9], found)
    after = _scan(10.0, [1.0, 1.0], [0.5, 0.5], [5, 5], [1, 1], [300, 250], [6, 6], found)
    report_read_paths({"text": before, "binary": after})
    out = capsys.readouterr().out
    header = f"| figure | {READ_PATHS['text']} | {READ_PATHS['binary']} | ratio binary / text |"
    assert header in out
    assert "| wall time, s | 20.00 | 10.00 | 0.50 |" in out
    assert "| read, s (summed) | 8.00 | 2.00 | 0.25 |" in out
    assert "| - of which usage, s | 6.00 | 1.00 | 0.17 |" in out
    assert "| peak memory per worker, MB | 600.00 | 300.00 | 0.50 |" in out
    assert "share of chunk time read 40%, detect 50%, write 10%" in out  # text: 8 of 20 s
    assert "(the same ones)" in out


def test_read_paths_that_found_different_anomalies_are_called_out(capsys):
    report_read_paths(
        {
            "text": _scan(1.0, [1.0], [1.0], [1], [1], [1], [1], {("a", "m", "drop")}),
            "binary": _scan(1.0, [1.0], [1.0], [1], [1], [1], [1], set()),
        }
    )
    assert "DIFFERENT: the read paths disagree" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.redis
def test_a_tiny_run_scans_with_both_read_paths_and_drops_its_scratch_database():
    scratch = f"{db_name(os.environ['DATABASE_URL'])}_scan_smoke"[:63]
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "scan_scale.py"),
            *("--accounts", "24", "--metrics", "3", "--days", "60", "--chunk", "12"),
            *("--workers", "1", "--naive-sample", "2", "--scratch-db", scratch),
            *("--redis-db", urlsplit(os.environ["REDIS_URL"]).path.strip("/") or "0"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Scan succeeded: 24 accounts, 72 series, 2 chunks of 12" in out
    assert "Read paths, one full scan each on the same data" in out
    assert "(the same ones)" in out
    assert "per series:" in out

    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])._replace(scheme="postgresql", path="/postgres")
    with psycopg.connect(url.geturl()) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,))
        assert left.fetchone() is None
