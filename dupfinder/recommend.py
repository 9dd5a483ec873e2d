"""What to change, per mechanism: the fixes a person can act on, specific to the evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

MIGRATION = ("Add the UNIQUE constraint on the business key (migration.sql) so the next double run fails "
             "loudly instead of writing a second row.")
# read on a PostgreSQL hot standby (findings ``standby``): the statements advised must run on the primary, which
# the standby's own text said nowhere beside them (a person copying the CREATE INDEX ran it where they read it)
STANDBY_INDEX = "run it on the primary: this server is a hot standby, which refuses CREATE INDEX"
STANDBY_MIGRATION = ("-- read on a hot standby: run this migration on the primary (a standby refuses CREATE INDEX "
                     "and ALTER TABLE)")
STANDBY_ALEMBIC = ("Read on a hot standby: upgrade the primary with it (a standby refuses CREATE INDEX and ALTER "
                   "TABLE).")
# engines that enforce no UNIQUE constraint: what stops the next double run there instead
NO_UNIQUE = {"hive": "Spark SQL enforces no UNIQUE constraint", "chdb": "ClickHouse enforces no UNIQUE constraint"}
NO_UNIQUE_ADVICE = {
    # MERGE needs Delta (or Iceberg); a parquet or Hive table, what most daily jobs write, gets the overwrite
    "hive": "write with MERGE INTO ... ON the business key WHEN NOT MATCHED THEN INSERT on a Delta table; on a "
            "parquet or Hive table, partition it by the run's date and write with `INSERT OVERWRITE TABLE ... "
            "PARTITION (...) SELECT ...` under `SET spark.sql.sources.partitionOverwriteMode=dynamic`, so a second "
            "run replaces the partitions the first one wrote instead of adding to them",
    "chdb": "a ReplacingMergeTree ordered by the business key, or insert_deduplication_token per job run",
}

# what the migration's own pre-flight raises for a partitioned table, said instead of stopping migration.sql there
# (findings without the partition key, from before it was recorded)
_PER_PARTITION = ("add the index per partition (CREATE UNIQUE INDEX CONCURRENTLY on each, then CREATE UNIQUE INDEX "
                  "ON ONLY the parent and ALTER INDEX ... ATTACH PARTITION each), or CREATE UNIQUE INDEX without "
                  "CONCURRENTLY in a maintenance window")
PARTITIONED_ADVICE = ("partitioned: PostgreSQL refuses CREATE INDEX CONCURRENTLY on it, and a unique index on it must "
                      "hold every partition-key column (when the business key does not, as on a table partitioned by "
                      "its creation time, no UNIQUE constraint on the key is possible there: a unique index on each "
                      "partition stops only the copies written into one partition); with the partition key in the "
                      f"business key, {_PER_PARTITION}")


def partitioned_advice(keys: list[str] | tuple[str, ...], partition_key: list[str] | tuple[str, ...] | None,
                       ts_column: str | None = None, name: Callable[[str], str] = str) -> str:
    """What to do instead of a UNIQUE constraint on a partitioned PostgreSQL table, for its business ``keys`` and
    ``partition_key`` (None: not known; '' stands for an expression). PostgreSQL refuses a unique index on a
    partitioned table that leaves out a partition-key column, so when the key lacks one the advice to attach
    per-partition indexes to a parent index fails ("unique constraint on partitioned table must include all
    partitioning columns"), and adding the creation timestamp to the key would make a constraint no double run
    violates (the copies differ in it). ``name`` writes a column name (``comment_text`` in a SQL comment)."""
    if not partition_key:
        return PARTITIONED_ADVICE
    shown = ", ".join(name(c) if c else "(an expression)" for c in partition_key)
    missing = [c for c in partition_key if c not in keys]
    if not missing:
        return (f"partitioned by ({shown}), which the business key holds: PostgreSQL refuses CREATE INDEX "
                f"CONCURRENTLY on a partitioned table; {_PER_PARTITION}")
    key_shown = ", ".join(name(k) for k in keys)
    text = (f"partitioned by ({shown}), which the business key ({key_shown}) does not hold: PostgreSQL refuses a "
            "UNIQUE constraint or index on a partitioned table without every partition-key column, so none on this "
            "key is possible on the table")
    if ts_column and ts_column in missing:
        text += (f", and adding {name(ts_column)} to the key would stop no double run (it is the creation timestamp, "
                 "which differs between the copies)")
    text += (f"; instead: a unique index on ({key_shown}) on each partition (CREATE UNIQUE INDEX CONCURRENTLY, and "
             "on every partition created later) stops the copies written into one partition")
    if ts_column and ts_column in missing:
        text += ", not a pair written on either side of a partition boundary"
    return (text + "; or partition the table by a column of the key (a business date); or have the job insert the "
            "key into an unpartitioned table with that UNIQUE constraint in the same transaction as the row")


def _names(writers: list[dict[str, Any]], role: str, fallback: str) -> str:
    values = sorted({str(w[role]).strip() for w in writers if w.get(role) is not None and str(w[role]).strip()})
    return " and ".join(values) if values else fallback


# a Kubernetes pod's generated name: a Deployment's (name-<template hash>-<5>), a CronJob's Job's (name-<minutes
# since the epoch>-<5>); the generated parts use an alphabet without vowels and look-alike characters
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_POD = re.compile(rf"[a-z0-9]([-a-z0-9]*[a-z0-9])?-(?:{_SAFE}{{6,10}}|[0-9]{{8}})-{_SAFE}{{5}}")


def on_pods(writers: list[dict[str, Any]]) -> bool:
    """Whether every host the writers name is a Kubernetes pod's generated name, where a crontab or a systemd
    timer is not what starts a job twice (stranger20: crontab advice for pods of a Deployment).

    >>> on_pods([{"host": "invoicer-6b4f5d7c9-wx9rn"}, {"host": "report-29012345-k2x7b"}])
    True
    >>> on_pods([{"host": "etl-01"}]), on_pods([{"host": "web-7d9f8-abcde"}]), on_pods([{"pid": 4}])
    (False, False, False)
    """
    hosts = {str(w["host"]).strip() for w in writers if w.get("host") is not None and str(w["host"]).strip()}
    return bool(hosts) and all(_POD.fullmatch(h) for h in hosts)


def _overlapped(writers: list[dict[str, Any]]) -> str:
    """Which releases ran the job together: the rows do not say which is the old one (a rollback deploys the
    lower version), so neither is called old, and "the old release (2.3.0 and 2.4.0)" named both."""
    versions = _names(writers, "version", "")
    if " and " in versions:
        return f" (releases {versions} both ran the job here)"
    return f" (release {versions} ran the job here)" if versions else ""


def _unknown_steps(writers: list[dict[str, Any]], signal: str | None) -> list[str]:
    """What would settle an abstention, asking only for what the rows do not record already."""
    recorded = {role for w in writers for role in w}
    missing = [what for role, what in (("host", "host"), ("process", "process id"), ("run", "run id"),
                                       ("version", "release version")) if role not in recorded]
    steps = [f"What would settle it: {signal}."] if signal else []
    if missing:
        steps.append(f"Record who writes each row ({', '.join(missing)}) so the next scan can name the second "
                     "writer; then use `--writer ROLE=COLUMN`.")
    return steps or ["Read the application's log of those writes: which task or request wrote each copy."]


class Statements(NamedTuple):
    """The statements a fix names, in the engine's own SQL: advice that fails where it is given is no advice."""
    claim: str  # take an item so that only one worker gets it
    insert_once: str  # an insert that a UNIQUE constraint turns into a no-op for a second copy
    lock: str  # a lock every host's run must take first


_POSTGRESQL = Statements(
    claim="`UPDATE ... SET claimed = true WHERE id = :id AND claimed = false RETURNING id` and only the worker "
          "that gets a row proceeds",
    insert_once="`INSERT ... ON CONFLICT DO NOTHING`",
    lock="`SELECT pg_try_advisory_lock(<job id>)` across hosts",
)
_STATEMENTS = {
    "postgresql": _POSTGRESQL,
    # MySQL has no RETURNING and MariaDB none on UPDATE; INSERT IGNORE would also swallow every other error
    "mysql": Statements(
        claim="`UPDATE ... SET claimed = 1 WHERE id = ? AND claimed = 0` and only the worker whose statement "
              "changed one row proceeds",
        insert_once="`INSERT ... ON DUPLICATE KEY UPDATE id = id`",
        lock="`SELECT GET_LOCK('<job name>', 0)` across hosts (1: this run holds it)",
    ),
    # one file, so no lock across hosts; RETURNING since SQLite 3.35
    "sqlite": Statements(
        claim="`UPDATE ... SET claimed = 1 WHERE id = ? AND claimed = 0 RETURNING id` and only the worker that "
              "gets a row proceeds",
        insert_once="`INSERT ... ON CONFLICT DO NOTHING`",
        lock="a lock row each host's run must claim first in a database they share",
    ),
}
_STATEMENTS["mariadb"] = _STATEMENTS["mysql"]
_STATEMENTS["duckdb"] = _STATEMENTS["sqlite"]
# neither tells one worker that it won an item, nor holds a lock across hosts: the claim and the lock belong in a
# transactional store the workers share (the queue's own, or a PostgreSQL/MySQL table)
_ELSEWHERE = ("a claim in a transactional store the workers share (the queue's own, or a PostgreSQL or MySQL "
              "table), taken before writing here; only the worker that gets the item proceeds")
_LOCK_ELSEWHERE = "a lock in a transactional store every host's run shares"
_STATEMENTS["chdb"] = Statements(
    claim=_ELSEWHERE,
    insert_once="`INSERT INTO ... SETTINGS insert_deduplication_token = '<job run id>' VALUES ...` into a "
                "MergeTree table with `non_replicated_deduplication_window` set (a second insert of one run is "
                "dropped)",
    lock=_LOCK_ELSEWHERE,
)
_STATEMENTS["hive"] = Statements(
    claim=_ELSEWHERE,
    insert_once="`MERGE INTO ... USING ... ON` the business key `WHEN NOT MATCHED THEN INSERT *` on a Delta table",
    lock=_LOCK_ELSEWHERE,
)


def statements(dialect: str | None) -> Statements:
    """The fixes' statements for an engine; an engine not listed gets the PostgreSQL forms.

    >>> statements("mariadb").insert_once
    '`INSERT ... ON DUPLICATE KEY UPDATE id = id`'
    """
    return _STATEMENTS.get(dialect or "", _POSTGRESQL)


def recommendations(mechanism: str, writers: list[dict[str, Any]], recurring: bool,
                    signal: str | None = None, dialect: str | None = "postgresql") -> list[str]:
    """Concrete next steps for an incident, in the engine's own SQL (``dialect``); the UNIQUE migration (or, where
    the engine enforces none, what stops a second copy instead) is always the last one. ``signal``: what would
    settle an abstention (never asking for what the rows already record)."""
    sql = statements(dialect)
    unique = dialect not in NO_UNIQUE
    hosts = _names(writers, "host", "the hosts")
    host = _names(writers, "host", "the host")
    pods = on_pods(writers)
    steps: dict[str, list[str]] = {
        "multi_host": [
            f"Two pods ran the job ({hosts}): find what starts it in each (`kubectl get cronjobs,deployments,"
            "statefulsets -A`, a scheduler inside the application's image) and run it from one: a CronJob with "
            "`concurrencyPolicy: Forbid`, or one replica holding a leader election.",
            f"Take a lock at the job's entry that every pod shares, so a second copy exits at once: {sql.lock}.",
        ] if pods else [
            f"Find which of {hosts} should own this job and disable its schedule on the other "
            "(a warm standby's crontab, a second scheduler instance sharing the job store).",
            "Take a lock at the job's entry so a second copy exits at once: `flock -n /run/lock/JOB.lock` "
            f"on one host, or {sql.lock}.",
        ],
        "duplicate_run": [
            f"{host} ran the job twice itself: a scheduler started in each worker process of the pod (gunicorn or "
            "uvicorn workers that each import the application start one each) runs every job once per worker; "
            "start it in one process only (a process of its own, or a CronJob with `concurrencyPolicy: Forbid`).",
            f"Take a lock at the job's entry so an overlapping second start exits instead of writing the batch "
            f"again: {sql.lock}.",
        ] if pods else [
            f"List every scheduler on {host}: `systemctl list-timers --all`, `crontab -l`, "
            "`sudo crontab -l`, /var/spool/cron/crontabs/* and /etc/cron.d/*; keep exactly one entry for this job.",
            # stranger22: gunicorn -w 4 on a VM, APScheduler started at import: four copies a key, and the
            # crontab and flock advice alone found and stopped nothing there
            "A scheduler the application starts itself (APScheduler, a framework's scheduler extension) is "
            "started in each worker process of a server that forks workers (gunicorn or uWSGI with several "
            "workers) and runs every job once per worker: start it in one process only (a process of its own).",
            "Wrap the job in `flock -n` so an overlapping second start exits instead of writing the batch again "
            f"(inside the application: {sql.lock}).",
        ],
        "worker_race": [
            f"Make the claim atomic: {sql.claim}.",
            f"Write with {sql.insert_once}" + (" on the business key once the constraint exists." if unique else "."),
        ],
        "retry": [
            "Give each message or request an idempotency key and record it atomically with the write "
            f"({sql.insert_once}{' with a UNIQUE constraint on it' if unique else ''}), so a redelivery or retry "
            "becomes a no-op.",
            "Check the consumer's acknowledgement timeout against how long processing takes: a message "
            "acknowledged after the timeout is delivered again.",
        ],
        "deploy_overlap": [
            # maxSurge 0 still overlaps old and new pods with two replicas or more (it replaces maxUnavailable
            # pods at a time); Recreate stops every old pod first (stranger20: 2 old + 2 new pods)
            f"Stop the scheduler of the old release before the new one starts{_overlapped(writers)}: "
            "`strategy: {type: Recreate}` for the scheduler's Deployment (a rolling update runs old and new pods "
            "side by side, with `maxSurge: 0` too, once it has two replicas), `concurrencyPolicy: Forbid` on a "
            "CronJob.",
            "Run scheduled jobs from one singleton (leader election, or a database advisory lock that every "
            "release takes under the same name), not from every application pod.",
        ],
        "same_transaction": [
            "Fix the application code path that inserts the row twice inside one transaction (a loop "
            "that revisits an item, a retry wrapper inside the transaction, a savepoint re-run).",
        ],
        "dst_fallback": [
            "Schedule the job in UTC (`CRON_TZ=UTC`, systemd `OnCalendar=... UTC`) or outside 01:00–03:00 "
            "local time, so the repeated hour of the autumn clock change cannot fire it twice.",
        ],
        "unknown": _unknown_steps(writers, signal),
    }
    result = list(steps.get(mechanism, steps["unknown"]))
    if recurring and mechanism in ("multi_host", "duplicate_run", "deploy_overlap", "dst_fallback"):
        result.append("The pattern recurs at the same time of day: it is a schedule, so check every "
                      "scheduler that could fire at that time, not only the one you expect.")
    result.append(MIGRATION if dialect not in NO_UNIQUE else
                  f"{NO_UNIQUE[dialect]}, so make the next double run a no-op instead: {NO_UNIQUE_ADVICE[dialect]} "
                  "(migration.sql says the same).")
    return result
