"""Outputs at scale: memory follows what is shown, the report thins big clusters, literals stay the dialect's."""

from __future__ import annotations

import enum
import io
import itertools
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import events_table, scan_one
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.findings import OnDemand, findings_dict, stream_findings, write_findings
from dupfinder.remediate import dialect_for
from dupfinder.report import ROWS_SHOWN, report_context
from dupfinder.sqltemplates import literal

ROOT = Path(__file__).resolve().parent.parent
DIALECTS = [dialect_for(name) for name in ("sqlite", "postgresql", "mysql")]


@given(value=st.integers(min_value=-2**63, max_value=2**63 - 1))
def test_fast_integer_literals_are_what_the_dialect_compiles(value):
    for dialect in DIALECTS:
        compiled = sa.literal(value).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        assert literal(dialect, value) == str(compiled)


def test_the_dollar_tag_sees_a_dollar_text_anywhere_in_the_findings():
    from dupfinder.remediate import _dollar_texts, dollar_tag

    table = {"table": "t", "clusters": [{"key": {"k": "a$dupfinder$b"}, "rows": [{"values": {"n": 1}}]}]}
    assert _dollar_texts(table) == ["a$dupfinder$b"]
    assert dollar_tag(*_dollar_texts(table)) == "dupfinder1"


@given(texts=st.lists(st.text(st.sampled_from("$dupfinder0123x"), max_size=24), max_size=4))
def test_the_dollar_tag_from_the_tags_taken_is_the_first_no_text_holds(texts):
    """Streamed, the findings' texts are reduced to the tag suffixes they hold; the tag is the one the search over
    every text finds."""
    from dupfinder.remediate import dollar_tag, free_tag, tags_taken

    tag, n = "dupfinder", 0
    while any(f"${tag}$" in text for text in texts):
        n += 1
        tag = f"dupfinder{n}"
    assert dollar_tag(*texts) == free_tag(set().union(*(tags_taken([t]) for t in texts))) == tag


@given(text=st.text(st.sampled_from("ab\n\r\x0b\x1c\x85\u2028"), max_size=40), cuts=st.lists(st.integers(0, 40)),
       keep=st.integers(0, 5))
def test_what_the_report_shows_of_a_sql_file_written_in_pieces_is_its_first_lines(text, cuts, keep):
    """Lines as str.splitlines counts them, whichever piece a line break (or a \\r\\n) falls in."""
    from dupfinder.report import SqlShown

    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    shown = SqlShown(keep)
    for start, end in itertools.pairwise(bounds):
        shown.feed(text[start:end])
    shown.close()
    assert (shown.lines, shown.count) == (text.splitlines()[:keep], len(text.splitlines()))


def test_findings_json_streamed_holds_what_write_findings_writes(db_url, tmp_path):
    events_table(db_url, [(1, 7, 0.0, "a", "x\u00e9\n\"q\""), (2, 7, 0.3, "b", "y"), (3, 8, 0.0), (4, 9, 0.0),
                          (5, 9, 900.0)])
    result = api.scan(ScanOptions(url=db_url, tables=(table_spec(table="events", keys=["account"], ts="ts"),)))
    doc = findings_dict(result)
    write_findings(doc, tmp_path / "whole.json")
    stream_findings(findings_dict(result, on_demand=True), tmp_path / "streamed.json")  # clusters built as written
    streamed = (tmp_path / "streamed.json").read_text(encoding="utf-8")
    assert json.loads(streamed) == json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))
    assert doc["tables"][0]["far_duplicate_keys"] and doc["tables"][0]["clusters"][0]["rows"]
    # one line per cluster row, the rest indented as before
    assert sum(1 for line in streamed.splitlines() if line.strip().startswith('{"pk": ')) == 2


