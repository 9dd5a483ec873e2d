"""Outputs at scale: memory follows what is shown, the report thins big clusters, literals stay the dialect's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa
from helpers import events_table, scan_one
from hypothesis import given
from hypothesis import strategies as st

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.findings import findings_dict, write_findings
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


def test_findings_json_streamed_holds_what_write_findings_writes(db_url, tmp_path):
    events_table(db_url, [(1, 7, 0.0, "a", "x\u00e9\n\"q\""), (2, 7, 0.3, "b", "y"), (3, 8, 0.0), (4, 9, 0.0),
                          (5, 9, 900.0)])
    result = api.scan(ScanOptions(url=db_url, tables=(table_spec(table="events", keys=["account"], ts="ts"),)))
    doc = findings_dict(result)
    write_findings(doc, tmp_path / "whole.json")
    api._stream_json(doc, tmp_path / "streamed.json")
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
