"""The report: escaping checked on parsed HTML, and the demo's report loaded in a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import events_table

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts, self.handlers, self.text, self._in_script = 0, [], [], False
        self.external = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
            self._in_script = True
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in ("src", "href") and value and value.startswith(("http:", "https:", "//")):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.text.append(data)


def test_untrusted_values_are_text(sqlite_url, tmp_path):
    hostile = ['<script>alert(1)</script>', '" onmouseover="alert(2)', "<img src=x onerror=alert(3)>"]
    rows = [(1, 7, 0.0, hostile[0], hostile[1]), (2, 7, 0.3, hostile[2], hostile[0])]
    events_table(sqlite_url, rows)
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account", "day"],
                                                                     ts="ts", writers=["host=host"]),)))
    outputs = api.write_outputs(result, tmp_path / "out")
    html = outputs.files["report.html"].read_text()
    parser = Collect()
    parser.feed(html)
    assert parser.scripts == 1  # only the report's own copy-button script
    assert parser.handlers == []
    assert parser.external == []
    text = "".join(parser.text)
    for value in hostile:
        assert value in text  # shown, as text


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium not installed (.ci/system-deps installs it)")
    return found


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="dupfinder-chromium-")
    try:
        return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.browser
def test_demo_report_in_headless_chromium(tmp_path, artifacts):
    outputs = api.demo(tmp_path / "demo")
    report = outputs.files["report.html"]
    url = report.resolve().as_uri()
    dom = _run_chromium("--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    page = dom.stdout
    assert 'class="js"' in page  # the script ran
    clusters = sum(len(t["clusters"]) for t in outputs.findings["tables"])
    incidents = sum(len(t["incidents"]) for t in outputs.findings["tables"])
    assert clusters > 300 and incidents >= 5
    assert f"{clusters} near-duplicate cluster(s) in {incidents} incident(s)" in page
    assert page.count("Evidence read: xmin: not available on this engine") == len(outputs.findings["tables"])
    for table in outputs.findings["tables"]:
        for incident in table["incidents"]:
            assert incident["mechanism"] in page
            for writer in incident["writers"]:
                for value in writer.values():
                    assert str(value) in page
    assert page.count('class="chart timeline"') == 6
    assert 'class="chart gaps"' in page and 'class="chart per-day"' in page
    for name in ("cleanup.sql", "rollback.sql", "migration.sql"):
        assert f'href="{name}"' in page
    shot = artifacts / "demo-report.png"
    done = _run_chromium("--window-size=1280,3000", f"--screenshot={shot}", url)
    assert done.returncode == 0 and shot.stat().st_size > 50_000, done.stderr[-2000:]
    shutil.copy(report, artifacts / "demo-report.html")


def test_report_of_a_clean_scan(sqlite_url, tmp_path):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 8, 0.0)])
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account"], ts="ts"),)))
    html = api.write_outputs(result, tmp_path / "o").files["report.html"].read_text()
    assert "Clean: no rows with the same key written moments apart" in html
    assert Path(tmp_path / "o" / "cleanup.sql").exists()