def test_the_report_thins_a_big_cluster_and_says_how_many_rows_it_left(sqlite_url):
    n = ROWS_SHOWN * 3
    events_table(sqlite_url, [(i, 7, i * 0.01, f"h{i % 2}") for i in range(1, n + 1)])
    for keep, survivor in (("earliest", 1), ("latest", n)):
        result = scan_one(sqlite_url, keys=["account"], writers=["host=host"], keep=keep)
        doc = {"dupfinder_version": "x", "scanned_at": "2026-11-03T00:00:00", "database": "db",
               "tables": [findings_dict_table(result)]}
        cluster = report_context(doc, {})["tables"][0]["clusters"][0]
        assert cluster["rows_total"] == n and len(cluster["rows"]) == ROWS_SHOWN
        assert cluster["more_rows"] == n - ROWS_SHOWN
        assert [r for r in cluster["rows"] if r["survivor"]][0]["pk"] == f"id={survivor}"


def findings_dict_table(table_result):
    from dupfinder.findings import table_dict

    return table_dict(table_result)


MEASURE = textwrap.dedent("""
    import resource, sys, time
    from dupfinder import api
    from dupfinder.config import ScanOptions, table_spec
    spec = table_spec(table="events", keys=["account", "day"], ts="ts", writers=["host=host"])
    started = time.perf_counter()
    api.write_outputs(api.scan(ScanOptions(url=sys.argv[1], tables=(spec,))), sys.argv[2])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, round(time.perf_counter() - started, 1))
""")


def _one_key_written(url: str, n: int) -> None:
    """One key written ``n`` times within one second by three hosts (the bulk insert runs in the database)."""
    events_table(url, [(1, 7, 0.0, "h0")])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if url.startswith("sqlite"):
            conn.exec_driver_sql(
                f"WITH RECURSIVE g(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
                "INSERT INTO events SELECT i, 7, '2026-11-02', "
                "strftime('%Y-%m-%d %H:%M:%S', '2026-11-03 02:30:00') || '.' || printf('%06d', i * 9), "
                "'h' || (i % 3), 'same' FROM g")
        else:
            conn.exec_driver_sql(
                "INSERT INTO events SELECT i, 7, '2026-11-02', timestamp '2026-11-03 02:30:00' + i * interval '9 us', "
                f"'h' || mod(i, 3), 'same' FROM generate_series(2, {n}) i")
    engine.dispose()


def test_one_key_written_100000_times_stays_under_300_mb_with_a_small_report(db_url, tmp_path):
    n = 100_000
    _one_key_written(db_url, n)
    out = tmp_path / "out"
    done = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-c", MEASURE, db_url, str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    peak_mb = int(done.stderr.strip().splitlines()[-1].split("=")[1]) // 1024
    print(f"one key x {n}: peak RSS {peak_mb} MB, {done.stdout.split()[1]} s")
    assert peak_mb <= 300, peak_mb
    report = (out / "report.html").read_text()
    assert len(report) < 1_000_000
    assert f"{n - ROWS_SHOWN} more rows of this cluster in findings.json" in report.replace(",", "")
    doc = json.loads((out / "findings.json").read_text())
    assert len(doc["tables"][0]["clusters"]) == 1 and len(doc["tables"][0]["clusters"][0]["rows"]) == n


def test_clusters_of_one_incident_hold_their_equal_readings_once(sqlite_url):
    """A batch written twice by two hosts: its clusters read alike, and each reading (observations, posterior,
    explanation) is one object however many clusters repeat it (50,000 clusters: 48 MB less)."""
    events_table(sqlite_url, [(2 * n + copy, n, n * 0.04 + copy * 0.3, f"batch-0{copy + 1}")
                              for n in range(300) for copy in (0, 1)])
    clusters = scan_one(sqlite_url, writers=["host=host"]).clusters
    assert len(clusters) == 300
    for part in ("observations", "posterior"):
        assert len({id(c.evidence[part]) for c in clusters}) == len({repr(c.evidence[part]) for c in clusters}) < 10
    assert len({id(c.explanation) for c in clusters}) == len({c.explanation for c in clusters}) < 10


