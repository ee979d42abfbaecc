"""The lock files (requirements/*.txt, written by `make lock`) hold every dependency that
pyproject.toml names, at a version its range allows, and agree with each other. A dependency
added or re-bounded without `make lock` fails here by name, instead of as an ImportError on
the next fresh machine (make installs from the locks only)."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUN_REQUIREMENTS = [Requirement(r) for r in PROJECT["dependencies"]]
TEST_REQUIREMENTS = RUN_REQUIREMENTS + [
    Requirement(r) for r in PROJECT["optional-dependencies"]["test"]
]
# "name==version" at the start of a line; a universal lock may pin one name twice, under
# markers for different Python versions.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(lock: str) -> dict[str, list[str]]:
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if match := PIN.match(line):
            pins.setdefault(canonicalize_name(match[1]), []).append(match[2])
    return pins


@pytest.mark.parametrize(
    ("lock", "requirements"), [("run.txt", RUN_REQUIREMENTS), ("test.txt", TEST_REQUIREMENTS)]
)
def test_lock_pins_every_dependency_within_its_range(lock, requirements):
    pins = _pins(lock)
    missing = [str(r) for r in requirements if canonicalize_name(r.name) not in pins]
    assert not missing, f"requirements/{lock} lacks {', '.join(missing)}: run `make lock`"
    outside = [
        f"{r.name}=={version} (pyproject.toml: {r})"
        for r in requirements
        for version in pins[canonicalize_name(r.name)]
        if not r.specifier.contains(version, prereleases=True)
    ]
    assert not outside, f"requirements/{lock} pins {', '.join(outside)}: run `make lock`"


def test_test_lock_keeps_the_run_locks_pins():
    run, test = _pins("run.txt"), _pins("test.txt")
    differ = {name: (versions, test.get(name)) for name, versions in run.items()}
    differ = {name: pair for name, pair in differ.items() if pair[0] != pair[1]}
    assert not differ, f"run.txt and test.txt disagree (run `make lock`): {differ}"
    assert len(run) > 20 and len(test) > len(run)  # both locks were read
