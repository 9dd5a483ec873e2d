"""migration.sql says what its unique key leaves out: rows with a NULL in the business key (stranger23's payouts
ledger: platform fees with no merchant, one of them redelivered). A UNIQUE key treats NULLs as distinct, so the
next double run of such a row still gets in; the file said nothing of it. Checked by running the file and then
writing those rows twice, on SQLite and PostgreSQL, and on PostgreSQL by the option the comment names."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlrun import SQLFailed, apply_sql

from dupfinder.cli import main

ROWS = [  # (id, batch, merchant, created_at): one payout written twice 400 ms apart, fees with no merchant
    (1, "b1", 10, "2026-11-03 02:30:00.000000"), (2, "b1", 10, "2026-11-03 02:30:00.400000"),
    (3, "b1", 11, "2026-11-03 02:30:01.000000"), (4, "b1", None, "2026-11-03 02:30:02.000000"),
    (5, "b1", None, "2026-11-03 02:30:02.300000"), (6, "b2", None, "2026-11-03 02:31:00.000000"),
]


def _load(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE payouts (id integer PRIMARY KEY, batch text, merchant integer, "
                             "created_at timestamp)")
        stamp = ":t" if url.startswith("sqlite") else "CAST(:t AS timestamp)"  # SQLite's CAST makes '2026' of it
        conn.execute(sa.text(f"INSERT INTO payouts VALUES (:id, :b, :m, {stamp})"),
                     [{"id": i, "b": b, "m": m, "t": t} for i, b, m, t in ROWS])
    engine.dispose()


def _insert(url: str, row_id: int, merchant: int | None) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO payouts VALUES (:id, 'b1', :m, '2026-11-04 00:00:00')"),
                         {"id": row_id, "m": merchant})
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migration_says_the_null_key_rows_stay_out(engine, tmp_path, request):
    if engine == "sqlite":
        url, server = f"sqlite:///{tmp_path / 'ledger.db'}", None
    else:
        url, server = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_server")
    _load(url)
    out = tmp_path / "out"
    scanned = CliRunner().invoke(main, ["scan", url, "--table", "payouts", "--key", "batch", "--key", "merchant",
                                        "--ts", "created_at", "--out", str(out)])
    assert scanned.exit_code == 1, scanned.output
    migration = (out / "migration.sql").read_text()
    said = re.search(r'-- table "payouts": 3 rows with a NULL in \("batch", "merchant"\): the unique key below '
                     r"leaves them out", migration)
    assert said, migration[:2000]
    assert ("--nulls-not-distinct" in migration) == (engine == "postgresql")
    apply_sql(url, (out / "cleanup.sql").read_text(), server)
    apply_sql(url, migration, server)
    _insert(url, 7, None)  # what the comment says: a NULL key row written again still gets in
    with pytest.raises(sa.exc.IntegrityError):
        _insert(url, 8, 10)
    if engine == "postgresql":  # and the option it names makes them collide, once no two of them repeat
        engine_ = sa.create_engine(url)
        with engine_.begin() as conn:
            conn.exec_driver_sql("DELETE FROM payouts WHERE id IN (5, 7)")
            conn.exec_driver_sql("ALTER TABLE payouts DROP CONSTRAINT IF EXISTS "
                                 + re.search(r"as (\S+)", migration).group(1))
        engine_.dispose()
        written = CliRunner().invoke(main, ["migrate", url, "--table", "payouts", "--key", "batch", "--key",
                                            "merchant", "--nulls-not-distinct"])
        assert written.exit_code == 0, written.output
        apply_sql(url, written.output, server)
        with pytest.raises(sa.exc.IntegrityError):
            _insert(url, 9, None)


def test_no_comment_without_null_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _load(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM payouts WHERE merchant IS NULL")
    engine.dispose()
    out = tmp_path / "out"
    CliRunner().invoke(main, ["scan", url, "--table", "payouts", "--key", "batch", "--key", "merchant", "--ts",
                              "created_at", "--out", str(out)])
    assert "with a NULL in" not in (out / "migration.sql").read_text()
    with pytest.raises(SQLFailed):  # (the file is still a real migration: its pre-flight stops on the copies)
        apply_sql(url, (out / "migration.sql").read_text())