OUTPUTS_PEAK = textwrap.dedent("""
    import gc, json, sqlite3, sys, tracemalloc
    from datetime import datetime, timedelta
    from dupfinder import api, findings, remediate
    from dupfinder.config import ScanOptions, table_spec
    n, folder = int(sys.argv[1]), sys.argv[2]
    conn = sqlite3.connect(f"{folder}/t.db")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER, day TEXT, ts DATETIME, host TEXT, "
                 "note TEXT)")
    start = datetime(2026, 11, 1)
    for k in range(n):  # two hosts; five clusters a second apart, the next five an hour later: n / 5 incidents
        at = start + timedelta(seconds=3600 * (k // 5) + k % 5)
        conn.executemany("INSERT INTO events VALUES (?, ?, 'd', ?, ?, 'same')",
                         [(2 * k + 1, k, str(at), "batch-01"),
                          (2 * k + 2, k, str(at + timedelta(milliseconds=300)), "batch-02")])
    conn.commit()
    conn.close()
    spec = table_spec(table="events", keys=["account", "day"], ts="ts", writers=["host=host"])
    result = api.scan(ScanOptions(url=f"sqlite:///{folder}/t.db", tables=(spec,)))
    remediate.BATCH_ROWS = 100  # the plan's batches, which bound what cleanup.sql holds, fill at both sizes
    findings.KEPT_ROWS = 1000  # so do the cluster dicts kept between the outputs' passes (20,000 rows by default)
    gc.collect()
    tracemalloc.start()
    api.write_outputs(result, f"{folder}/out")
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "clusters": len(result.tables[0].clusters),
                      "incidents": len(result.tables[0].incidents)}))
""")


