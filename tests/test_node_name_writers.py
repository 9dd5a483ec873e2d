"""Writer columns a stranger's Celery ledger left out (each test failed before its fix):

* Celery's ``worker`` column, its node name (``payouts-a@ledgerhost``), beside a ``pid``: the pid took the process
  role and the node name fell outside every role, in the payload, so every copy a redelivery wrote on the other node
  was divergent in it. A process-named column of node names (name@host) the process role did not take is the host
  when no column is;
* a key column is never a writer (inference leaves the keys out, whatever their names say; ``--writer`` naming one
  is refused by config.TableSpec, tests/test_cli.py). The stranger's ``payout_batch`` read as run was no key of
  that scan: discover had proposed ``task_id`` (tests/test_discover_message_ids.py).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table
from hypothesis import given
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.writers import infer_writers, name_role, node_hosts

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20)
NODE = st.builds(lambda a, b: f"{a}@{b}", _LABEL, _LABEL)
NOT_NODE = st.one_of(_LABEL, st.builds(lambda a, b, c: f"{a}@{b}@{c}", _LABEL, _LABEL, _LABEL),
                     st.builds(lambda a, b: f"{a} @{b}", _LABEL, _LABEL), st.integers(0, 99999))
PREFIX = st.sampled_from(["", "celery_", "payouts_", "queue_"])
WORKER = st.builds(lambda p, w, q: p + w + q, PREFIX, st.sampled_from(["worker", "Worker", "thread", "process"]),
                   st.sampled_from(["", "_name", "_id"]))
PID = st.sampled_from(["pid", "worker_pid", "child_pid", "os_pid", "PID"])


@given(worker=WORKER, pid=PID, values=st.lists(st.one_of(NODE, st.none()), min_size=1, max_size=8),
       stray=st.lists(NOT_NODE, max_size=2), host=st.sampled_from([None, "hostname", "node", "pod_name"]),
       key=st.sampled_from(["payout_batch", "run_id", "node_name", "worker_host"]))
def test_a_worker_column_of_node_names_beside_a_pid_is_the_host(worker, pid, values, stray, host, key):
    columns = ["id", key, worker, pid, "created_at", *([host] if host else [])]
    if len(set(columns)) < len(columns):
        return
    exclude = {"id", key, "created_at"}
    found = infer_writers(columns, exclude)
    assert {w.role: w.column for w in found}.get("process") == pid  # the pid is the more specific process word
    read = [*values, *stray]
    roles = {w.role: w.column for w in node_hosts(found, columns, exclude, lambda c: read if c == worker else [])}
    every_node = not stray and any(v is not None for v in values)
    if host:
        assert roles.get("host") == host  # a host column stays the host
    elif every_node:
        assert roles.get("host") == worker, (worker, read)
    else:
        assert worker not in roles.values()  # a value not name@host: no role read from values
    assert roles.get("process") == pid
    assert key not in roles.values()  # a key column never, whatever its name says
    # alone (no pid), the worker column keeps the process role: the node name is read as the host only beside it
    rest = [c for c in columns if c != pid]
    alone = node_hosts(infer_writers(rest, exclude), rest, exclude, lambda c: read if c == worker else [])
    assert {w.role: w.column for w in alone}.get("process") == worker


@given(name=st.sampled_from(["customer_email", "contact", "email", "reviewer"]), values=st.lists(NODE, min_size=1))
def test_node_name_values_in_a_column_not_named_for_a_process_are_never_a_writer(name, values):
    """An e-mail address has the shape of a node name: only a column named like a process writer is read so."""
    assert name_role(name) is None
    found = infer_writers(["id", name, "pid"], {"id"})
    assert [w.column for w in node_hosts(found, ["id", name, "pid"], {"id"}, lambda c: values)] == ["pid"]


def _payouts(url: str, worker_values: tuple[str, str]) -> None:
    """Payouts written by two Celery nodes (three children each); every fourth redelivered 2.5 s later to a child of
    the other node."""
    rows, n = [], 0
    for m in range(40):
        node = m % 2
        n += 1
        rows.append({"id": n, "payout_batch": "2026-11-M", "merchant_id": 1000 + m, "amount": 10 + m,
                     "created_at": at(m * 0.7), "worker": worker_values[node], "pid": 200 + node * 10 + m % 3,
                     "task_id": f"t-{m}"})
        if m % 4 == 1:
            n += 1
            rows.append({**rows[-1], "id": n, "created_at": at(m * 0.7 + 2.5), "worker": worker_values[1 - node],
                         "pid": 200 + (1 - node) * 10 + (m + 1) % 3})
    make_table(url, "payouts", [sa.Column("id", sa.Integer, primary_key=True), sa.Column("payout_batch", sa.String(20)),
                                sa.Column("merchant_id", sa.Integer), sa.Column("amount", sa.Integer),
                                sa.Column("created_at", sa.DateTime), sa.Column("worker", sa.String(60)),
                                sa.Column("pid", sa.Integer), sa.Column("task_id", sa.String(20))], rows)


def _scan(url: str, tmp_path, *extra: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["scan", url, "--table", "payouts", "--key", "payout_batch", "--key",
                                       "merchant_id", "--ts", "created_at", "--window", "4s", "--out", str(out),
                                       *extra])
    return result, out


def test_a_scan_reads_celerys_node_names_as_the_host(db_url, tmp_path):
    _payouts(db_url, ("payouts-a@ledgerhost", "payouts-b@ledgerhost"))
    result, out = _scan(db_url, tmp_path)
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    roles = {w["role"]: w["column"] for w in table["writer_columns"]}
    assert roles.get("host") == "worker" and roles.get("process") == "pid", table["writer_columns"]
    assert "payout_batch" not in roles.values()
    host = next(w for w in table["writer_columns"] if w["role"] == "host")
    assert "name@host" in host["reason"]
    assert {r["writer"].get("host") for c in table["clusters"] for r in c["rows"]} == {
        "payouts-a@ledgerhost", "payouts-b@ledgerhost"}


def test_worker_names_without_a_host_part_stay_out_of_the_host_role(db_url, tmp_path):
    _payouts(db_url, ("worker-1", "worker-2"))
    result, out = _scan(db_url, tmp_path)
    assert result.exit_code == 1, result.output
    table = json.loads((out / "findings.json").read_text())["tables"][0]
    assert "worker" not in {w["column"] for w in table["writer_columns"]}, table["writer_columns"]
