"""Attribute clusters: which writer wrote each row, by which mechanism, and which incident it belongs to.

Each mechanism collects log-likelihood points from the evidence; confidence is the softmax share of the
winner. Evidence is read at two levels: the cluster (who wrote its rows, how far apart, in which
transaction) and the group of clusters around it (did the same two writers duplicate the whole batch, or
did varying pairs collide on a few keys).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import heap
from .cluster import Cluster
from .durations import format_seconds
from .findings import Incident, TableResult
from .recommend import recommendations
from .values import iso_from_us

MECHANISMS = ("deploy_overlap", "multi_host", "duplicate_run", "worker_race", "retry",
              "same_transaction", "dst_fallback", "unknown")
BASELINE = 1.0          # points 'unknown' always has: thin evidence leaves it in the running
RETRY_PAUSE = 0.25      # seconds: the same writer coming back after at least this long is a retry
XMIN_REWRITE_SHARE = 0.5
COVERAGE_SPAN_US = 3600 * 1_000_000  # longer groups get their coverage measured around a few clusters

KeyCounter = Callable[[int, int], int | None]


@dataclass(frozen=True)
class Group:
    """Clusters close in time sharing hosts, versions and apps: the unit the whole-picture rules read."""

    clusters: tuple[int, ...]
    coverage: float | None
    keys_written: int | None
    pair_share: float
    pairs: int
    offsets: tuple[float, ...]
    anonymous: heap.Writers = heap.UNKNOWN  # writers told apart without writer columns


def _distinct(cluster: Cluster, role: str) -> set[Any]:
    return {r.writer.get(role) for r in cluster.rows if r.writer.get(role) is not None}


def _writer_tuple(row) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in row.writer.items()))


def _signature(cluster: Cluster) -> tuple:
    """The coarse writer set that must match for clusters to share an incident (not process or run)."""
    return tuple(sorted((role, tuple(sorted(map(str, _distinct(cluster, role)))))
                        for role in ("host", "version", "app")))


def _pair(cluster: Cluster) -> tuple:
    return tuple(sorted({_writer_tuple(r) for r in cluster.rows}))


def _groups(clusters: list[Cluster], gap_us: int) -> list[list[int]]:
    """Chain clusters (already sorted by start) whose starts are within ``gap_us`` and whose signatures match."""
    open_groups: dict[tuple, list[int]] = {}
    last_end: dict[tuple, int] = {}
    done: list[list[int]] = []
    for i, cluster in enumerate(clusters):
        sig = _signature(cluster)
        if sig in open_groups and cluster.start_us - last_end[sig] <= gap_us:
            open_groups[sig].append(i)
        else:
            if sig in open_groups:
                done.append(open_groups[sig])
            open_groups[sig] = [i]
        last_end[sig] = max(last_end.get(sig, 0), cluster.end_us)
    done.extend(open_groups.values())
    return sorted(done, key=lambda g: g[0])


def _group_evidence(clusters: list[Cluster], members: list[int], count_keys: KeyCounter | None,
                    budget: list[int], anonymous: bool, xmin_trusted: bool) -> Group:
    chosen = [clusters[i] for i in members]
    pairs = Counter(_pair(c) for c in chosen)
    top_pair_count = pairs.most_common(1)[0][1]
    keys_written, counted = _keys_written(chosen, count_keys, budget)
    coverage = min(1.0, counted / keys_written) if keys_written else None
    return Group(
        clusters=tuple(members), coverage=coverage, keys_written=keys_written,
        pair_share=top_pair_count / len(chosen), pairs=len(pairs),
        offsets=tuple(c.span_seconds for c in chosen),
        anonymous=heap.writers(chosen, xmin_trusted) if anonymous else heap.UNKNOWN,
    )


def _keys_written(chosen: list[Cluster], count_keys: KeyCounter | None, budget: list[int]) -> tuple[int | None, int]:
    """Keys written around a group's clusters and how many of the group's clusters that count covers.

    A group spanning more than COVERAGE_SPAN is measured around three of its clusters (at a quarter, half
    and three quarters of the way) instead of over its whole span: a handful of short, indexable range counts
    rather than one distinct count over hours or days of the table.
    """
    if count_keys is None or budget[0] <= 0:
        return None, len(chosen)
    start, end = min(c.start_us for c in chosen), max(c.end_us for c in chosen)
    if end - start <= COVERAGE_SPAN_US:
        budget[0] -= 1
        return count_keys(start, end), len(chosen)
    margin = getattr(count_keys, "margin_us", 0)
    picks = sorted({int(q * (len(chosen) - 1)) for q in (0.25, 0.5, 0.75)})
    written = counted = 0
    for pick in (chosen[i] for i in picks):
        budget[0] -= 1
        lo, hi = pick.start_us - margin, pick.end_us + margin
        written += count_keys(pick.start_us, pick.end_us) or 0
        counted += sum(1 for c in chosen if lo <= c.start_us <= hi)
    return written or None, counted


def in_repeated_hour(ts_us: int, aware: bool | None, zone: str | None) -> bool:
    """Whether a timestamp falls in the hour a fall-back clock change repeats, in the scheduler's zone.

    Aware columns store instants: true only for the first pass through the hour (fold 0), the run that
    the second pass repeats. Naive columns store wall-clock values: any value inside the hour.

    >>> from datetime import datetime, UTC
    >>> us = int(datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1e6)
    >>> in_repeated_hour(us, True, "Europe/Berlin"), in_repeated_hour(us + 3_600_000_000, True, "Europe/Berlin")
    (True, False)
    """
    if not zone:
        return False
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    moment = datetime.fromtimestamp(ts_us / 1e6, UTC)
    if aware:
        local = moment.astimezone(tz)
        wall = local.replace(tzinfo=None)
        if local.fold:
            return False
    else:
        wall = moment.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return first.utcoffset() is not None and first.utcoffset() > second.utcoffset()


def _score(cluster: Cluster, group: Group, has_roles: set[str], xmin_trusted: bool,
           dst: bool = False) -> dict[str, float]:
    """Points per mechanism from the evidence of one cluster and its group."""
    pts = dict.fromkeys(MECHANISMS, 0.0)
    pts["unknown"] = BASELINE
    n = len(group.clusters)
    versions, hosts = _distinct(cluster, "version"), _distinct(cluster, "host")
    procs = _distinct(cluster, "process") | {("run", v) for v in _distinct(cluster, "run")}
    writers = {_writer_tuple(r) for r in cluster.rows}
    xmins = {r.xmin for r in cluster.rows if r.xmin is not None}
    gap = max(cluster.gaps_seconds) if cluster.gaps_seconds else 0.0
    coverage = group.coverage

    one_writer = len(writers) == 1
    if dst:
        pts["dst_fallback"] += 7
    if xmin_trusted and len(xmins) == 1 and cluster.rows[0].xmin is not None and (one_writer or not has_roles):
        pts["same_transaction"] += 7
    elif xmins and len(xmins) > 1:
        pts["same_transaction"] -= 3
    if len(versions) > 1:
        pts["deploy_overlap"] += 6
    if len(hosts) > 1:
        pts["multi_host"] += 4.5
        if group.pair_share > 0.8 and n >= 3:
            pts["multi_host"] += 1
    same_host = len(hosts) <= 1
    if has_roles and len(writers) == 1:
        # every known role agrees: the same writer came back
        pts["retry"] += 3 if gap >= RETRY_PAUSE else 1.5
        if "process" not in has_roles and "run" not in has_roles:
            pts["duplicate_run"] += 1  # a second process on the same host looks the same without a pid
    elif same_host and len(procs) > 1:
        stable = group.pair_share >= 0.8
        high = coverage is not None and coverage >= 0.5
        low = coverage is not None and coverage < 0.25
        if high or (coverage is None and stable and n >= 5):
            pts["duplicate_run"] += 3.5 + (1 if stable else 0)
        if low or (coverage is None and not stable):
            pts["worker_race"] += 3 + (1 if not stable or group.pairs > 1 else 0) + (0.5 if gap < 1 else 0)
        if not high and not low and coverage is not None:
            pts["duplicate_run"] += 1.5
            pts["worker_race"] += 1.5
    elif not has_roles:
        # no writer columns: heap blocks, transactions, timing and coverage, at lower confidence
        same_session = heap.session(cluster)
        high = coverage is not None and coverage >= 0.5 and n >= 3  # a batch, not two keys out of two
        low = coverage is not None and coverage < 0.25
        pair = group.anonymous.count == 2
        if high or (pair and coverage is None and n >= 5):
            # the whole batch was written twice: that outweighs where one cluster's copies landed
            pts["duplicate_run"] += 3 if pair else 1.5
            pts["multi_host"] += 2.5 if pair else 1.5
        elif same_session == "same" and gap >= RETRY_PAUSE:
            pts["retry"] += 2
        elif same_session == "same" and group.anonymous.count != 3 and not low:
            pts["retry"] += 1
        elif same_session == "same":
            # several sessions inserting at once share blocks now and then: sub-second copies amid other
            # collisions are a race, whatever block they landed in
            pts["worker_race"] += 1.5
        elif same_session == "different" and (low or group.anonymous.count == 3):
            pts["worker_race"] += 2.5 + (0.5 if gap < 1 else 0)
        elif gap < 0.05:
            pts["worker_race"] += 1.5
        elif gap >= RETRY_PAUSE:
            pts["retry"] += 1
    order = heap.commit_order(cluster, int(RETRY_PAUSE * 1e6))
    if order == "overlapped":  # the second copy was written while the first transaction was still open
        pts["retry"] -= 2
        pts["worker_race"] += 1
    elif order == "sequential":  # the first copy was committed and visible when the second was written
        pts["retry"] += 1.5
        pts["worker_race"] -= 2
    return pts


def _softmax(points: dict[str, float]) -> list[tuple[str, float]]:
    top = max(points.values())
    weights = {m: math.exp(p - top) for m, p in points.items()}
    total = sum(weights.values())
    return sorted(((m, w / total) for m, w in weights.items()), key=lambda mw: -mw[1])


SEPARATING_SIGNAL = {
    frozenset({"multi_host", "duplicate_run"}): "a host column (--writer host=COLUMN)",
    frozenset({"duplicate_run", "worker_race"}): "a process or run column and the batch size",
    frozenset({"worker_race", "retry"}): "a process column, or commit timestamps (track_commit_timestamp = on)",
    frozenset({"retry", "duplicate_run"}): "a process id or run id column (--writer process=COLUMN)",
    frozenset({"multi_host", "worker_race"}): "a host column (--writer host=COLUMN)",
}


def _who(values: set[Any]) -> str:
    names = sorted(map(str, values))
    return " and ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])} and {len(names) - 3} more"


def _explain(cluster: Cluster, mechanism: str, group: Group, runner_up: tuple[str, float] | None,
             has_roles: set[str], commits_off: bool) -> str:
    span = format_seconds(cluster.span_seconds)
    others = len(group.clusters) - 1
    tail = f"; the same writers wrote {others} other key(s) in this incident" if others else ""
    cover = (f" ({len(group.clusters)} of {group.keys_written} keys written then, {group.coverage:.0%})"
             if group.coverage is not None and group.keys_written else "")
    procs = _distinct(cluster, "process") or _distinct(cluster, "run")
    if mechanism in ("multi_host", "duplicate_run") and not has_roles:
        text = (f"two writers wrote this key {span} apart and duplicated the batch{cover}{tail}; whether on one "
                "host or two, the table cannot say")
    elif mechanism == "deploy_overlap":
        text = f"versions {_who(_distinct(cluster, 'version'))} wrote this key {span} apart{tail}"
    elif mechanism == "multi_host":
        text = f"hosts {_who(_distinct(cluster, 'host'))} wrote this key {span} apart{tail}"
    elif mechanism == "duplicate_run":
        host = _who(_distinct(cluster, "host")) or "one host"
        text = (f"{host} wrote this key from two runs ({_who(procs)}) {span} apart; the same pair duplicated "
                f"the batch{cover}")
    elif mechanism == "worker_race":
        text = (f"workers {_who(procs)} wrote this key {span} apart; only a few keys collided{cover} "
                f"with {group.pairs} different worker pair(s): a check-then-act race")
    elif mechanism == "retry":
        who = _who({"/".join(str(v) for v in cluster.rows[0].writer.values())}) if has_roles else "one writer"
        pause = ", after a pause" if max(cluster.gaps_seconds, default=0.0) >= RETRY_PAUSE else ""
        text = f"{who} wrote this key again {span} later{pause}: a retry or redelivery"
    elif mechanism == "same_transaction":
        text = f"all {len(cluster.rows)} rows carry xmin {cluster.rows[0].xmin}: one transaction inserted the key twice"
    elif mechanism == "dst_fallback":
        text = (f"the key was written again {span} later, the first time inside the hour that the autumn clock "
                "change repeats: a local-time schedule fired twice")
    else:
        text = f"{len(cluster.rows)} rows {span} apart"
        if not has_roles:
            text += "; the table has no writer columns, so the second writer cannot be named"
    if not has_roles and mechanism != "same_transaction":
        text += f"; {_anonymous_evidence(cluster, group)} (no writer columns: lower confidence)"
    order = heap.commit_order(cluster, int(RETRY_PAUSE * 1e6))
    if order == "overlapped":
        text += "; a copy was written before the previous copy's transaction committed: the transactions overlapped"
    elif order == "sequential":
        text += "; each copy was written after the previous copy's transaction had committed"
    elif commits_off and mechanism in ("retry", "worker_race") and not {"process", "run"} & has_roles:
        text += ("; commit timestamps (track_commit_timestamp = on) would tell whether the transactions overlapped "
                 "(a race) or followed each other (a retry)")
    if runner_up and runner_up[1] >= 0.2:
        signal = SEPARATING_SIGNAL.get(frozenset({mechanism, runner_up[0]}))
        text += f"; {runner_up[0]} is also possible ({runner_up[1]:.0%})"
        if signal:
            text += f": {signal} would separate them"
    return text


def _anonymous_evidence(cluster: Cluster, group: Group) -> str:
    """What heap blocks, transactions and ids say about the writers of a table without writer columns."""
    parts = []
    same = heap.session(cluster)
    if same == "same":
        parts.append(f"the copies share heap block {heap.block(cluster.rows[0].ctid)}: most likely one session")
    elif same == "different":
        parts.append("the copies sit in different heap blocks: different sessions")
    if group.anonymous.count:
        parts.append(group.anonymous.describe())
    return "; ".join(parts) or "timing only"


def _xmin_trusted(table: TableResult) -> bool:
    """Equal xmin means one transaction unless a bulk load, restore or rewrite gave most rows one xid."""
    share = table.xmin_top_share
    return share is not None and share < XMIN_REWRITE_SHARE


def _offset_shape(offsets: tuple[float, ...]) -> str:
    if len(offsets) < 3:
        return "too few clusters"
    med = statistics.median(offsets)
    if max(offsets) - min(offsets) <= 0.2 * med + 0.05:
        return "constant"
    trend = statistics.correlation(range(len(offsets)), offsets) if len(set(offsets)) > 1 else 0.0
    return "drifting" if abs(trend) >= 0.8 else "scattered"


def _recurrence(incidents: list[Incident]) -> dict[str, str]:
    """Mark incidents whose mechanism and writers repeat at about the same time of day on several days."""
    by_pattern: dict[tuple, list[Incident]] = {}
    for inc in incidents:
        key = (inc.mechanism, tuple(sorted(map(str, inc.writers))))
        by_pattern.setdefault(key, []).append(inc)
    schedules: dict[str, str] = {}
    for members in by_pattern.values():
        days = {m.start[:10] for m in members}
        if len(days) < 3:
            continue
        minutes = [int(m.start[11:13]) * 60 + int(m.start[14:16]) for m in members]
        med = statistics.median(minutes)
        close = [m for m, mins in zip(members, minutes, strict=True) if abs(mins - med) <= 45]
        if len({m.start[:10] for m in close}) >= 3:
            text = f"every day ~{int(med) // 60:02d}:{int(med) % 60:02d}, {len({m.start[:10] for m in close})} days"
            for m in close:
                schedules[m.id] = text
    return schedules


def attribute_table(table: TableResult, count_keys: KeyCounter | None = None,
                    coverage_budget: int = 200) -> TableResult:
    """Attribute every cluster of one table and group them into incidents."""
    clusters = list(table.clusters)
    if not clusters:
        return replace(table, signals=_signals(table, clusters, False))
    has_roles = {w.role for w in table.writers}
    xmin_ok = _xmin_trusted(table)
    groups = _groups(clusters, int(table.spec.incident_gap * 1e6))
    budget = [coverage_budget]
    decided: list[Cluster] = list(clusters)
    group_of: dict[int, Group] = {}
    for members in groups:
        group = _group_evidence(clusters, members, count_keys, budget, not has_roles, xmin_ok)
        for i in members:
            group_of[i] = group
            cluster = clusters[i]
            dst = bool(cluster.evidence.get("hour_apart")) or (
                table.ts_timezone_aware is not True and len({_writer_tuple(r) for r in cluster.rows}) == 1
                and in_repeated_hour(cluster.start_us, False, table.spec.timezone))
            points = _score(cluster, group, has_roles, xmin_ok, dst)
            ranked = _softmax(points)
            mechanism, confidence = ranked[0]
            runner_up = ranked[1] if len(ranked) > 1 else None
            decided[i] = replace(
                clusters[i], mechanism=mechanism, confidence=confidence,
                explanation=_explain(clusters[i], mechanism, group, runner_up, has_roles,
                                     table.commit_timestamps.startswith("off")),
                evidence={**clusters[i].evidence, "points": {m: round(p, 2) for m, p in points.items() if p},
                          "coverage": None if group.coverage is None else round(group.coverage, 4)},
            )
    incidents, decided = _incidents(decided, groups, group_of, table)
    return replace(table, clusters=tuple(decided), incidents=tuple(incidents),
                   signals=_signals(table, decided, xmin_ok))


def _incidents(clusters: list[Cluster], groups: list[list[int]], group_of: dict[int, Group],
               table: TableResult) -> tuple[list[Incident], list[Cluster]]:
    parts: list[list[int]] = []
    for members in groups:
        by_mech: dict[str, list[int]] = {}
        for i in members:
            by_mech.setdefault(clusters[i].mechanism, []).append(i)
        parts.extend(by_mech.values())
    parts.sort(key=lambda p: clusters[p[0]].start_us)
    aware = table.ts_timezone_aware
    incidents: list[Incident] = []
    for n, members in enumerate(parts, start=1):
        inc_id = f"inc-{n}"
        chosen = [clusters[i] for i in members]
        for i in members:
            clusters[i] = replace(clusters[i], incident=inc_id)
        writer_set = sorted({_writer_tuple(r) for c in chosen for r in c.rows})
        writers = [dict(w) for w in writer_set][:20]
        offsets = [c.span_seconds for c in chosen]
        group = group_of[members[0]]
        mechanism = chosen[0].mechanism
        incidents.append(Incident(
            id=inc_id, mechanism=mechanism,
            start=iso_from_us(min(c.start_us for c in chosen), aware),
            end=iso_from_us(max(c.end_us for c in chosen), aware),
            clusters=len(chosen), rows=sum(len(c.rows) for c in chosen), writers=tuple(writers),
            summary="",
            details={
                "confidence": round(statistics.fmean(c.confidence for c in chosen), 3),
                "gap_seconds": {"median": round(statistics.median(offsets), 6),
                                "min": round(min(offsets), 6), "max": round(max(offsets), 6)},
                "offset_shape": _offset_shape(tuple(offsets)),
                "coverage": None if group.coverage is None else round(group.coverage, 4),
                "keys_written": group.keys_written,
                "writers_total": len(writer_set),
                "recurring": None,
            },
        ))
    schedules = _recurrence(incidents)
    final = []
    for inc in incidents:
        recurring = schedules.get(inc.id)
        details = {**inc.details, "recurring": recurring,
                   "recommendations": recommendations(inc.mechanism, list(inc.writers), bool(recurring))}
        final.append(replace(inc, details=details, summary=_summary(inc, recurring, table)))
    return final, clusters


def _summary(inc: Incident, recurring: str | None, table: TableResult) -> str:
    def names(role: str) -> str:
        return _who({w[role] for w in inc.writers if role in w})

    when = f"{inc.start[:16].replace('T', ' ')}"
    gap = format_seconds(inc.details["gap_seconds"]["median"])
    cover = inc.details["coverage"]
    cover_text = f" ({cover:.0%} of the keys written then)" if cover is not None else ""
    table_name = table.info.qualified_name
    text = {
        "multi_host": f"Hosts {names('host')} both ran the job that writes {table_name}: {inc.clusters} key(s) "
                      f"written twice{cover_text}, a median {gap} apart; disable it on one host and lock the job.",
        "duplicate_run": f"{names('host') or 'One host'} ran the job twice ({names('process') or names('run')}): "
                         f"{inc.clusters} key(s) of {table_name} written twice{cover_text}, a median {gap} "
                         "apart; find the second scheduler entry and remove it.",
        "worker_race": f"Workers {names('process') or names('run')} raced on {inc.clusters} key(s) of "
                       f"{table_name}{cover_text}, a median {gap} apart; make the claim atomic.",
        "retry": f"The same writer wrote {inc.clusters} key(s) of {table_name} again after a pause (median "
                 f"{gap}); make the handler idempotent.",
        "deploy_overlap": f"Releases {names('version')} both ran the job during a deploy: {inc.clusters} key(s) "
                          f"of {table_name} written twice; stop the old release's scheduler first.",
        "same_transaction": f"One transaction inserted {inc.clusters} key(s) of {table_name} twice; fix the "
                            "application loop.",
        "dst_fallback": f"The job fired twice in the repeated hour of the clock change: {inc.clusters} key(s) "
                        f"of {table_name}; schedule it in UTC.",
        "unknown": f"{inc.clusters} key(s) of {table_name} were written twice a median {gap} apart, by writers "
                   "the data cannot name; record host and process on each row.",
    }[inc.mechanism]
    text = f"{when}: {text}"
    if recurring:
        text += f" It recurs {recurring}."
    return text


def _xmin_signal(table: TableResult, trusted: bool) -> str:
    if table.info.dialect != "postgresql":
        return "not available on this engine"
    if table.xmin_top_share is None:
        return "not read (no clusters)"
    if not trusted:
        return (f"not trusted: one transaction id covers {table.xmin_top_share:.0%} of the rows "
                "(bulk load, restore or table rewrite)")
    return "usable"


def _commit_signal(table: TableResult, clusters: list[Cluster]) -> str:
    status = table.commit_timestamps
    if not status.startswith("usable"):
        return status
    if table.ts_timezone_aware is False:
        return "read, not compared: the timestamp column has no time zone"
    share = heap.comparable_share(clusters)
    if share is not None and share < 0.5:
        return ("read, not compared: the timestamp column does not match the commit times (set by an "
                "application clock, or the rows were loaded from elsewhere)")
    return status


def _signals(table: TableResult, clusters: list[Cluster], xmin_ok: bool) -> dict[str, Any]:
    """Which evidence was usable for this table, for the findings and the report."""
    ts_values = [r.ts_us for c in clusters for r in c.rows]
    whole = sum(1 for t in ts_values if t % 1_000_000 == 0)
    share = whole / len(ts_values) if ts_values else None
    signals: dict[str, Any] = {
        "writer_roles": sorted({w.role for w in table.writers}),
        "xmin": _xmin_signal(table, xmin_ok),
        "commit_timestamps": _commit_signal(table, clusters),
        "heap_blocks": ("not available on this engine" if table.info.dialect != "postgresql" else
                        "used to tell writers apart (no writer columns)" if not table.writers and clusters else
                        "read, not needed (writer columns given or inferred)" if clusters else "not read"),
        "whole_second_timestamps_share": None if share is None else round(share, 4),
    }
    if share is not None and share >= 0.9:
        signals["timestamp_precision_warning"] = (
            "most timestamps have zero fractional seconds: the column likely stores whole seconds, which "
            "hides sub-second gaps between writers")
    return signals