def _measured(script: str, *args: str) -> dict:
    """What ``script`` printed last (a JSON object), run in a fresh process."""
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _outputs_peak(folder: Path, clusters: int) -> dict:
    folder.mkdir()
    measured = _measured(OUTPUTS_PEAK, str(clusters), str(folder))
    assert (measured["clusters"], measured["incidents"]) == (clusters, clusters // 5)
    return {**measured, "report": (folder / "out" / "report.html").read_text(encoding="utf-8"),
            "cleanup": (folder / "out" / "cleanup.sql").read_text(encoding="utf-8")}


def test_ten_times_the_clusters_take_the_outputs_little_more_memory(tmp_path):
    """What writing findings.json, the SQL files and the report adds to the scan result (tracemalloc, in a fresh
    process) hardly grows with the clusters: they are built, rendered and written one at a time. Holding the
    findings document's clusters and cleanup.sql's plan took about 2,300 bytes a cluster; what is left is a
    64-bit hash a row identity (cleanup's duplicate check) and one a key (the report's count of keys)."""
    small, big = _outputs_peak(tmp_path / "small", 500), _outputs_peak(tmp_path / "big", 5000)
    per_cluster = (big["peak"] - small["peak"]) / (5000 - 500)
    print(f"output stage: 500 clusters {small['peak'] / 1e6:.1f} MB, 5,000 {big['peak'] / 1e6:.1f} MB, "
          f"{per_cluster:.0f} bytes a cluster more")
    assert per_cluster < 600, per_cluster
    assert "5000 rows to delete" in big["cleanup"] and big["cleanup"].count("\nCOMMIT;") == 50  # batches of 100
    # the report shows as much of 1,000 incidents as of 100 (30 in the overview and in the table's section, 100
    # clusters), and says where the rest are
    assert len(big["report"]) < 1.2 * len(small["report"])
    for doc, incidents, clusters in ((small, 70, 400), (big, 970, 4900)):
        assert len(re.findall(f"… and {incidents} more incident(?:s|\\(s\\)) in findings.json", doc["report"])) == 2
        assert re.search(f"… and {clusters} more cluster(?:s|\\(s\\)) in findings.json", doc["report"])


WHOLE_SCAN_PEAK = textwrap.dedent("""
    import gc, json, sqlite3, sys, tracemalloc
    from datetime import datetime, timedelta
    from dupfinder import api, findings
    from dupfinder.config import ScanOptions, table_spec
    n, folder = int(sys.argv[1]), sys.argv[2]
    findings.KEPT_ROWS = 1000  # the cluster dicts kept between the outputs' passes fill at both sizes
    conn = sqlite3.connect(f"{folder}/t.db")
    notes = "".join(f", note{i} TEXT" for i in range(8))
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER, day TEXT, ts DATETIME, "
                 f"host TEXT{notes})")
    start = datetime(2026, 11, 1)
    for k in range(n):  # two hosts, five clusters a second apart, the next five an hour later; eight text columns
        at = start + timedelta(seconds=3600 * (k // 5) + k % 5)
        texts = [f"order {k:07d} line {i}: customer reference and a comment" for i in range(8)]
        conn.executemany("INSERT INTO events VALUES (?, ?, 'd', ?, ?" + ", ?" * 8 + ")",
                         [(2 * k + 1, k, str(at), "batch-01", *texts),
                          (2 * k + 2, k, str(at + timedelta(milliseconds=300)), "batch-02", *texts)])
    conn.commit()
    conn.close()
    spec = table_spec(table="events", keys=["account", "day"], ts="ts", writers=["host=host"])
    gc.collect()
    tracemalloc.start()
    result = api.scan(ScanOptions(url=f"sqlite:///{folder}/t.db", tables=(spec,)))
    api.write_outputs(result, f"{folder}/out")
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "clusters": len(result.tables[0].clusters)}))
""")


def _whole_scan_peak(folder: Path, clusters: int) -> int:
    folder.mkdir()
    measured = _measured(WHOLE_SCAN_PEAK, str(clusters), str(folder))
    assert measured["clusters"] == clusters
    doc = json.loads((folder / "out" / "findings.json").read_text(encoding="utf-8"))
    rows = doc["tables"][0]["clusters"][-1]["rows"]
    assert rows[0]["values"]["note7"] == f"order {clusters - 1:07d} line 7: customer reference and a comment"
    return measured["peak"]


@pytest.fixture(scope="module")
def whole_scans(tmp_path_factory):
    """The folders of whole scans of 500 and 5,000 clusters (findings.json and the rest in out/), with their peaks."""
    folder = tmp_path_factory.mktemp("whole")
    return {n: (folder / str(n), _whole_scan_peak(folder / str(n), n)) for n in (500, 5000)}


def test_ten_times_the_clusters_take_a_whole_scan_little_more_memory_a_cluster(whole_scans):
    """A whole scan and its outputs (tracemalloc's peak, in a fresh process) of a table with eight text columns:
    what a cluster adds no longer follows the table's width. Each row's values were a dict of 13 entries held
    until the outputs were written: 5,200 bytes a cluster of two rows here, 2,600 on a table without the text
    columns; kept in a temporary file, a cluster takes about 2,800 bytes (its rows' ids, times and writers, and
    the attribution's evidence)."""
    small, big = whole_scans[500][1], whole_scans[5000][1]
    per_cluster = (big - small) / (5000 - 500)
    print(f"whole scan: 500 clusters {small / 1e6:.1f} MB, 5,000 {big / 1e6:.1f} MB, {per_cluster:.0f} bytes a cluster")
    assert per_cluster < 3600, per_cluster


def test_format_json_prints_what_findings_json_holds(sqlite_url, tmp_path):
    """``scan --format json`` writes the document as findings.json does, one cluster at a time (it printed one
    json.dumps string of the whole document, built from every cluster's dict at once)."""
    from click.testing import CliRunner

    from dupfinder.cli import main

    events_table(sqlite_url, [(1, 7, 0.0, "a", "x\u00e9"), (2, 7, 0.4, "b"), (3, 8, 0.0, "a"), (4, 8, 0.2, "b")])
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--key", "day",
                                     "--ts", "ts", "--format", "json", "--out", str(tmp_path / "out")])
    assert done.exit_code == 1, done.output
    assert done.output == (tmp_path / "out" / "findings.json").read_text(encoding="utf-8")
    assert len(json.loads(done.output)["tables"][0]["clusters"]) == 2


