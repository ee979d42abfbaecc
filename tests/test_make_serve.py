"""`make run`'s last step, `make serve`: the web server, a Celery worker and beat start
together on the port asked for, and Ctrl-C (or TERM to make) stops each of them once.

Runs the real Makefile target in its own process group against a migrated SQLite file, and
signals the group as a terminal's Ctrl-C does."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

pytestmark = pytest.mark.skipif(
    not VENV_PYTHON.exists() or sys.platform != "linux",
    reason="needs the project's .venv (make install) and /proc",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group(pgid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.fixture
def serve(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("SITE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    subprocess.run(
        [VENV_PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    port = _free_port()
    log = tmp_path / "serve.log"
    before = _untracked()
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, like a terminal's job
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"make serve did not come up:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        # The worker and beat log their start after the web server answers.
        time.sleep(3)
        yield process, port, log, before
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _stopped(process, log) -> str:
    try:
        process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make serve still running 45 s after the signal:\n{log.read_text()[-3000:]}")
    deadline = time.monotonic() + 15
    while _group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _group(process.pid) == [], "a process of make serve outlived it"
    return log.read_text()


def test_ctrl_c_stops_the_three_processes_once(serve):
    process, port, log, _ = serve
    group = _group(process.pid)
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in group}
    assert any(b"runserver" in c for c in commands.values())
    assert any(b"worker" in c for c in commands.values())
    assert any(b"beat" in c for c in commands.values())
    # Links in emails and Slack messages point at the port the server listens on.
    runserver = next(pid for pid, c in commands.items() if b"runserver" in c)
    assert _environ(runserver)["SITE_URL"] == f"http://127.0.0.1:{port}"

    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    output = _stopped(process, log)

    assert f"Tremor is starting at http://127.0.0.1:{port}/" in output
    # A trap that re-entered itself printed this thousands of times, then crashed.
    assert output.count("Warm shutdown") <= 2
    assert "Segmentation fault" not in output


def test_term_to_make_stops_everything(serve):
    process, _, log, _ = serve

    process.send_signal(signal.SIGTERM)
    output = _stopped(process, log)

    assert output.count("Warm shutdown") <= 2


def test_serving_leaves_nothing_untracked_outside_var(serve):
    process, _, log, before = serve
    os.killpg(process.pid, signal.SIGINT)
    _stopped(process, log)

    made = sorted(_untracked() - before)
    assert [path for path in made if not path.startswith("var/")] == []


def _untracked() -> set[str]:
    """Paths git does not track (ignored ones too), e.g. the ./control folder Celery's
    filesystem broker used to create."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {
        line[3:] for line in status if line.startswith(("??", "!!")) and "__pycache__" not in line
    }
