"""Which app may import which: `customers` is the bottom (accounts and their usage), `anomalies`
builds on it, `notifications` on both. An import the other way round would tie a lower app to
a higher one's changes; these tests read every module's imports (top-level and inside
functions) with `ast` and name the offending line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The engine is a plain library (numpy in, dataclasses out, no Django: see the last test) that
# lives in the anomalies package; customers validate their holiday calendar and cohort names
# against its vocabulary.
CUSTOMERS_MAY_USE = ("anomalies.detection",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything `path` imports; `from a import b` yields both `a`
    and `a.b`, since b may be a module."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violations(files, forbidden: str, allowed=()) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files
        for line, name in imports(path)
        if _within(name, forbidden) and not any(_within(name, a) for a in allowed)
    )


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_import_reader_sees_relative_and_function_level_imports():
    # Or every test below would pass without looking.
    found = {name for _, name in imports(ROOT / "anomalies/views/customer.py")}
    assert {"anomalies.services", "anomalies.services.scans", "anomalies.selectors"} <= found
    found = {name for _, name in imports(ROOT / "customers/limits.py")}
    assert "anomalies.detection.calendar" in found  # imported inside a function


def test_customers_import_nothing_of_anomalies():
    assert _violations(_files("customers"), "anomalies", allowed=CUSTOMERS_MAY_USE) == []


def test_anomalies_import_nothing_of_notifications():
    # The scan knows nothing of preferences or outbox rows: a chunk records its news and
    # notifications take it (notifications.services.requests_create_from_scans).
    assert _violations(_files("anomalies"), "notifications") == []


def test_scan_services_never_import_the_tasks_that_import_them():
    # They send tasks by name (celery_app.signature): tasks -> services, never back.
    assert _violations(_files("anomalies/services"), "anomalies.tasks") == []


def test_the_detection_engine_imports_no_django_and_no_app():
    files = _files("anomalies/detection")
    found = []
    for package in ("django", "customers", "notifications", "accounts", "config"):
        found += _violations(files, package)
    found += _violations(files, "anomalies", allowed=("anomalies.detection",))
    assert found == []