def test_the_json_of_ten_times_the_clusters_takes_little_more_memory(tmp_path):
    """What printing the findings adds to a scan result (tracemalloc) hardly grows with its clusters."""
    import io
    import os
    import tracemalloc

    from dupfinder.findings import write_findings_to

    peaks = {}
    for n in (300, 3000):
        url = f"sqlite:///{tmp_path}/t{n}.db"
        events_table(url, [(2 * k + copy, k, 5 * k + 0.3 * copy, f"h{copy}") for k in range(n) for copy in (1, 2)])
        result = api.scan(ScanOptions(url=url, tables=(table_spec(table="events", keys=["account"], ts="ts",
                                                                   writers=["host=host"]),)))
        assert result.cluster_count == n
        with open(os.devnull, "w", encoding="utf-8") as sink:
            write_findings_to(findings_dict(result, on_demand=True), io.StringIO())  # imports done before
            tracemalloc.start()
            write_findings_to(findings_dict(result, on_demand=True), sink)
            peaks[n] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    per_cluster = (peaks[3000] - peaks[300]) / 2700
    print(f"--format json: 300 clusters {peaks[300] / 1e3:.0f} kB, 3,000 {peaks[3000] / 1e3:.0f} kB")
    assert per_cluster < 100, per_cluster



class CountingSink(io.BytesIO):
    """What a line-buffered text stream hands the file below it, write by write."""

    def __init__(self):
        super().__init__()
        self.writes = 0

    def write(self, data):
        self.writes += 1
        return super().write(data)


def _two_row_clusters(tmp_path, n):
    url = f"sqlite:///{tmp_path}/t.db"
    events_table(url, [(2 * k + copy, k, 5 * k + 0.3 * copy, f"h{copy}") for k in range(n) for copy in (1, 2)])
    return url


def test_json_on_a_line_buffered_stream_is_written_in_few_pieces(tmp_path):
    """click's standard output is line buffered: the findings reach it in large joined pieces, not one flush to
    the file a line (a write per piece made --format json 1.3 s of a 5M-row DuckDB scan's 5 s)."""
    from dupfinder.findings import write_findings_to

    n = 2000
    url = _two_row_clusters(tmp_path, n)
    result = api.scan(ScanOptions(url=url, tables=(table_spec(table="events", keys=["account"], ts="ts",
                                                               writers=["host=host"]),)))
    sink = CountingSink()
    out = io.TextIOWrapper(sink, encoding="utf-8", line_buffering=True)
    write_findings_to(findings_dict(result, on_demand=True), out)
    out.flush()
    text = sink.getvalue().decode("utf-8")
    assert len(json.loads(text)["tables"][0]["clusters"]) == n and text.count("\n") > 20 * n
    assert sink.writes < n / 20, sink.writes


def test_cleanup_to_standard_output_is_written_in_few_pieces(tmp_path, monkeypatch):
    """``dupfinder cleanup FINDINGS.json`` without -o prints the plan as cleanup.sql holds it, in joined pieces:
    each of jinja's pieces holding a line break was a flush of click's line-buffered standard output."""
    from dupfinder.cli import main

    n = 2000
    url = _two_row_clusters(tmp_path, n)
    out = tmp_path / "out"
    api.write_outputs(api.scan(ScanOptions(url=url, tables=(table_spec(table="events", keys=["account"], ts="ts"),))),
                      out)
    sink = CountingSink()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(sink, encoding="utf-8", line_buffering=True))
    main(["cleanup", str(out / "findings.json")], standalone_mode=False)
    sys.stdout.flush()
    printed = sink.getvalue().decode("utf-8")
    assert printed == (out / "cleanup.sql").read_text(encoding="utf-8")
    assert printed.count("\n") > n and sink.writes < n / 20, sink.writes


CLEANUP_PEAK = textwrap.dedent("""
    import json, os, sys, tracemalloc
    from dupfinder import api, remediate
    from dupfinder.textfiles import write_pieces
    remediate.BATCH_ROWS = 100  # the plan's batches, which bound what cleanup.sql holds, fill at both sizes
    tracemalloc.start()
    cleanup, rollback = api.cleanup_parts(sys.argv[1])
    write_pieces(os.devnull, cleanup)
    write_pieces(os.devnull, rollback)
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1]}))
""")


