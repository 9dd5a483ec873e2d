"""Five double-run incidents, rebuilt as rows, with the decoys a careless detector would report.

- recon_summary: a warm standby (batch-02) whose cron was never disabled ran the 02:30 reconciliation
  beside the primary after a firewall change; 17 accounts got two summary rows 200–900 ms apart.
- export_records: an /etc/cron.d entry left beside the systemd timer started the midnight export a
  second time on the same host; every record of that night was exported twice, ~2.6 s apart.
- stock_reservations: the order-sync job registered on two scheduler instances sharing one job store;
  every 15-minute run reserved stock twice, within two seconds.
- charges: a worker pool doing check-then-act on invoices; twice in a busy spell two workers
  claimed the same invoice microseconds apart.
- payments_applied: a queue consumer acknowledged too late, the message was redelivered and applied
  again by the same consumer after a ~1.5 s backoff.

Decoys: the same key written again hours later (a far duplicate), many keys at the same instant,
and NULL keys written together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from dupfinder.config import TableSpec, table_spec

SEED = 20261103
DEMO_TABLES = ("recon_summary", "export_records", "stock_reservations", "charges", "payments_applied")


@dataclass
class GroundTruth:
    """The clusters a perfect scan finds: (table, key tuple) → mechanism and the ids of its rows."""

    clusters: dict[tuple[str, tuple], dict] = field(default_factory=dict)
    far_duplicates: dict[str, int] = field(default_factory=dict)
    null_keys: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, key: tuple, mechanism: str, ids: list[int], writers: list[dict]) -> None:
        self.clusters[(table, key)] = {"mechanism": mechanism, "ids": sorted(ids), "writers": writers}

    def for_table(self, table: str) -> dict[tuple, dict]:
        return {k: v for (t, k), v in self.clusters.items() if t == table}


def _metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "recon_summary", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer),
        sa.Column("window_id", sa.String(10)),
        sa.Column("total_cents", sa.BigInteger),
        sa.Column("txn_count", sa.Integer),
        sa.Column("created_at", sa.DateTime),
        sa.Column("host", sa.String(40)),
        sa.Column("pid", sa.Integer),
    )
    sa.Table(
        "export_records", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("record_id", sa.Integer),
        sa.Column("export_date", sa.String(10)),
        sa.Column("destination", sa.String(40)),
        sa.Column("checksum", sa.String(16)),
        sa.Column("exported_at", sa.DateTime),
        sa.Column("hostname", sa.String(40)),
        sa.Column("pid", sa.Integer),
        sa.Column("run_id", sa.String(36)),
    )
    sa.Table(
        "stock_reservations", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer),
        sa.Column("sku", sa.String(20)),
        sa.Column("quantity", sa.Integer),
        sa.Column("reserved_at", sa.DateTime(timezone=True)),
        sa.Column("scheduler_host", sa.String(40)),
    )
    sa.Table(
        "charges", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.Integer),
        sa.Column("amount_cents", sa.Integer),
        sa.Column("currency", sa.String(3)),
        sa.Column("charged_at", sa.DateTime),
        sa.Column("worker_id", sa.String(20)),
        sa.Column("service", sa.String(40)),
    )
    sa.Table(
        "payments_applied", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(36)),
        sa.Column("account_id", sa.Integer),
        sa.Column("amount_cents", sa.Integer),
        sa.Column("applied_at", sa.DateTime),
        sa.Column("consumer_host", sa.String(40)),
        sa.Column("consumer_pid", sa.Integer),
    )
    return md


def demo_specs() -> list[TableSpec]:
    """How the demo scans each table: the keys that should be unique and the creation timestamp."""
    return [
        table_spec(table="recon_summary", keys=["account_id", "window_id"], ts="created_at"),
        table_spec(table="export_records", keys=["record_id", "export_date"], ts="exported_at", window="5s"),
        table_spec(table="stock_reservations", keys=["order_id", "sku"], ts="reserved_at",
                   incident_gap="20m"),
        table_spec(table="charges", keys=["invoice_id"], ts="charged_at"),
        table_spec(table="payments_applied", keys=["message_id"], ts="applied_at"),
    ]


class _Rows:
    """Collects rows per table with sequential ids, like a sequence would hand them out."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def add(self, table: str, **values) -> int:
        rows = self.rows.setdefault(table, [])
        values["id"] = len(rows) + 1
        rows.append(values)
        return values["id"]


