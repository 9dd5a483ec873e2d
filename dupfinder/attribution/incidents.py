"""Incidents: clusters close in time with the same hosts, versions and apps and the same answer; their
gap statistics, offset shape, recurrence, summary and recommendations."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import replace

from ..cluster import Cluster, whole_seconds
from ..findings import Incident, TableResult
from ..recommend import partitioned_advice, recommendations, statements
from ..values import iso_from_us
from . import clock
from .explain import incident_summary, times
from .timing import constant_offsets, duration
from .writercols import distinct, identity, runs_per_host

# the count an episode's offsets observation ends on (timing.spread): the clusters of one pair of writers
_EPISODE_COUNT = re.compile(r"(offset \(median [^()]*, spread [^()]*), (\d+) clusters\)")
SUB_CLAIM_S = 0.05  # copies closer than this came from one claim read twice, not from two passes over a batch


def _signature(cluster: Cluster) -> tuple:
    """The coarse writer set clusters must share to be one incident (not process or run)."""
    return tuple(sorted((role, tuple(sorted(map(str, distinct(cluster, role)))))
                        for role in ("host", "version", "app")))


def claim_too(mechanism: str, chosen: Sequence[Cluster], dialect: str | None) -> list[str]:
    """The claim step for two hosts that both ran a check-then-act job (timing.host_pair): they collided on
    some keys, not on every one (the rest one host claimed first), milliseconds apart, so beside the second
    scheduler the job's own claim is not atomic either; a batch written whole twice needs no such step. Two
    hosts colliding on a few keys only (``few``) may be a pool of one worker on each instead: the claim is not
    atomic whichever it is, so the step stands beside the shortlist too."""
    pairs = [c.evidence.get("observations", {}).get("host_pair") for c in chosen]
    collided = [c for c, pair in zip(chosen, pairs, strict=True) if pair in ("most", "few")
                and c.evidence.get("observations", {}).get("whole_batch") != "yes"
                and max(c.gaps_seconds, default=1.0) < SUB_CLAIM_S]
    if len(collided) < len(chosen) / 2:
        return []
    if mechanism == "multi_host":
        return [f"The two runs collided on some keys, not every one, copies milliseconds apart: the job's claim is "
                f"not atomic either; make it so: {statements(dialect).claim}."]
    if mechanism == "unknown" and set(pairs) == {"few"}:
        return [f"Two hosts or a pool's workers on them, the copies collided milliseconds apart on a few keys: "
                f"the claim is not atomic; make it so: {statements(dialect).claim}."]
    return []


def ran_again(chosen: Sequence[Cluster]) -> dict[str, int]:
    """The hosts that ran the job more than once themselves, with how many runs (the median over the keys), where
    most keys say so (writercols.runs_per_host): the night triple write, host-a's crontab line and systemd timer
    beside host-b's cron, writes each key three times, two of them host-a's. Named multi_host, its words said only
    "disable it on one host", and disabling it on host-b still left host-a writing every key twice.

    >>> from types import SimpleNamespace as Row
    >>> key = Row(rows=[Row(writer={"host": "a", "run": "1"}), Row(writer={"host": "a", "run": "2"}),
    ...                 Row(writer={"host": "b", "run": "3"})])
    >>> ran_again([key, key]), ran_again([key, Row(rows=key.rows[1:])])
    ({'a': 2}, {'a': 2})
    >>> ran_again([key, Row(rows=key.rows[1:]), Row(rows=key.rows[1:])])
    {}
    """
    per_key = [runs_per_host(c) for c in chosen]
    hosts = sorted({h for runs in per_key for h in runs})
    again = {}
    for host in hosts:
        counts = [runs.get(host, 0) for runs in per_key]
        if sum(n >= 2 for n in counts) * 2 >= len(counts):
            again[host] = int(statistics.median_low([n for n in counts if n >= 2]))
    return again


def offset_shape(offsets: Sequence[float]) -> str:
    """'constant', 'drifting' or 'scattered' gaps across an incident's clusters; 'constant' by the rule its
    clusters' offsets observation uses (timing.spread): an incident of 2-4 ms race gaps read 'constant' under
    a 50 ms slack while every cluster said 'varying'.

    >>> offset_shape([1.0, 1.01, 0.99]), offset_shape([0.1, 0.5, 0.9, 1.3]), offset_shape([0.002, 0.004, 0.003])
    ('constant', 'drifting', 'scattered')
    """
    if len(offsets) < 3:
        return "too few clusters"
    if constant_offsets(offsets):
        return "constant"
    trend = statistics.correlation(range(len(offsets)), offsets) if len(set(offsets)) > 1 else 0.0
    return "drifting" if abs(trend) >= 0.8 else "scattered"


def _recurrence(incidents: list[Incident]) -> dict[str, str]:
    """Mark incidents whose mechanism and writers repeat at about the same time of day on several days."""
    by_pattern: dict[tuple, list[Incident]] = {}
    for inc in incidents:
        by_pattern.setdefault((inc.mechanism, tuple(sorted(map(str, inc.writers)))), []).append(inc)
    schedules: dict[str, str] = {}
    for members in by_pattern.values():
        if len({m.start[:10] for m in members}) < 3:
            continue
        minutes = [int(m.start[11:13]) * 60 + int(m.start[14:16]) for m in members]
        med = statistics.median(minutes)
        close = [m for m, mins in zip(members, minutes, strict=True) if abs(mins - med) <= 45]
        if len({m.start[:10] for m in close}) >= 3:
            text = f"every day ~{int(med) // 60:02d}:{int(med) % 60:02d}, {len({m.start[:10] for m in close})} days"
            for m in close:
                schedules[m.id] = text
    return schedules


def merged_evidence(explanation: str, chosen: Sequence[Cluster]) -> str | None:
    """The evidence sentence of an incident whose clusters several pairs of writers wrote (a rolling deploy's
    incident is its releases, every old pod beside every new one): its first cluster's explanation, whose offsets
    count the clusters of that cluster's own writers, said as theirs beside the incident's count. The report
    showed "7 clusters" (63 on stranger20's deploy) in an incident of 16 (252). None for an incident of one
    pair of writers, where the two counts agree, or an explanation without that count.

    >>> from types import SimpleNamespace as C, SimpleNamespace as R
    >>> pair = lambda a, b: C(rows=[R(writer={"host": a}), R(writer={"host": b})])
    >>> said = "offset (median 14 ms, spread 8 ms, 7 clusters)"
    >>> merged_evidence(said, [pair("a", "c")] * 7 + [pair("b", "d")] * 9)
    'offset (median 14 ms, spread 8 ms, over the 7 clusters of these writers, of the 16 in this incident)'
    >>> merged_evidence(said, [pair("a", "c")] * 7) is None
    True
    """
    if len({frozenset(identity(r) for r in c.rows) for c in chosen}) < 2:
        return None
    found = _EPISODE_COUNT.search(explanation)
    if found is None:
        return None
    return (explanation[:found.start()] + f"{found[1]}, over the {found[2]} clusters of these writers, of the "
            f"{len(chosen)} in this incident)" + explanation[found.end():])


def build(clusters: list[Cluster], table: TableResult) -> tuple[list[Incident], list[Cluster]]:
    """Group attributed clusters into incidents and write their summaries."""
    gap_us = int(table.spec.incident_gap * 1e6)
    parts: list[list[int]] = []
    open_parts: dict[tuple, list[int]] = {}
    last_end: dict[tuple, int] = {}
    for i, c in enumerate(clusters):
        signature = _signature(c)
        # one deploy is its releases: a rolling update pairs every old pod with every new one (2+2 pods: 4
        # incidents); a queue redelivers to whichever worker is idle (one Celery redelivery storm of 7 s on two
        # hosts made 5 retry incidents, tests/test_stranger23_payout_redelivery.py)
        if c.mechanism in ("deploy_overlap", "retry"):
            signature = tuple(s for s in signature if s[0] != "host")
        key = (signature, c.mechanism, tuple(c.evidence.get("candidates_names", ())))
        if key in open_parts and c.start_us - last_end[key] <= gap_us:
            open_parts[key].append(i)
        else:
            if key in open_parts:
                parts.append(open_parts[key])
            open_parts[key] = [i]
        last_end[key] = max(last_end.get(key, 0), c.end_us)
    parts.extend(open_parts.values())
    parts.sort(key=lambda p: clusters[p[0]].start_us)
    aware = table.ts_timezone_aware
    whole = whole_seconds(clusters)  # a gap is known to a second there: said so, never "0 µs"
    incidents: list[Incident] = []
    for n, members in enumerate(parts, start=1):
        inc_id = f"inc-{n}"
        chosen = [clusters[i] for i in members]
        for i in members:
            clusters[i] = replace(clusters[i], incident=inc_id)
        writer_set = sorted({identity(r) for c in chosen for r in c.rows})
        offsets = [clock.elapsed(c, table.spec.timezone) for c in chosen]
        covers = [c.evidence.get("coverage") for c in chosen if c.evidence.get("coverage") is not None]
        first = chosen[0]
        incidents.append(Incident(
            id=inc_id, mechanism=first.mechanism,
            start=iso_from_us(min(c.start_us for c in chosen), aware),
            end=iso_from_us(max(c.end_us for c in chosen), aware),
            clusters=len(chosen), rows=sum(len(c.rows) for c in chosen),
            writers=tuple(dict(w) for w in writer_set if w)[:20], summary="",
            details={
                "confidence": round(statistics.fmean(c.confidence for c in chosen), 3),
                "gap_seconds": {"median": round(statistics.median(offsets), 6),
                                "min": round(min(offsets), 6), "max": round(max(offsets), 6)},
                "offset_shape": offset_shape(offsets),
                "coverage": round(statistics.median(covers), 4) if covers else None,
                "writers_total": len(writer_set),
                "recurring": None,
                **({"candidates": first.evidence.get("candidates", []), "signal": first.evidence.get("signal")}
                   if first.mechanism == "unknown" else {}),
            },
        ))
    schedules = _recurrence(incidents)
    final = []
    for inc, members in zip(incidents, parts, strict=True):
        recurring = schedules.get(inc.id)
        first = clusters[members[0]]
        mechanism_for_fix = inc.mechanism
        steps = recommendations(mechanism_for_fix, list(inc.writers), bool(recurring),
                                first.evidence.get("signal"), table.info.dialect)
        again = ran_again([clusters[i] for i in members]) if inc.mechanism == "multi_host" else {}
        for host, runs in again.items():  # beside the other host's schedule, this host's own second one
            entries = recommendations("duplicate_run", [{"host": host}], False, None, table.info.dialect)[0]
            steps.insert(1, f"{host} ran the job {times(runs)} itself (its copies of each key come from {runs} "
                            f"runs): a second scheduler entry there too, whichever host keeps the job. {entries}")
        steps[-1:-1] = claim_too(inc.mechanism, [clusters[i] for i in members], table.info.dialect)
        if table.info.partitioned and set(table.info.partition_key) - set(table.spec.keys):
            # no UNIQUE constraint on the key is possible there: "add it (migration.sql)" sent a person to a file
            # that holds the table back
            steps[-1] = (f"{table.info.qualified_name} takes no UNIQUE constraint on the business key: it is "
                         f"{partitioned_advice(table.spec.keys, table.info.partition_key, table.spec.ts)} "
                         "(migration.sql says the same).")
        details = {**inc.details, "recurring": recurring, "recommendations": steps}
        if evidence := merged_evidence(first.explanation, [clusters[i] for i in members]):
            details["evidence"] = evidence
        summary = incident_summary(
            inc.mechanism, list(inc.writers), inc.clusters, table.info.qualified_name,
            duration(inc.details["gap_seconds"]["median"], whole), inc.details["coverage"], recurring,
            clock.when(min(clusters[i].start_us for i in members), bool(aware or table.ts_read_in_utc),
                       table.spec.timezone), first.evidence.get("candidates_names"),
            first.evidence.get("signal"), first.evidence.get("clock_local"),
            max(len(clusters[i].rows) for i in members), again,
            whole and inc.details["gap_seconds"]["median"] < 0.5)
        final.append(replace(inc, details=details, summary=summary))
    return final, clusters