def test_cleanup_of_ten_times_the_clusters_takes_little_more_memory(whole_scans):
    """``dupfinder cleanup FINDINGS.json`` (a fresh process, tracemalloc) decodes the findings' clusters from the
    file's text one at a time and writes the SQL as it is rendered: it loaded the whole document and joined each
    file into one string (9,900 bytes a cluster of this table). What is left a cluster: the text of findings.json
    (3,100 bytes) and cleanup.sql's row identities (about 1,000)."""
    peaks, texts = {}, {}
    for n, (folder, _) in whole_scans.items():
        peaks[n] = _measured(CLEANUP_PEAK, str(folder / "out" / "findings.json"))["peak"]
        texts[n] = (folder / "out" / "findings.json").stat().st_size
    per_cluster = (peaks[5000] - peaks[500]) / 4500
    print(f"cleanup: 500 clusters {peaks[500] / 1e6:.1f} MB, 5,000 {peaks[5000] / 1e6:.1f} MB, "
          f"{per_cluster:.0f} bytes a cluster; findings.json {(texts[5000] - texts[500]) / 4500:.0f} bytes a cluster")
    assert per_cluster < 1.6 * (texts[5000] - texts[500]) / 4500, per_cluster


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                         max_size=3), max_leaves=8)


@given(tables=st.lists(st.fixed_dictionaries({"clusters": st.lists(JSON_VALUES, max_size=4)}, optional={
    "table": st.text(max_size=4), "rows": JSON_VALUES}), max_size=3), extra=st.dictionaries(st.text(max_size=3),
    JSON_VALUES, max_size=2), indent=st.sampled_from([None, 0, 2]), cut=st.integers(0, 400))
def test_findings_read_lazily_are_what_json_reads(tables, extra, indent, cut):
    """The clusters left in the text and decoded when read make the document json.loads makes; a broken text
    fails with json.loads's own error."""
    from dupfinder.findings import OnDemand, _lazy_document

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, (list, OnDemand)) else value

    text = json.dumps({**extra, "tables": tables}, indent=indent)
    assert plain(_lazy_document(text)) == json.loads(text)
    broken = text[:cut] + text[cut + 1:]
    try:
        expected = json.loads(broken)
    except json.JSONDecodeError as err:
        with pytest.raises(json.JSONDecodeError, match=re.escape(str(err))):
            _lazy_document(broken)
    else:
        assert plain(_lazy_document(broken)) == expected


def test_a_cluster_read_again_is_built_once():
    """The outputs read one cluster of 100,000 rows about eight times in turn (findings.json, the survey of
    cleanup and of rollback, their plans, the report): its dict is built once while it is the one read."""
    from dupfinder.findings import OnDemand

    built = []

    def build(item):
        built.append(item)
        return {"n": item}

    clusters = OnDemand([0, 1, 2], build)
    for _ in range(8):
        assert clusters[0] == {"n": 0} and clusters[-3] == {"n": 0}
    assert built == [0]
    assert list(clusters) == [{"n": 0}, {"n": 1}, {"n": 2}] and clusters[1:] == [{"n": 1}, {"n": 2}]
    assert built == [0, 1, 2, 1, 2]
    with pytest.raises(IndexError):
        clusters[3]


def test_clusters_within_the_budget_are_built_once_for_every_pass():
    """The outputs read every cluster about eight times, pass after pass (findings.json, cleanup's and
    rollback's surveys and plans, the report): the dicts are kept while their rows fit the budget, and past it
    built again at each read, so what is kept never passes the budget (each was built eight times: 0.28 s of
    writing 2,500 clusters' outputs)."""
    from dupfinder.findings import OnDemand

    built = []

    def build(item):
        built.append(item)
        return {"rows": item}

    clusters = OnDemand([3, 4, 2, 5, 1], build, weight=lambda rows: rows, budget=9)
    for _ in range(8):
        assert [c["rows"] for c in clusters] == [3, 4, 2, 5, 1]
    # 3 + 4 + 2 = 9 rows kept; 5 does not fit, and 1 fits no more than the budget allows (9 already kept)
    assert built.count(3) == built.count(4) == built.count(2) == 1 and built.count(5) == built.count(1) == 8
    assert clusters._kept.keys() == {0, 1, 2}