def _ms(rng: random.Random, lo: float, hi: float) -> timedelta:
    return timedelta(milliseconds=rng.uniform(lo, hi))


def _recon(rows: _Rows, truth: GroundTruth, rng: random.Random) -> None:
    accounts = list(range(1001, 1401))
    doubled_night = datetime(2026, 11, 3)
    doubled = set(rng.sample(accounts, 17))
    divergent = sorted(doubled)[0]
    for day in range(14):
        night = datetime(2026, 10, 27) + timedelta(days=day)
        window_id = (night - timedelta(days=1)).date().isoformat()
        start = night.replace(hour=2, minute=30) + _ms(rng, 0, 900)
        pid = rng.randint(20000, 60000)
        standby_pid = rng.randint(20000, 60000)
        for n, account in enumerate(accounts):
            at = start + timedelta(milliseconds=40 * n)
            total, count = rng.randint(1_000, 9_000_000), rng.randint(1, 400)
            first = rows.add("recon_summary", account_id=account, window_id=window_id, total_cents=total,
                             txn_count=count, created_at=at, host="batch-01", pid=pid)
            if night == doubled_night and account in doubled:
                # the standby read a snapshot a moment later: one account saw one more transaction
                extra = 1 if account == divergent else 0
                second = rows.add("recon_summary", account_id=account, window_id=window_id,
                                  total_cents=total + 1250 * extra, txn_count=count + extra,
                                  created_at=at + _ms(rng, 200, 900), host="batch-02", pid=standby_pid)
                truth.add("recon_summary", (account, window_id), "multi_host", [first, second],
                          [{"host": "batch-01"}, {"host": "batch-02"}])
    # decoy: an operator re-ran one account by hand the next afternoon (far duplicate, not a cluster)
    account = accounts[5]
    rows.add("recon_summary", account_id=account, window_id="2026-11-05", total_cents=4242, txn_count=3,
             created_at=datetime(2026, 11, 6, 15, 12, 7, 120000), host="ops-laptop", pid=4242)
    truth.far_duplicates["recon_summary"] = 1
    # decoy: suspense-account rows carry no account id and are written together every night
    for day in range(3):
        at = datetime(2026, 10, 27 + day, 2, 31, 0, 500000)
        for _ in range(2):
            rows.add("recon_summary", account_id=None, window_id=(at - timedelta(days=1)).date().isoformat(),
                     total_cents=0, txn_count=0, created_at=at, host="batch-01", pid=1)
    truth.null_keys["recon_summary"] = 6


def _export(rows: _Rows, truth: GroundTruth, rng: random.Random) -> None:
    for day in range(10):
        night = datetime(2026, 11, 1) + timedelta(days=day)
        export_date = (night - timedelta(days=1)).date().isoformat()
        # each night exports the records changed that day: a record comes back on later nights
        records = list(range(500 + day * 100, 500 + day * 100 + 250))
        start = night + _ms(rng, 50, 400)
        timer_pid, cron_pid = rng.randint(3000, 9000), rng.randint(3000, 9000)
        timer_run, cron_run = f"timer-{night:%m%d}", f"cron-{night:%m%d}"
        twice = night == datetime(2026, 11, 9)
        offset = timedelta(milliseconds=2600)
        for n, record in enumerate(records):
            at = start + timedelta(milliseconds=12 * n) + _ms(rng, 0, 4)
            checksum = f"{rng.getrandbits(60):015x}"
            first = rows.add("export_records", record_id=record, export_date=export_date,
                             destination="sftp://partner/outbound", checksum=checksum, exported_at=at,
                             hostname="etl-01", pid=timer_pid, run_id=timer_run)
            if twice:
                second = rows.add("export_records", record_id=record, export_date=export_date,
                                  destination="sftp://partner/outbound", checksum=checksum,
                                  exported_at=at + offset + _ms(rng, 0, 30),
                                  hostname="etl-01", pid=cron_pid, run_id=cron_run)
                truth.add("export_records", (record, export_date), "duplicate_run", [first, second],
                          [{"process": timer_pid}, {"process": cron_pid}])


