"""discover proposes keys of 3 and 4 columns (a ledger's (account_id, entry_date, currency, reference)), the
smallest one that keys the copies, within a bound on the sets it measures."""

from __future__ import annotations

import subprocess

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, run_statements

from dupfinder.cli import main
from dupfinder.discover import discover

LEDGER_KEY = {"account_id", "entry_date", "currency", "reference"}


def _ledger_columns() -> list[sa.Column]:
    return [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("account_id", sa.Integer), sa.Column("entry_date", sa.Date), sa.Column("currency", sa.String(3)),
            sa.Column("reference", sa.String(20)), sa.Column("amount_cents", sa.BigInteger),
            sa.Column("worker_host", sa.String(20)), sa.Column("created_at", sa.DateTime)]


def _ledger_rows(twice_on: int = 5) -> list[dict]:
    """Six nightly postings of 5 accounts x 2 currencies x 3 references, each entry 4 ms after the last; the
    run of the last night ran twice, 0.8 s apart (a second scheduler). Every 1-3 column part of the key groups
    different entries: the two currency legs of one reference written together, or one reference on other
    nights, so no part of it is a key."""
    rows, n = [], 0
    for day in range(6):
        for run in range(2 if day == twice_on else 1):
            i = 0
            for account in range(1, 6):
                for currency in ("EUR", "USD"):
                    for reference in ("FEE", "RENT", "FX"):
                        n += 1
                        i += 1
                        rows.append({"id": n, "account_id": account, "entry_date": at(day * 86400).date(),
                                     "currency": currency, "reference": reference,
                                     "amount_cents": 100 * account + len(reference) + (7 if currency == "USD" else 0),
                                     "worker_host": f"sched-{run}",
                                     "created_at": at(day * 86400 + 0.8 * run + 0.004 * i)})
    return rows


def test_a_four_column_ledger_key_is_proposed(db_url):
    """A finance auditor's ledger keyed on (account_id, entry_date, currency, reference) got no proposal: only
    single columns and pairs were measured. Its double run is found with the evidence of its 30 copies."""
    make_table(db_url, "ledger", _ledger_columns(), _ledger_rows())
    (p,) = discover(db_url)
    assert p.keys is not None and set(p.keys) == LEDGER_KEY and len(p.keys) == 4, p
    assert "30 written more than once, 30 of them within 5 s" in p.evidence
    # no alternative holds the proposal (a superset of a key is no smaller key)
    assert not any(set(p.keys) <= set(alt.split(":")[0].split(", ")) for alt in p.alternatives)


def test_the_minimal_key_outranks_a_wider_set_keying_the_same_copies(db_url):
    """branch_code follows account_id: (account_id, entry_date, reference, branch_code) keys exactly the copies
    (account_id, entry_date, reference) keys, so the 3-column set is proposed and the 4-column one is not even
    offered beside it."""
    columns = [c for c in _ledger_columns() if c.name != "currency"] + [sa.Column("branch_code", sa.String(5))]
    rows = []
    for r in _ledger_rows():
        if r["currency"] == "EUR":
            rows.append({**{k: v for k, v in r.items() if k != "currency"}, "branch_code": f"B{r['account_id'] % 2}"})
    make_table(db_url, "ledger", columns, rows)
    (p,) = discover(db_url)
    assert p.keys is not None and set(p.keys) == {"account_id", "entry_date", "reference"}, p
    assert "15 written more than once, 15 of them within 5 s" in p.evidence
    assert not any("branch_code" in alt and "reference" in alt and "entry_date" in alt for alt in p.alternatives)