def test_a_scans_outputs_build_each_cluster_once(sqlite_url, tmp_path, monkeypatch):
    """Writing every file --out names builds each cluster's dict once when the clusters fit the budget."""
    from dupfinder import findings

    built = []
    original = findings.cluster_dict
    monkeypatch.setattr(findings, "cluster_dict", lambda c, stored=False: built.append(c.key) or original(c, stored))
    events_table(sqlite_url, [(2 * k + copy, k, 5 * k + 0.3 * copy, f"h{copy}") for k in range(40) for copy in (1, 2)])
    result = api.scan(ScanOptions(url=sqlite_url, tables=(table_spec(table="events", keys=["account"], ts="ts",
                                                                      writers=["host=host"]),)))
    api.write_outputs(result, tmp_path / "out")
    assert len(built) == result.cluster_count == 40


@pytest.mark.parametrize("where", ["no temporary folder", "a full disk"])
def test_row_values_stay_in_memory_where_the_temporary_file_cannot_take_them(where, monkeypatch):
    """The values' file is an economy, not a requirement: with no writable temporary folder, or a disk that
    fills (/dev/full answers every write with ENOSPC), every row is kept and read back as it was put."""
    import tempfile

    from dupfinder import stored

    if where == "no temporary folder":
        monkeypatch.setattr(tempfile, "tempdir", "/proc/no-such-folder")
    store = stored.ValueStore(("id", "note"))
    if where == "a full disk":
        store._file = open("/dev/full", "w+b")  # noqa: SIM115 - the store owns it from here
    rows = [{"id": i, "note": "x" * (i % 300)} for i in range(20_000)]  # about 3 MB: past FLUSH_BYTES
    kept = [store.put(r) for r in rows]
    assert [k.as_dict() for k in kept] == rows


def _written_by_the_encoder(doc) -> str:
    """findings.json as the writer wrote it before its fast paths: every key and value through the encoder."""
    from dupfinder.findings import plain

    compact = json.JSONEncoder(ensure_ascii=False, default=plain, separators=(", ", ": ")).encode
    out = io.StringIO()

    def write(value, level, rows=False):
        pad = "\n" + "  " * (level + 1)
        if isinstance(value, dict) and value:
            out.write("{")
            for n, (k, v) in enumerate(value.items()):
                out.write(("," if n else "") + pad + compact(str(k)) + ": ")
                write(v, level + 1, rows=k == "rows")
            out.write("\n" + "  " * level + "}")
        elif isinstance(value, (list, tuple, OnDemand)) and value:
            out.write("[")
            for n, item in enumerate(value):
                out.write(("," if n else "") + pad)
                out.write(compact(item)) if rows else write(item, level + 1)
            out.write("\n" + "  " * level + "]")
        else:
            out.write(compact(list(value) if isinstance(value, OnDemand) else value))

    write(doc, 0)
    out.write("\n")
    return out.getvalue()


class _Level(enum.IntEnum):
    LOW = 1


JSON_LEAF = (st.integers() | st.floats() | st.booleans() | st.none() | st.text(max_size=5)
             | st.sampled_from([_Level.LOW, 10**30, -0.0, 1e-7, 1e22]))
JSON_DOC = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
                        | st.dictionaries(st.text(max_size=4) | st.integers(0, 2) | st.booleans(), inner, max_size=4)
                        | st.builds(lambda rows: {"rows": rows}, st.lists(st.dictionaries(st.text(max_size=3),
                                                                                          JSON_LEAF), max_size=3))
                        | st.lists(inner, max_size=3).map(lambda items: OnDemand(items, lambda x: x)),
                        max_leaves=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(JSON_DOC)
def test_findings_json_text_is_what_the_encoder_writes_value_by_value(doc):
    """The writer spells plain numbers, booleans and nulls itself and encodes each key once (a fifth of the
    output stage's CPU at 2,500 clusters): the text is the encoder's to the byte, NaN, infinities, -0.0,
    int and bool keys, int subclasses and OnDemand lists included."""
    from dupfinder.findings import write_findings_to

    out = io.StringIO()
    write_findings_to(doc, out)
    assert out.getvalue() == _written_by_the_encoder(doc)
