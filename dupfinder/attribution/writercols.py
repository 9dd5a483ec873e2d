"""Evidence from writer columns: who wrote each copy, and which roles differ between the copies."""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any

from ..cluster import Cluster, ClusterRow
from .observe import Observation

Writer = tuple[tuple[str, str], ...]  # (role, value) pairs, sorted: one writer's identity


def named(value: Any) -> bool:
    """Whether a writer column's value names somebody: NULL and blank text record nobody (a blank host
    beside a named one is not a second host, and would be an empty name in the words).

    >>> named("etl-01"), named("  "), named(None), named(0)
    (True, False, False, True)
    """
    return value is not None and str(value).strip() != ""


def identity(row: ClusterRow) -> Writer:
    """The writer of a row as every known role names it (empty when the table records nobody)."""
    try:
        return _identity(tuple(row.writer.items()))
    except TypeError:  # an unhashable value (kept as is by cluster.share): read as it is
        return _identity.__wrapped__(tuple(row.writer.items()))


@lru_cache(maxsize=4096)
def _identity(writer: tuple[tuple[str, Any], ...]) -> Writer:
    """``identity`` of one writer's (role, value) pairs, read once: the attribution asks it of every row a few
    times, and thousands of rows share a few writers."""
    return tuple(sorted((role, str(value)) for role, value in writer if named(value)))


def writer_of(row: ClusterRow) -> Writer:
    """The writer of a row: its writer columns, else (no writer columns) its inserting transaction."""
    who = identity(row)
    if who or row.xmin is None:
        return who
    return (("xmin", str(row.xmin)),)


def distinct(cluster: Cluster, role: str) -> set[Any]:
    """The values one role takes among a cluster's rows (values that name nobody left out)."""
    return {value for value in {r.writer.get(role) for r in cluster.rows} if named(value)}


def runs_per_host(cluster: Cluster) -> dict[str, int]:
    """How many runs of the job each host's copies of a key came from: the distinct process or run values of its
    copies where the table records them, else its copies (a host writing a key twice ran the job twice, or
    retried it: the incident asks it of most keys). Two hosts both running a job may hide a second launcher on
    one of them (a crontab line beside a systemd timer): three copies, two of them one host's.

    >>> from types import SimpleNamespace as Row
    >>> rows = [Row(writer={"host": "a", "run": "r1"}), Row(writer={"host": "b", "run": "r2"}),
    ...         Row(writer={"host": "a", "run": "r3"}), Row(writer={"host": "a", "run": "r3"})]
    >>> runs_per_host(Row(rows=rows))
    {'a': 2, 'b': 1}
    """
    per: dict[str, set] = {}
    for n, row in enumerate(cluster.rows):
        host = row.writer.get("host")
        if not named(host):
            continue
        run = tuple(str(row.writer[r]) for r in ("process", "run") if named(row.writer.get(r)))
        per.setdefault(str(host), set()).add(run or n)
    return {host: len(runs) for host, runs in sorted(per.items())}


def pair(cluster: Cluster) -> tuple[Writer, Writer] | None:
    """The first two distinct writers of a cluster in time order; None when one writer wrote every copy."""
    seen: list[Writer] = []
    for row in cluster.rows:
        who = writer_of(row)
        if who not in seen:
            seen.append(who)
        if len(seen) == 2:
            return seen[0], seen[1]
    return None


def one_per_host(hosts: Collection[Any], keys: int) -> bool:
    """Whether one process or run id that ``hosts`` all wrote (or ran) is one writer per host: where the two
    writers share several keys (``keys``: the clusters they share). Then it is a batch's logical run executed on
    each host: two Airflow schedulers both executing ``scheduled__2026-11-20`` (a stranger's case read "one run
    wrote every copy" and a five-row batch double run was answered retry at 85%); a process id two hosts both
    wrote is two processes. Shared by one key only, it is a task's or message's own id that another host ran
    again: a redelivery, one run. Read from the writer columns (observe) and from the job log's runs
    (runs.annotate).

    >>> one_per_host({"sched-a", "sched-b"}, 5), one_per_host({"sched-a", "sched-b"}, 1), one_per_host({"a"}, 5)
    (True, False, False)
    """
    return len(hosts) > 1 and keys > 1


def _hosts_naming(cluster: Cluster, roles: list[str]) -> set[str]:
    """The hosts whose rows name a value of these process or run roles."""
    return {str(r.writer.get("host")) for r in cluster.rows
            if named(r.writer.get("host")) and any(named(r.writer.get(role)) for role in roles)}


def observe(cluster: Cluster, roles: set[str], keys: int = 1) -> list[Observation]:
    """Which roles differ between the copies: versions, hosts, processes or runs. ``keys``: how many clusters
    the same two writers share (one process or run id on two hosts: one_per_host)."""
    found = []
    two_hosts = "host" in roles and len(distinct(cluster, "host")) > 1
    for feature, role_set in (("version", ("version",)), ("host", ("host",)), ("process", ("process", "run"))):
        present = [r for r in role_set if r in roles]
        if not present:
            continue
        values = {role: distinct(cluster, role) for role in present}
        if not any(values.values()):
            continue
        differ = [role for role, v in values.items() if len(v) > 1]
        hosts = _hosts_naming(cluster, present) if feature == "process" and two_hosts and not differ else set()
        if one_per_host(hosts, keys):
            role = next(r for r in present if values[r])
            found.append(Observation(feature, "differ", f"{role} {_one(values)} wrote {keys} keys from both hosts "
                                     f"{' and '.join(sorted(hosts))}: one {role} executed on each host"))
            continue
        if differ:
            names = " and ".join(sorted(map(str, set().union(*(values[r] for r in differ)))))
            plural = {"process": "processes", "run": "runs", "host": "hosts", "version": "versions"}[differ[0]]
            found.append(Observation(feature, "differ", f"{plural} {names} wrote the copies"))
        else:
            unnamed = any(not any(named(r.writer.get(role)) for role in present) for r in cluster.rows)
            found.append(Observation(feature, "same", f"one {present[0]} ({_one(values)}) wrote every copy"
                                     + (f" that records a {present[0]}" if unnamed else "")))
    return found


def _one(values: dict[str, set[Any]]) -> str:
    return next((str(next(iter(v))) for v in values.values() if v), "?")
