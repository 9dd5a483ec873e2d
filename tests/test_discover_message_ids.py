"""discover and a message's own id (a stranger's finding: on a Celery payouts table it proposed ``task_id``, window
4 s: one id per task, repeated only by a redelivery, it is unique but for the redelivered copies, and as one column
it ranked above the business key. A scan keyed on it finds redeliveries and never a second scheduler, which sends
new tasks with new ids). The business key is proposed and the message id named beside it; a message id is the key
only where no other set of columns keys the table (the demo's payments_applied)."""

from __future__ import annotations

import json
import tomllib

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.discover import discover, message_id_column

MESSAGE_ID = st.builds(lambda w, q, style: (f"{w}_{q}" if style else f"{w}{q.capitalize()}"),
                       st.sampled_from(["task", "message", "msg", "request", "delivery", "celery_task"]),
                       st.sampled_from(["id", "uuid"]), st.booleans())


def _payouts(url: str, message_id: str, redelivered: set[int], second_run: set[int], merchants: int = 30) -> None:
    """A monthly payouts batch, a task per merchant (last month's batch too, weeks before): the tasks of
    ``redelivered`` merchants written again 2.5 s later with their own id, those of ``second_run`` sent again by a
    second scheduler 0.3 s later, new ids."""
    rows, n = [], 0

    def add(batch: str, m: int, seconds: float, task: str, node: str) -> None:
        nonlocal n
        n += 1
        rows.append({"id": n, "payout_batch": batch, "merchant_id": 1000 + m, "currency": "EUR",
                     "amount": 100 + m, "created_at": at(seconds), "worker": node, "pid": 300 + m % 3,
                     message_id: task})

    for m in range(merchants):
        add("2026-10-M", m, -30 * 86400 + m, f"oct-{m}", "payouts-a@ledger")
    for m in range(merchants):
        add("2026-11-M", m, m * 0.8, f"nov-{m}", "payouts-a@ledger")
        if m in second_run:
            add("2026-11-M", m, m * 0.8 + 0.3, f"nov-{m}-again", "payouts-b@ledger")
        if m in redelivered:
            add("2026-11-M", m, m * 0.8 + 2.5, f"nov-{m}", "payouts-b@ledger")
    make_table(url, "payouts", [sa.Column("id", sa.Integer, primary_key=True),
                                sa.Column("payout_batch", sa.String(20)), sa.Column("merchant_id", sa.Integer),
                                sa.Column("currency", sa.String(3)), sa.Column("amount", sa.Integer),
                                sa.Column("created_at", sa.DateTime), sa.Column("worker", sa.String(60)),
                                sa.Column("pid", sa.Integer), sa.Column(message_id, sa.String(40))], rows)


def test_the_business_key_is_proposed_and_the_task_id_named(db_url, tmp_path):
    _payouts(db_url, "task_id", redelivered={1, 5, 9, 13}, second_run={20, 21, 22})
    config = tmp_path / "dupfinder.toml"
    result = CliRunner().invoke(main, ["discover", db_url, "-o", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    (proposal,) = json.loads(result.output)["tables"]
    assert proposal["keys"] == ["merchant_id", "payout_batch"], proposal
    assert proposal["message_id"] == "task_id"
    assert "redelivers" in proposal["message_note"] and "--writer run=task_id" in proposal["message_note"]
    assert "4 of its" in proposal["message_note"]  # the redelivered ids, counted
    text = config.read_text()
    assert "# task_id looks like a message id" in text
    entry = tomllib.loads(text)["table"][0]
    assert entry["keys"] == ["merchant_id", "payout_batch"]

    # the key proposed finds the second scheduler's copies, which the task id keys apart
    from dupfinder import api

    scanned = api.scan(ScanOptions(url=db_url, tables=(table_spec(table="payouts", keys=entry["keys"],
                                                                  ts=entry["ts"], window=entry.get("window")),)))
    keys = {c.key["merchant_id"] for c in scanned.tables[0].clusters}
    assert keys == {1000 + m for m in (1, 5, 9, 13, 20, 21, 22)}
    # payout_batch, a key now, is no writer: scanned on task_id, its name ('batch') made it the run column
    assert "payout_batch" not in {w.column for w in scanned.tables[0].writers}
    printed = CliRunner().invoke(main, ["discover", db_url, "-o", str(tmp_path / "again.toml")])
    assert "task_id looks like a message id" in printed.output


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message_id=MESSAGE_ID, redelivered=st.sets(st.integers(0, 29), min_size=1, max_size=5),
       second_run=st.sets(st.integers(0, 29), max_size=4))
def test_a_message_id_never_hides_the_business_key(sqlite_url, message_id, redelivered, second_run):
    assert message_id_column(message_id)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS payouts")
    engine.dispose()
    _payouts(sqlite_url, message_id, redelivered, second_run)
    (proposal,) = discover(sqlite_url)
    assert proposal.keys == ("merchant_id", "payout_batch"), (proposal.keys, proposal.evidence)
    assert proposal.message_id == message_id and message_id not in " ".join(proposal.alternatives)
    assert f"{len(redelivered | second_run)} written more than once" in proposal.evidence


def test_a_message_id_is_the_key_where_nothing_else_keys_the_table(sqlite_url):
    """The demo's payments_applied: a message id, an account and an amount; the accounts repeat days apart."""
    rows = [{"id": n, "message_id": f"m-{n}", "account_id": n % 9, "amount_cents": 100 + n,
             "applied_at": at(n * 3600)} for n in range(40)]
    rows += [{**rows[n], "id": 100 + n, "applied_at": at(n * 3600 + 1.5)} for n in (3, 17)]
    make_table(sqlite_url, "payments_applied", [sa.Column("id", sa.Integer, primary_key=True),
                                                sa.Column("message_id", sa.String(10)),
                                                sa.Column("account_id", sa.Integer),
                                                sa.Column("amount_cents", sa.Integer),
                                                sa.Column("applied_at", sa.DateTime)], rows)
    (proposal,) = discover(sqlite_url)
    assert proposal.keys == ("message_id",)
    assert proposal.message_id == "message_id" and "proposed because no other set of columns" in proposal.message_note