def _stock(rows: _Rows, truth: GroundTruth, rng: random.Random) -> None:
    start = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    second_instance_from = datetime(2026, 11, 12, 11, 0, tzinfo=UTC)
    order = 70000
    for run in range(24):
        fire = start + timedelta(minutes=15 * run)
        orders = [order + i for i in range(rng.randint(3, 7))]
        order += len(orders)
        lines = [(order_id, f"SKU-{sku}") for order_id in orders
                 for sku in rng.sample(range(100, 1000), rng.randint(1, 3))]  # an order reserves 1-3 SKUs
        for n, (order_id, sku) in enumerate(lines):
            qty = rng.randint(1, 4)
            at = fire + timedelta(milliseconds=300 + 90 * n) + _ms(rng, 0, 20)
            first = rows.add("stock_reservations", order_id=order_id, sku=sku, quantity=qty, reserved_at=at,
                             scheduler_host="sched-a")
            if fire >= second_instance_from:
                second = rows.add("stock_reservations", order_id=order_id, sku=sku, quantity=qty,
                                  reserved_at=at + _ms(rng, 400, 1600), scheduler_host="sched-b")
                truth.add("stock_reservations", (order_id, sku), "multi_host", [first, second],
                          [{"host": "sched-a"}, {"host": "sched-b"}])


def _charges(rows: _Rows, truth: GroundTruth, rng: random.Random) -> None:
    workers = [f"worker-{i}" for i in range(1, 9)]
    day = datetime(2026, 11, 14, 8, 0)
    invoices = list(range(500000, 503000))
    busy = datetime(2026, 11, 14, 13, 5)
    collide_at = {invoices[1500 + 37 * i] for i in range(4)}
    at = day
    for invoice in invoices:
        at += timedelta(milliseconds=rng.uniform(2000, 14000)) if at < busy or at > busy + timedelta(minutes=30) \
            else timedelta(milliseconds=rng.uniform(300, 900))
        worker = rng.choice(workers)
        amount = rng.randint(500, 250000)
        first = rows.add("charges", invoice_id=invoice, amount_cents=amount, currency="EUR", charged_at=at,
                         worker_id=worker, service="billing-worker")
        if invoice in collide_at:
            other = rng.choice([w for w in workers if w != worker])
            second = rows.add("charges", invoice_id=invoice, amount_cents=amount, currency="EUR",
                              charged_at=at + timedelta(microseconds=rng.randint(5, 80)),
                              worker_id=other, service="billing-worker")
            truth.add("charges", (invoice,), "worker_race", [first, second],
                      [{"process": worker}, {"process": other}])
    # decoy: month-end batch writes 40 different invoices at one instant
    batch_at = datetime(2026, 11, 14, 23, 59, 59, 0)
    for invoice in range(900000, 900040):
        rows.add("charges", invoice_id=invoice, amount_cents=100, currency="EUR", charged_at=batch_at,
                 worker_id="batch", service="billing-batch")


def _payments(rows: _Rows, truth: GroundTruth, rng: random.Random) -> None:
    at = datetime(2026, 11, 15, 6, 0)
    redelivered = {60 + 11 * i for i in range(3)}
    for n in range(240):
        at += timedelta(milliseconds=rng.uniform(800, 2500))
        message = f"msg-{rng.getrandbits(48):012x}"
        account, amount = rng.randint(1, 900), rng.randint(100, 90000)
        host, pid = rng.choice([("consumer-1", 811), ("consumer-2", 812)])
        first = rows.add("payments_applied", message_id=message, account_id=account, amount_cents=amount,
                         applied_at=at, consumer_host=host, consumer_pid=pid)
        if n in redelivered:
            second = rows.add("payments_applied", message_id=message, account_id=account,
                              amount_cents=amount, applied_at=at + _ms(rng, 1200, 1800),
                              consumer_host=host, consumer_pid=pid)
            truth.add("payments_applied", (message,), "retry", [first, second], [{"host": host}])


def build_demo_database(url: str, seed: int = SEED) -> GroundTruth:
    """Create the five sample tables at ``url`` (SQLite file or PostgreSQL) and return the ground truth."""
    rng = random.Random(seed)
    rows, truth = _Rows(), GroundTruth()
    for build in (_recon, _export, _stock, _charges, _payments):
        build(rows, truth, rng)
    md = _metadata()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            md.drop_all(conn)
            md.create_all(conn)
            for name, table_rows in rows.rows.items():
                table_rows.sort(key=lambda r: r["id"])
                conn.execute(md.tables[name].insert(), table_rows)
            if conn.dialect.name == "postgresql":
                for name in rows.rows:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
    finally:
        engine.dispose()
    return truth
