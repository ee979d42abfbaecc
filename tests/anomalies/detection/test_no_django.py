"""The engine runs in scan workers, the CLI and benchmarks: importing it must not pull in
Django (settings, app registry, database drivers). Checked in a fresh interpreter, because
this test process has long imported Django through pytest-django."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Every module of the package that exists, so a new one is covered without editing this.
PROBE = """
import importlib, json, pkgutil, sys
import anomalies.detection as package
names = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "imported": names,
    "django": sorted(m for m in sys.modules if m == "django" or m.startswith("django.")),
}))
"""


def test_the_detection_package_never_imports_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    for module in ("io", "cli", "types", "__main__"):
        assert f"anomalies.detection.{module}" in report["imported"]
    assert report["django"] == []
