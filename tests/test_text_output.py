"""Small things a stranger saw in the text output: a table name with a line break printed raw, an index advised
for an empty table, a long index name cut before its ``_idx``."""

from __future__ import annotations

import json
import re
import sqlite3

import sqlalchemy as sa
from click.testing import CliRunner

from dupfinder.cli import main


def table(url: str, name: str, rows: list[tuple]) -> None:
    conn = sqlite3.connect(sa.make_url(url).database)
    quoted = '"' + name.replace('"', '""') + '"'
    conn.execute(f"CREATE TABLE {quoted} (id INTEGER PRIMARY KEY, k TEXT, created_at TIMESTAMP)")
    conn.executemany(f"INSERT INTO {quoted} VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_a_table_name_with_a_line_break_is_shown_escaped_on_one_line(sqlite_url):
    table(sqlite_url, "night\nly", [(1, "a", "2026-11-23 10:00:00"), (2, "a", "2026-11-23 10:00:00.300")])
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "night\nly", "--key", "k", "--ts", "created_at"])
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("night\\u000aly: 1 near-duplicate cluster in"), lines[0]
    assert not any(line.startswith("ly") for line in lines), done.output


def test_no_index_is_advised_for_an_empty_table_and_a_long_name_keeps_its_idx(sqlite_url):
    long = "reconciliation_summaries_of_every_settlement_window"
    table(sqlite_url, long, [])
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", long, "--key", "k", "--ts", "created_at"])
    assert done.exit_code == 0 and "CREATE INDEX" not in done.output, done.output
    conn = sqlite3.connect(sa.make_url(sqlite_url).database)
    conn.execute(f"INSERT INTO {long} VALUES (1, 'a', '2026-11-23 10:00:00')")
    conn.commit()
    conn.close()
    done = CliRunner().invoke(main, ["scan", sqlite_url, "--table", long, "--key", "k", "--ts", "created_at"])
    [advice] = [line for line in done.output.splitlines() if "CREATE INDEX" in line]
    name = advice.split("CREATE INDEX ", 1)[1].split(" ON ", 1)[0]
    assert name.endswith("_idx") and len(name) == 63, name


def test_far_duplicates_alone_are_not_called_clean_and_name_the_window_that_clusters_them(pg_url):
    """A label consumer's redelivery 30 s later under the default 2 s window: the last line said "clean" beside
    2 far-duplicate keys, with no word of their gaps nor of the --window that finds them."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE print_labels (id integer PRIMARY KEY, shipment_id integer, "
                             "created_at timestamptz)")
        conn.exec_driver_sql("INSERT INTO print_labels VALUES (1, 5007, '2026-11-24 12:20:55.002+00'), "
                             "(2, 5008, '2026-11-24 12:20:55.200+00'), (3, 5027, '2026-11-24 12:20:59.087+00'), "
                             "(4, 5007, '2026-11-24 12:21:25.014+00'), (5, 5027, '2026-11-24 12:21:35.191+00')")
    engine.dispose()
    scan = ["scan", pg_url, "--table", "print_labels", "--key", "shipment_id", "--ts", "created_at"]
    done = CliRunner().invoke(main, scan)
    assert done.exit_code == 0, done.output  # far duplicates alone never fail a scan
    assert "  far duplicates: 2 keys written again 30.0 s to 36.1 s later (the largest gap of each listed key), " \
           "past the 2.0 s window, so neither clustered nor attributed; --window 37s or more makes each listed key " \
           "one cluster" in done.output, done.output
    last = done.output.splitlines()[-1]
    assert last.startswith("no near-duplicate clusters, but 2 far-duplicate keys (") and "clean" not in last, last
    widened = CliRunner().invoke(main, [*scan, "--window", "37s"])
    assert widened.exit_code == 1 and "2 near-duplicate clusters" in widened.output, widened.output
    assert "far duplicates:" not in widened.output and "0 far-duplicate keys" in widened.output, widened.output


def test_a_confidence_below_one_is_never_shown_as_100_percent(pg_url, tmp_path):
    """The label_printer redeliveries a stranger captured (tests/real/label_printer): retries at 0.997 read
    "retry (100%)" in the text and "confidence 100%" in the report."""
    import csv
    from pathlib import Path

    rows = list(csv.DictReader((Path(__file__).parent / "real" / "label_printer" / "print_labels.csv").open()))
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE print_labels (id bigint PRIMARY KEY, shipment_id integer, carrier text, "
                             "created_at timestamptz, host text, pid integer)")
        conn.execute(sa.text("INSERT INTO print_labels VALUES (:id, :shipment_id, :carrier, "
                             "CAST(:created_at AS timestamptz), :host, :pid)"),
                     [{**r, "id": int(r["id"]), "shipment_id": int(r["shipment_id"]), "pid": int(r["pid"])}
                      for r in rows])
    engine.dispose()
    done = CliRunner().invoke(main, ["scan", pg_url, "--table", "print_labels", "--key", "shipment_id", "--ts",
                                     "created_at", "--window", "60s", "--writer", "host=host", "--writer",
                                     "process=pid", "--out", str(tmp_path)])
    assert done.exit_code == 1, done.output
    incidents = json.loads((tmp_path / "findings.json").read_text())["tables"][0]["incidents"]
    near_one = [i for i in incidents if 0.995 <= i["confidence"] < 1]
    assert near_one, [i["confidence"] for i in incidents]  # the case this test is about
    html = (tmp_path / "report.html").read_text()
    for incident in near_one:
        line = next(x for x in done.output.splitlines() if x.startswith(f"  {incident['id']} "))
        assert "(100%" not in line and f"{incident['confidence']:.1%}" in line, line
        heading = re.search(rf'<span class="id">{incident["id"]}</span>.*?</h3>', html).group(0)
        assert "100%" not in heading and f"{incident['confidence']:.1%}" in heading, heading
