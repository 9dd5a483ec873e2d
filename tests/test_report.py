"""The report: escaping checked on parsed HTML, and the demo's report loaded in a real headless Chromium."""

from __future__ import annotations

import doctest
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import events_table
from hypothesis import given
from hypothesis import strategies as st

from dupfinder import api, charts, report
from dupfinder.config import ScanOptions, table_spec
from dupfinder.sqltemplates import spelled_out

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
    assert f"{clusters} near-duplicate clusters in {incidents} incidents" in page
    assert page.count("Evidence read: xmin: not available on this engine") == len(outputs.findings["tables"])
    for table in outputs.findings["tables"]:
        for incident in table["incidents"]:
            assert incident["mechanism"] in page
            for writer in incident["writers"]:
                for value in writer.values():
                    assert str(value) in page
    # one timeline per incident (the demo's two consumers redelivering are one retry incident: stranger23)
    assert page.count('class="chart timeline wide"') == incidents == page.count('class="chart timeline narrow"')
    assert 'class="chart gaps wide"' in page and 'class="chart per-day narrow"' in page
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
    assert "<h1>No duplicates found in events</h1>" in html
    assert Path(tmp_path / "o" / "cleanup.sql").exists()


class Tags(HTMLParser):
    """Start tags with their attributes, the text, and the text of every td and svg text element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags, self.text, self.cells, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "text"):
            self._cell = [tag, dict(attrs), ""]

    def handle_endtag(self, tag):
        if tag in ("td", "text") and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[2] += data


def _parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_docstring_examples_of_the_report_and_charts():
    for module in (report, charts):
        result = doctest.testmod(module)
        assert result.attempted > 3 and result.failed == 0


@given(st.text(alphabet="ab <>&\"'`/=\n", max_size=60))
def test_recommendation_markdown_is_escaped_first_and_only_code_spans_become_markup(text):
    parsed = _parse(str(report.inline_markdown(text)))
    assert {tag for tag, _ in parsed.tags} <= {"code", "span"}
    assert all(attrs == {} for tag, attrs in parsed.tags if tag == "code")
    assert all(set(attrs) == {"class"} for tag, attrs in parsed.tags if tag == "span")
    # line breaks and other control characters spelled out (\u000a): HTML would fold them into spaces
    assert "".join(parsed.text) == spelled_out(re.sub(r"`([^`\n]+)`", r"\1", text))
    assert [t for t, _ in parsed.tags].count("code") == len(re.findall(r"`[^`\n]+`", text))


@given(st.lists(st.text(alphabet="abc<>&-0 ", min_size=1, max_size=12), min_size=0, max_size=30))
def test_sql_summary_keeps_every_word_of_the_header(lines):
    text = "".join(f"-- {line}\n" for line in lines) + "\nSELECT 1;\n"
    points = report.sql_summary(text)
    words = [w for line in lines if set(line.strip()) - {"-", "="} for w in line.split()]
    got = [w for p in points for w in p["text"].split()]
    assert got == (words if len(points) < 30 else words[:len(got)])


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    return api.demo(tmp_path_factory.mktemp("demo-report"))


def test_sql_header_sentences_are_one_point_each(demo_outputs):
    cleanup = demo_outputs.files["cleanup.sql"].read_text()
    points = [p["text"] for p in report.sql_summary(cleanup)]
    # the header's paragraph arrives as one point, its sentences whole, though the file wraps it over lines
    assert any(p.startswith("deletes 431 rows that duplicate an earlier row exactly; every deleted row is first "
                            "copied into a dupfinder_backup_* table in the same transaction. Each table's "
                            "transaction aborts and deletes nothing if any losing row changed since the scan")
               and p.endswith("Undo with rollback.sql.") for p in points), points
    subs = [p for p in report.sql_summary(cleanup) if p["sub"]]
    # names in SQL comments are JSON strings (no name can end the comment line)
    assert [p["text"].split(":")[0] for p in subs] == [json.dumps(t["table"]) for t in demo_outputs.findings["tables"]]
    migration = [p["text"] for p in report.sql_summary(demo_outputs.files["migration.sql"].read_text())]
    assert any(p.startswith("adds a UNIQUE constraint") and p.endswith("far duplicates alike).") for p in migration)
    rollback = [p["text"] for p in report.sql_summary(demo_outputs.files["rollback.sql"].read_text())]
    assert rollback[3].startswith("restores the rows") and rollback[3].endswith("when done."), rollback
    assert rollback[4].startswith("FIRST, if migration.sql was applied") and rollback[-1].startswith("DROP INDEX")
    assert rollback[1].startswith('generated from the scan of "sqlite:') and rollback[1].endswith('(dupfinder "0.1.0")')
    verify = [p["text"] for p in report.sql_summary(demo_outputs.files["verify.sql"].read_text())]
    assert len(verify) == 3 and "returns the rows of near-duplicate clusters written since then" in verify[1]
    assert verify[2].startswith("sqlite3: sqlite3 DATABASE \".parameter set :since")  # the demo is SQLite


def test_recommendations_render_code_and_writers_are_never_blank(demo_outputs):
    html = demo_outputs.files["report.html"].read_text()
    assert "<code>flock -n /run/lock/JOB.lock</code>" in html
    parsed = _parse(html)
    fixes = re.findall(r'<ol class="fixes">(.*?)</ol>', html, re.S)
    assert fixes and all("`" not in re.sub(r"<[^>]+>", "", f) for f in fixes)
    assert all(text.strip() for tag, _, text in parsed.cells)


def test_report_without_writer_columns_never_prints_an_empty_writer(sqlite_url, tmp_path):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0), (4, 8, 0.4)])
    spec = table_spec(table="events", keys=["account", "day"], ts="ts", infer_writers=False)
    result = api.scan(ScanOptions(url=sqlite_url, tables=(spec,)))
    html = api.write_outputs(result, tmp_path / "o").files["report.html"].read_text()
    parsed = _parse(html)
    assert "Writers: not recorded" in html
    lanes = [text for tag, attrs, text in parsed.cells if tag == "text" and attrs.get("text-anchor") == "start"]
    assert lanes and report.NO_WRITER in lanes and all(lane.strip() for lane in lanes)
    assert all(text.strip() for tag, _, text in parsed.cells)
    assert "none: writers not recorded" in html


def test_far_duplicate_keys_are_listed_capped_with_the_count(sqlite_url, tmp_path):
    count = report.FAR_KEYS_SHOWN + 7
    rows = [(n, 100 + n // 2, 0.0 if n % 2 == 0 else 3600.0 + n) for n in range(2 * count)]  # an hour apart
    events_table(sqlite_url, [*rows, (9000, 7, 0.0), (9001, 7, 0.2)])
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account", "day"],
                                                                     ts="ts"),)))
    outputs = api.write_outputs(result, tmp_path / "o")
    html = outputs.files["report.html"].read_text()
    assert "see the report" in outputs.files["migration.sql"].read_text()
    far = re.search(r'<section class="far" id="far-1">(.*?)</section>', html, re.S).group(1)
    keys = re.findall(r'<td data-label="key">(.*?)</td>', far)
    assert len(keys) == report.FAR_KEYS_SHOWN
    assert f"Listed: the first {report.FAR_KEYS_SHOWN} of {count}" in far
    assert f"Far duplicates: {count} {'key' if count == 1 else 'keys'} written again later" in far
    assert keys[0] == '<span class="id">account=100</span>, <span class="id">day=2026-11-02</span>'
    assert f"(findings.json lists {count})" in far


def test_gap_histogram_marks_each_table_window_and_counts_gaps():
    svg = str(charts.gap_histogram([0.00005, 0.3, 0.4, 1.5], {2.0: ["orders", "charges"], 0.5: ["ledger"]}))
    wide, narrow = svg.split("</svg>")[:2]
    for chart in (wide, narrow):
        assert chart.count("stroke-dasharray") == 2
        assert "window 500 ms: ledger" in chart and "window 2.0 s: orders" in chart
        assert ">gaps</text>" in chart and ">rows</text>" not in chart
    assert "window 2.0 s: orders, charges" in wide


def test_clusters_per_day_on_a_time_axis_with_full_dates():
    svg = str(charts.per_day({"2025-12-30": 3, "2026-01-02": 1, "2025-12-31": 2}))
    wide = svg.split("</svg>")[0]
    labels = re.findall(r">(\d{4}-\d{2}-\d{2})</text>", wide)
    assert "2025-12-30" in labels and any(label.startswith("2026-") for label in labels)
    bars = [(float(x) + float(w) / 2, day) for x, w, day in
            re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="#d9480f">'
                       r"<title>(\S+):", wide)]
    (x30, _), (x31, _), (x02, _) = sorted(bars)
    assert abs((x02 - x30) - 3 * (x31 - x30)) < 0.5  # the empty day is a gap, not squeezed out


def test_big_timelines_keep_whole_clusters_and_say_how_many():
    clusters = [[(k * 10_000_000, "host=a"), (k * 10_000_000 + 300_000, "host=b")] for k in range(1217)]
    svg, note = charts.timeline(clusters, "writes")
    assert note == "every 5th of 1,217 clusters shown: 488 of 2,434 writes"
    wide = str(svg).split("</svg>")[0]
    assert f"writes ({note})" in wide
    tooltips = re.findall(r"<title>(host=[ab]) at [^<]+</title>", wide)
    assert tooltips.count("host=a") == tooltips.count("host=b") == 244  # both writes of every kept cluster
    assert charts.timeline(clusters[:300], "writes")[1] == ""
    assert [charts.ordinal(n) for n in (2, 3, 11, 23, 1217)] == ["2nd", "3rd", "11th", "23rd", "1,217th"]


def test_h1_counts_keys_and_says_more_than_once_when_a_key_came_back(sqlite_url, tmp_path):
    day = 86_400.0
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 7, day), (4, 7, day + 0.2), (5, 8, 0.0), (6, 8, 0.1)])
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account", "day"],
                                                                     ts="ts"),)))
    outputs = api.write_outputs(result, tmp_path / "o")
    html = outputs.files["report.html"].read_text()
    incidents = len(outputs.findings["tables"][0]["incidents"])
    assert len(outputs.findings["tables"][0]["clusters"]) == 3
    assert (f"<h1>events: 2 keys written more than once (6 rows) in {report.count(incidents, 'incident')}; 1 key "
            "written again later (far duplicates)</h1>") in html  # account 7, a day later: it blocks a constraint


def test_a_huge_cluster_shows_its_first_rows_and_its_survivor(sqlite_url, tmp_path):
    rows = [(n, 7, n * 0.01) for n in range(1, report.ROWS_SHOWN + 11)]
    events_table(sqlite_url, rows)
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account", "day"],
                                                                     ts="ts", keep="latest"),)))
    html = api.write_outputs(result, tmp_path / "o").files["report.html"].read_text()
    shown = re.findall(r'<td data-label="row" class="id">id=(\d+)', html)
    assert shown == [str(n) for n in range(1, report.ROWS_SHOWN)] + [str(report.ROWS_SHOWN + 10)]
    assert f"{report.ROWS_SHOWN + 10} rows</span>" in html and "… and 10 more rows of this cluster" in html


def test_every_sql_file_the_scan_wrote_is_in_the_report(demo_outputs):
    html = demo_outputs.files["report.html"].read_text()
    for name in ("cleanup.sql", "rollback.sql", "migration.sql", "verify.sql"):
        assert f'href="{name}"' in html, name
    assert "near_duplicates" in html  # verify.sql's query itself is shown, not only linked


def test_evidence_line_prints_no_python_reprs_or_internals(demo_outputs):
    html = demo_outputs.files["report.html"].read_text()
    lines = re.findall(r'<p class="signals note">(.*?)</p>', html, re.S)
    assert lines and all("[]" not in line and "{" not in line and "[{" not in line for line in lines), lines
    assert all("tuning clusters" not in line and "coverage statements" not in line for line in lines)


def test_an_unknown_incident_names_its_shortlist_and_a_divergent_cluster_keeps_no_row(sqlite_url, tmp_path):
    """The heading once read "unknown · confidence 100%": the 100% is the chance that the truth is one of the
    shortlist, so the heading names the shortlist. And a divergent cluster, which cleanup.sql leaves whole,
    marked its earliest row "✔ kept" as if the others were going."""
    import sqlalchemy as sa
    from helpers import at, make_table

    rows = [{"no": 2 * i + n + 1, "ref": f"INV-{i}", "amount": 10 + i, "emitted_by": writer, "at": at(i * 0.05 + lag)}
            for i in range(40) for n, (writer, lag) in enumerate((("sched-1", 0.0), ("sched-2", 0.42)))]
    rows[-1]["amount"] = 999  # the last cluster's copies differ: divergent
    make_table(sqlite_url, "invoices", [sa.Column("no", sa.Integer, primary_key=True), sa.Column("ref", sa.String(16)),
                                        sa.Column("amount", sa.Integer), sa.Column("emitted_by", sa.String(16)),
                                        sa.Column("at", sa.DateTime)], rows)
    spec = table_spec(table="invoices", keys=["ref"], ts="at", writers=["run=emitted_by"])
    result = api.scan(ScanOptions(url=sqlite_url, tables=(spec,)))
    table = result.tables[0]
    assert any(i.mechanism == "unknown" for i in table.incidents)
    html = api.write_outputs(result, tmp_path / "o").files["report.html"].read_text()
    text = re.sub(r"\s+", " ", "".join(_parse(html).text))
    assert "unknown · confidence" not in text
    assert re.search(r"unknown: one of (duplicate_run or multi_host|multi_host or duplicate_run) · \d+% that it is "
                     r"one of them", text), text[:2000]
    divergent = [c for c in table.clusters if c.payload == "divergent"]
    assert len(divergent) == 1
    article = html.split(f">ref={divergent[0].key['ref']}</span>", 1)[1].split("</details>", 1)[0]
    assert "divergent" in article and "✔ kept" not in article
    assert html.count("✔ kept") >= 1  # the identical clusters still show theirs


def test_a_cluster_divergent_in_an_untrusted_writer_column_highlights_it_and_keys_do_not_wrap(sqlite_url, tmp_path):
    """Two services writing the same payments in lockstep: their `billing_service` column alternates more than a
    shuffle could, so it is not trusted (an app column taken in turn never is; a host column would be, as writers in
    lockstep) and every cluster is divergent in it. The report showed it under the
    role's name ("host") and looked for the role's name in `differing_columns`, so nothing was highlighted and a
    reader saw "divergent" beside two rows that looked the same; and the key `INV-2026-00001` broke at its
    hyphens inside a long row."""
    import sqlalchemy as sa
    from helpers import at, make_table

    rows = [{"id": 2 * i + n + 1, "invoice_ref": f"INV-2026-{i:05d}", "amount": 10 + i, "memo": "lorem ipsum " * 30,
             "billing_service": host, "created_at": at(i * 0.02 + n * 0.005)}
            for i in range(30) for n, host in enumerate(("sched-a", "sched-b"))]
    make_table(sqlite_url, "payments", [sa.Column("id", sa.Integer, primary_key=True),
                                        sa.Column("invoice_ref", sa.String(20)), sa.Column("amount", sa.Integer),
                                        sa.Column("memo", sa.String(400)), sa.Column("billing_service", sa.String(16)),
                                        sa.Column("created_at", sa.DateTime)], rows)
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="payments", keys=["invoice_ref"],
                                                                     ts="created_at"),)))
    findings = api.write_outputs(result, tmp_path / "o")
    table = findings.findings["tables"][0]
    assert [(w["role"], w["column"], w["trusted"]) for w in table["writer_columns"]] == [
        ("app", "billing_service", False)]
    assert all(c["differing_columns"] == ["billing_service"] for c in table["clusters"])
    html = findings.files["report.html"].read_text()
    article = html.split(">invoice_ref=INV-2026-00000</span>", 1)[1].split("</details>", 1)[0]
    assert len(re.findall(r'<td data-label="app" class="id differs">sched-[ab] <span class="ne"', article)) == 2
    assert len(re.findall(r'<td data-label="invoice_ref" class="id">INV-2026-00000</td>', article)) == 2
    # and "What was scanned" says why: the column was not confirmed by the data
    assert "app = billing_service (inferred from its name and type; not confirmed by the data, so compared like " \
           "business data)" in html


def test_tables_with_clusters_come_first_then_far_duplicates_then_clean_ones(sqlite_url, tmp_path):
    """The report listed every table in config order: among 750 tenant tables the six hit ones were sections
    somewhere between the clean ones. Hit tables now come first, then tables with far duplicates only, then
    the clean ones, each group in config order, and each keeps its anchor (its place in the config)."""
    tables = {"a_clean": [(1, 7, 0.0), (2, 8, 0.0)], "b_hit": [(1, 7, 0.0), (2, 7, 0.2)],
              "c_far": [(1, 7, 0.0), (2, 7, 600.0)], "d_hit": [(1, 7, 0.0), (2, 7, 0.1)]}
    for name, rows in tables.items():
        events_table(sqlite_url, rows, name=name)
    result = api.scan(ScanOptions(url=sqlite_url, tables=tuple(table_spec(table=name, keys=["account"], ts="ts")
                                                               for name in tables)))
    html = api.write_outputs(result, tmp_path / "o").files["report.html"].read_text()
    sections = [attrs["id"] for tag, attrs in _parse(html).tags
                if tag == "section" and "table-findings" in attrs.get("class", "")]
    assert sections == ["table-2", "table-4", "table-3", "table-1"]
