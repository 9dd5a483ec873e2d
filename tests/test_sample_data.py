"""The sample incidents: a scan finds exactly the labelled clusters, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dupfinder import api
from dupfinder.config import ScanOptions
from dupfinder.sample_data import build_demo_database, demo_specs


def test_scan_finds_exactly_the_labelled_clusters(db_url):
    truth = build_demo_database(db_url)
    specs = demo_specs()
    result = api.scan(ScanOptions(url=db_url, tables=tuple(specs)))
    assert len(result.tables) == 5
    for spec, table in zip(specs, result.tables, strict=True):
        expected = truth.for_table(spec.table)
        found = {tuple(c.key[k] for k in spec.keys): c for c in table.clusters}
        assert set(found) == set(expected), spec.table
        for key, cluster in found.items():
            assert sorted(r.pk["id"] for r in cluster.rows) == expected[key]["ids"]
            assert cluster.mechanism == expected[key]["mechanism"], (spec.table, key, cluster.explanation)
        assert table.far_total == truth.far_duplicates.get(spec.table, 0)
        assert table.stats.rows_null_key == truth.null_keys.get(spec.table, 0)


def test_demo_incidents_name_the_writers(tmp_path):
    outputs = api.demo(tmp_path / "demo")
    tables = {t["table"]: t for t in outputs.findings["tables"]}
    recon = tables["recon_summary"]["incidents"]
    assert len(recon) == 1 and recon[0]["mechanism"] == "multi_host"
    assert "batch-01" in recon[0]["summary"] and "batch-02" in recon[0]["summary"]
    assert recon[0]["clusters"] == 17
    export = tables["export_records"]["incidents"]
    assert [i["mechanism"] for i in export] == ["duplicate_run"] and export[0]["coverage"] == 1.0
    assert "etl-01" in export[0]["summary"]
    stock = tables["stock_reservations"]["incidents"]
    assert [i["mechanism"] for i in stock] == ["multi_host"]
    assert "sched-a" in stock[0]["summary"] and "sched-b" in stock[0]["summary"]
    assert {i["mechanism"] for i in tables["charges"]["incidents"]} == {"worker_race"}
    assert {i["mechanism"] for i in tables["payments_applied"]["incidents"]} == {"retry"}
    for table in tables.values():
        for incident in table["incidents"]:
            assert incident["recommendations"][-1].startswith("Add the UNIQUE constraint")
    for name in ("findings.json", "report.html", "cleanup.sql", "rollback.sql", "migration.sql", "demo.db"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
