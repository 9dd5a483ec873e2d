"""Views: scanned with --id (no row id, no xmin or ctid), refused in one line without it; cleanup.sql and
migration.sql change nothing in them (a stranger's finding: a PostgreSQL view stopped with "column t.ctid
does not exist", exit 3)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import events_table
from hostile import run_verify
from sqlrun import rows_of

from dupfinder.cli import main


def view(url: str) -> None:
    events_table(url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0, "a"), (4, 9, 5.0, "a")])
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW events_v AS SELECT * FROM events")
    engine.dispose()


def test_a_view_scans_with_id_and_its_sql_changes_nothing(db_url, runner, tmp_path, request):
    view(db_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", db_url, "--table", "events_v", "--key", "account", "--ts", "ts",
                                       "--id", "id", "--writer", "host=host", "--out", str(out)])
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert table["view"] is True and table["row_id"] is None and table["id_columns"] == ["id"]
    [cluster] = table["clusters"]
    assert [r["pk"] for r in cluster["rows"]] == [{"id": 1}, {"id": 2}]
    assert all("xmin" not in r and "ctid" not in r for r in cluster["rows"])
    assert any(n.startswith("a view: no row id") for n in table["notes"])
    assert table["rows_to_delete"] == 0
    if db_url.startswith("postgresql"):
        assert table["signals"]["xmin"] == "not available for a view (no xmin)"
        assert table["signals"]["heap_blocks"] == "not available for a view (no ctid)"
    before = rows_of(db_url)
    cleanup = (out / "cleanup.sql").read_text()
    assert "nothing deleted (a view: dupfinder changes tables only" in cleanup
    migration = (out / "migration.sql").read_text()
    assert "no migration (a view" in migration
    for name in ("cleanup.sql", "rollback.sql", "migration.sql"):
        runner((out / name).read_text())
    server = request.getfixturevalue("pg_server") if db_url.startswith("postgresql") else None
    run_verify(db_url, (out / "verify.sql").read_text(), server)
    assert rows_of(db_url) == before


def test_a_view_without_id_is_refused_in_one_line(db_url):
    view(db_url)
    result = CliRunner().invoke(main, ["scan", db_url, "--table", "events_v", "--key", "account", "--ts", "ts"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: 'events_v' is a view")
    assert "--id COL" in result.output