def test_wide_search_is_bounded_and_says_so(sqlite_url, tmp_path):
    """A wide table whose rows no set of candidate columns keys: 8 candidates make 126 sets of 3-4 columns; with
    --max-combinations 10 no more than 10 of them are measured (one GROUP BY each), and the output says the
    search was cut; 0 keeps the search to 1-2 columns."""
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
               *(sa.Column(f"code_{i}_id", sa.Integer) for i in range(12)), sa.Column("created_at", sa.DateTime)]
    # every column takes 2 values, and each combination repeats far apart in time: nothing is a key
    rows = [{"id": n, **{f"code_{i}_id": (n >> (i % 6)) & 1 for i in range(12)}, "created_at": at(60 * n)}
            for n in range(200)]
    make_table(sqlite_url, "wide", columns, rows)
    keysets: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "near_span_us" in statement:
            keysets.append(statement.split("GROUP BY")[1])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        config = tmp_path / "d.toml"
        result = CliRunner().invoke(main, ["discover", sqlite_url, "--max-combinations", "10", "-o", str(config)])
        bounded = [g for g in keysets if g.count(",") >= 2]
        keysets.clear()
        (p,) = discover(sqlite_url, max_combinations=0)
        narrow = [g for g in keysets if g.count(",") >= 2]
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    assert result.exit_code == 0, result.output
    assert "wide: no key proposed" in result.output
    assert 0 < len(bounded) <= 10
    assert "measured 10 of the 126 sets of 3-4 columns" in result.output, result.output
    assert narrow == [] and p.keys is None and "measured 0 of the 126" in p.searched


def test_a_ledger_double_posted_by_two_real_processes(pg_server, pg_url):
    """The nightly posting job is a psql script; last night two schedulers started it at once. The rows are
    written by those processes (clock_timestamp()), and discover proposes the 4-column key from them."""
    run_statements(pg_url, "CREATE TABLE ledger (id bigserial PRIMARY KEY, account_id int NOT NULL, "
                           "entry_date date NOT NULL, currency char(3) NOT NULL, reference text NOT NULL, "
                           "amount_cents bigint NOT NULL, worker_host text, created_at timestamptz NOT NULL)")
    job = ("INSERT INTO ledger (account_id, entry_date, currency, reference, amount_cents, worker_host, created_at) "
           "SELECT a, current_date - :days, c, r, 100 * a + length(r), :'host', "
           "clock_timestamp() - :days * interval '1 day' FROM generate_series(1, 5) a, "
           "unnest(ARRAY['EUR', 'USD']) c, unnest(ARRAY['FEE', 'RENT', 'FX']) r ORDER BY a, c, r;\n")
    parsed = sa.make_url(pg_url)

    def psql(days: int, host: str) -> subprocess.Popen:
        run = subprocess.Popen([pg_server.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"days={days}",
                                "-v", f"host={host}", "-h", parsed.host, "-p", str(parsed.port), "-U",
                                parsed.username, "-d", parsed.database, "-f", "-"],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run.stdin.write(job)  # psql reads variables (:days) in a script, not in -c
        run.stdin.close()
        return run

    for days in range(5, 0, -1):  # the nights before: one run each
        run = psql(days, "sched-a")
        assert run.wait(60) == 0, run.stderr.read()
    runs = [psql(0, "sched-a"), psql(0, "sched-b")]  # last night: both schedulers
    assert [r.wait(60) for r in runs] == [0, 0], [r.stderr.read() for r in runs]
    (p,) = discover(pg_url)
    assert p.keys is not None and set(p.keys) == LEDGER_KEY, p
    assert "30 written more than once, 30 of them within 5 s" in p.evidence


def test_the_bound_spends_its_sets_nearest_a_key_first(db_url):
    """The ledger's key columns come after four id columns that key nothing: taken in column order, 20 sets were
    spent on the decoys' triples and the 4-column key was never reached. Sets whose measured parts tell more
    rows apart go first, and 20 reach it."""
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
               *(sa.Column(f"code_{c}_id", sa.Integer) for c in "abcd"), *_ledger_columns()[1:]]
    rows = [{**r, "code_a_id": r["account_id"] % 2, "code_b_id": r["entry_date"].day % 2,
             "code_c_id": (r["account_id"] + r["entry_date"].day) % 3, "code_d_id": r["account_id"] % 3}
            for r in _ledger_rows()]
    make_table(db_url, "ledger", columns, rows)
    (p,) = discover(db_url, max_combinations=20)
    assert p.keys is not None and set(p.keys) == LEDGER_KEY, p
