"""Where the browser journeys save their screenshots: never the tracked docs/screenshots on a
test run; there only through `make screenshots`."""

from pathlib import Path

from tests.browser.conftest import DEFAULT_SCREENSHOTS, SCREENSHOTS_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_a_test_run_saves_screenshots_under_var(request, monkeypatch):
    monkeypatch.delenv(SCREENSHOTS_ENV, raising=False)
    directory = request.getfixturevalue("screenshots")
    assert directory == DEFAULT_SCREENSHOTS == ROOT / "var" / "screenshots"
    assert directory.is_dir()


def test_the_environment_names_another_directory(request, monkeypatch, tmp_path):
    monkeypatch.setenv(SCREENSHOTS_ENV, str(tmp_path / "shots"))
    assert request.getfixturevalue("screenshots") == tmp_path / "shots"
    assert (tmp_path / "shots").is_dir()


def test_make_screenshots_refreshes_the_tracked_ones():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nscreenshots: install\n")[1].split("\n\n")[0]
    assert f"{SCREENSHOTS_ENV}=$(CURDIR)/docs/screenshots" in target
    assert "test_csm_journey[recent]" in target and "test_insights_page.py" in target
