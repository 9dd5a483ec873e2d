"""Writer roles read from the data, for columns whose names say nothing (abbreviations, other
conventions, other languages).

A writer column shows itself in the data: few distinct values, constant over long stretches of insertion
order, differing between the copies of many clusters; a business column does not. The statistics come from
one query per table (queries/column_profile.sql.j2, over the rows written around the clusters) and from the
cluster rows already read. The role among host / process / run / version follows from the values (a
version looks like one; a process id is a number) and from which column determines which: every process or
run lives on one host, so the host is the column the others determine.

Roles found here serve attribution only: the table's writer columns (what cleanup leaves out of the
payload comparison) stay those given or named, so a guessed role can never hide a business difference.
The named ones are checked against the data too, in the same statement: a ``version`` whose integers
grow from the earlier copy to the later one in every cluster is a document's version, not a release, and
stops being a writer column; a named column the data does not confirm stays a writer for attribution, but
cleanup compares it like a business column (``reclassify``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..cluster import Cluster
from ..writers import WriterColumn, name_words
from .writercols import named

# a dotted release or a commit hash (with a letter: a long plain number is an amount or an id, not a sha)
VERSION = re.compile(r"^v?\d+(\.\d+){1,3}([-+.].*)?$|^(?=[0-9]*[a-f])[0-9a-f]{7,40}$")
NUMBER = re.compile(r"^-?\d+$")
HINTS = {  # abbreviations and other languages the name vocabulary does not hold; a hint, never enough alone
    "host": {"srv", "hst", "maschine", "rechner", "knoten", "box", "origin", "nodo", "serveur"},
    "process": {"wrk", "proc", "prozess", "pid", "worker"},
    "run": {"lauf", "exec", "tick", "invocation", "ausfuehrung", "execucao"},
    "version": {"rel", "ver", "stand", "vers", "sha"},
}
# a column named for the state of the row (payment_status, orderState, lifecycle_stage) is business data whatever
# its values do: copies differ in it when one was processed before the other was written (queued, sent), which
# made it a "run" read from the data, and the text output told a person to trust it with --writer run=status
STATE_WORDS = frozenset({"status", "state", "stage", "phase", "kind", "type", "category", "result", "outcome",
                         "lifecycle", "disposition", "statut", "zustand", "estado", "stato"})
MAX_DISTINCT_SHARE = 0.2   # a writer column has at most this many distinct values per row written
MIN_DIFFER_SHARE = 0.05    # and differs between the copies of at least this share of clusters
MAX_CANDIDATES = 12
# The profile reads the rows this many seconds (or 10 windows) either side of each cluster: a writer column
# shows itself over minutes of a job's writes (the demo's 8 workers racing on charges wrote 39 rows in the
# 30 s around their collisions, too few to confirm 8 values; a job's minutes hold enough).
PROFILE_MARGIN_S = 600.0
# The profile reads the spans around the clusters; when they cover this share of the range from the first
# to the last, the whole range instead (clusters all along the range: the search costs each row its
# comparisons and leaves out almost nothing)
DENSE_SPANS = 0.8
# At most about this many rows are profiled: where the spans around every cluster hold more (by the table's
# density, the rows the scan counted over its time range), the spans around clusters taken evenly along the
# list are read instead. The profile sorts its rows once per candidate and once in insertion order: the peers'
# 5M-row table (2,500 clusters along five days, the whole table as one span) took 5.4 s of a 8.9 s default scan
# in it, an 8M-row wide table 44-66 s (stranger21); what it measures (distinct values, changes against a
# shuffle, shares of the rows read) holds on a part as on the whole. The rows are counted at the table's
# average density, so a table written in bursts reads a few times more (a sixth of each hour: 3.6 times), never
# more than every span.
PROFILE_ROWS = 200_000
MIN_STRETCH = 5            # rows per value change in insertion order, for a column the copies agree on
# Insertion order: a writer column keeps its value over stretches (a run writes its batch under one id), or
# its second writer's rows come one by one amid the first's (a second run's copies, the demo's tables), which
# changes about as often as the same values shuffled would. It never changes more often than any shuffle of
# its values could: values taken in turn row by row (3 services over 100 charges, each charge the next
# service) are business data. The most changes a shuffle of k values gives is when they are evenly spread
# (rows * (1 - 1/k) changes on average); a name-found column changing more often than that by
# this many standard deviations is not trusted (3: a writer column is turned down by chance about once in
# 700 tables). The bound needs only the distinct count (a count per value costs a sort per column: 1M rows,
# 3.2-4.1 s of CPU for the statement became 9.3 s). A business column in random order, or taken in turn
# among skewed values, is not turned down by the order: it changes as scattered copies do.
STEADY_SIGMAS = 3.0
# a name-found writer column is trusted only on this many rows around the clusters: two values in two rows
# (a stranger's 'service' holding 'consulting' and 'audit') confirm nothing, and cleanup deleted the audit charge
MIN_CONFIRM_ROWS = 20
# Writers in lockstep: two hosts writing the same batch paced by the clock alternate row by row, so their
# writer columns change more often than a shuffle would, as values taken in turn do. What tells them from a
# business column taken in turn is in the clusters: every copy carries its own value (one host per copy) in
# (nearly) every cluster, over many clusters. A real lockstep (tests/real, two hosts, 200 keys) showed it in
# every cluster; 0.9 leaves room for a few keys one host wrote twice. Only for the roles that name a writer
# (host, process, run): an ``app`` or ``version`` in turn is too often business data (3 services charged on
# each invoice), and a column the names did not propose is never trusted at all.
SIGNATURE_SHARE = 0.9
SIGNATURE_CLUSTERS = 10
SIGNATURE_ROLES = ("host", "process", "run")


@dataclass(frozen=True)
class Profile:
    column: str
    rows: int
    distinct: int
    changes: int
    differ_share: float
    own_share: float = 0.0   # share of clusters in which every copy carries its own value
    clusters: int = 0
    around: int = 0  # the clusters whose spans were read (fewer than ``clusters`` where their rows were many)

    def where(self) -> str:
        """Where its rows were read, in words."""
        return ("written around the clusters" if not self.around or self.around >= self.clusters else
                f"written around {self.around:,} of the {self.clusters:,} clusters (taken evenly)")

    def shuffled_changes(self) -> tuple[float, float]:
        """The most value changes from one row to the next a random order of the column's values could show on
        average (values evenly spread: rows * (1 - 1/distinct)), and its standard deviation.

        >>> Profile("service", 100, 3, 100, 0.0).shuffled_changes()
        (66.7, 4.7)
        """
        if self.rows < 2 or self.distinct < 2:
            return 0.0, 0.0
        pairs = self.rows - 1
        differ = min(1.0, self.rows * (1 - 1 / self.distinct) / pairs)
        return round(pairs * differ, 1), round((pairs * differ * (1 - differ)) ** 0.5, 1)

    def steadier_than_shuffled(self) -> bool:
        """Whether the column changes from one row to the next clearly less often than a shuffle of its values
        spread evenly would (``STEADY_SIGMAS`` below it): writers' rows come in runs, even where several write at
        once (a harder generator's 20 hosts: a change every 2 rows where a shuffle changes 19 rows in 20). A
        currency changing every 1.5 rows among 3 values changes as a shuffle does.

        >>> Profile("box", 52714, 20, 26535, 0.84).steadier_than_shuffled()
        True
        >>> Profile("currency", 40, 3, 27, 0.42).steadier_than_shuffled()
        False
        """
        expected, sd = self.shuffled_changes()
        return self.distinct >= 2 and self.changes - 1 < expected - STEADY_SIGMAS * sd

    def in_turn(self) -> bool:
        """Whether the column changes from one row to the next clearly more often than any shuffle of its values
        could, as values taken in turn do (the first row counts as a change in ``changes``)."""
        expected, sd = self.shuffled_changes()
        return self.changes - 1 > expected + STEADY_SIGMAS * sd


_COMPARABLE_TYPE = re.compile(r"CHAR|TEXT|STRING|(?<![A-Z])(?:TINY|SMALL|MEDIUM|BIG)?INT|ENUM", re.IGNORECASE)


def candidates(clusters: Sequence[Cluster], columns: Sequence[str], skip: set[str],
               types: dict[str, str] | None = None) -> list[str]:
    """Columns of a text or integer type whose values in the cluster rows are short text or integers and that
    are not yet used. (A json column's small values read as integers in Python, but the database cannot
    compare json: "operator does not exist: json = json" stopped the scan.)"""
    found = []
    for column in columns:
        if column in skip or (types is not None and not _COMPARABLE_TYPE.search(types.get(column, ""))):
            continue
        values = [r.values.get(column) for c in clusters for r in c.rows]
        if values and all(v is None or (isinstance(v, (str, int)) and not isinstance(v, bool) and len(str(v)) <= 80)
                          for v in values):
            found.append(column)
    return found[:MAX_CANDIDATES]


def profile_spans(clusters: Sequence[Cluster], margin_us: int, rows_per_us: float | None,
                  limit: int = PROFILE_ROWS) -> tuple[list[tuple[int, int]], int]:
    """The time spans the profile reads, and around how many of the clusters (all of them, or, where their spans
    would hold more than about ``limit`` rows at ``rows_per_us``, clusters taken evenly along the list).

    >>> from types import SimpleNamespace
    >>> many = [SimpleNamespace(start_us=100 * n, end_us=100 * n + 1) for n in range(100)]  # 100 s of clusters
    >>> spans, around = profile_spans(many, 10, 1.0, limit=420)  # 2,100 rows in all, 21 a cluster's span
    >>> profile_spans(many, 10, None)[1], around, spans[:3]
    (100, 20, [(-10, 11), (490, 511), (990, 1011)])
    """
    from .written import merge_spans

    def around(chosen: Sequence[Cluster]) -> list[tuple[int, int]]:
        return merge_spans([(c.start_us - margin_us, c.end_us + margin_us) for c in chosen])

    spans = around(clusters)
    if sum(hi - lo for lo, hi in spans) >= DENSE_SPANS * (spans[-1][1] - spans[0][0]):
        spans = [(spans[0][0], spans[-1][1])]  # clusters all along: the span search would cost more than it saves
    rows = (rows_per_us or 0) * sum(hi - lo for lo, hi in spans)
    if rows <= limit or len(clusters) < 2:
        return spans, len(clusters)
    # each cluster's own span holds about this many rows (spans taken apart overlap less than all of them do)
    each = (rows_per_us or 0) * (2 * margin_us + sum(c.end_us - c.start_us for c in clusters) / len(clusters))
    keep = max(1, min(len(clusters), int(limit / each)))
    return around([clusters[n * len(clusters) // keep] for n in range(keep)]), keep


def profile(conn, info, spec, aware, clusters: Sequence[Cluster], columns: list[str],
            rows_per_us: float | None = None) -> list[Profile]:
    """One statement over the rows written around the clusters (around some of them where those rows are many:
    ``profile_spans``; ``rows_per_us``, the table's density), plus how often copies differ."""

    from ..detect import read_from
    from ..sqltemplates import render_sql, sql_text
    from .written import span_binds

    margin = int(max(PROFILE_MARGIN_S, 10 * spec.window) * 1e6)
    spans, around = profile_spans(clusters, margin, rows_per_us)
    sql = render_sql("column_profile.sql.j2", conn.dialect, table=read_from(conn.dialect, info),
                     candidates=columns, ts=spec.ts, order=list(info.primary_key), spans=len(spans), where=info.where)
    row = conn.execute(sql_text(sql), span_binds(info, aware, spans)).mappings().one()
    out = []
    for n, column in enumerate(columns):
        values = [[str(r.values.get(column)) for r in c.rows] for c in clusters]
        differ = sum(1 for v in values if len(set(v)) > 1)
        own = sum(1 for v in values if len(set(v)) == len(v))
        out.append(Profile(column, int(row["_rows"] or 0), int(row[f"d{n}"] or 0), int(row[f"c{n}"] or 0),
                           differ / len(clusters), own / len(clusters), len(clusters), around))
    return out


def document_version(clusters: Sequence[Cluster], column: str) -> str | None:
    """Why ``column`` reads as a business version rather than a release (None when it does not): integers
    that grow from the earlier copy to the later one in every cluster whose copies differ in it, as a
    document's next version does. Two releases running at once write in either order.

    >>> from dupfinder.cluster import Cluster, ClusterRow
    >>> def row(v, t): return ClusterRow({"id": t}, "", t, {}, False, {"version": v})
    >>> c = Cluster({"doc": 1}, (row(1, 0), row(2, 5)), 0.0, "identical", (), ())
    >>> document_version([c], "version").startswith("its integers grow from the earlier copy to the later one")
    True
    >>> document_version([c, Cluster({"doc": 2}, (row(2, 0), row(1, 5)), 0.0, "identical", (), ())], "version")
    """
    differing = 0
    for c in clusters:
        values = [r.values.get(column) for r in c.rows]
        if any(v is not None and not NUMBER.match(str(v)) for v in values):
            return None
        numbers = [int(v) for v in values if v is not None]
        if len(set(numbers)) < 2:
            continue
        if any(b < a for a, b in zip(numbers, numbers[1:], strict=False)):
            return None
        differing += 1
    if not differing:
        return None
    return (f"its integers grow from the earlier copy to the later one in all {differing} cluster(s) whose "
            "copies differ in it, as a document's next version does")


def work_id(clusters: Sequence[Cluster], column: str, version: str) -> str | None:
    """Why ``column``, named a run or process, reads as the id of the work both copies did rather than of a
    writer (None when it does not): in (nearly) every cluster whose copies two releases wrote, one value of it is
    carried by copies of both. A run or process is one release's: a job id both releases' pods claimed during a
    deploy is what they raced on, and read as a run it said "one run wrote every copy" (a retry) against the
    versions (stranger20's rolling deploy, all 252 overlap clusters retry at 99.9%). Only asked of a column the
    data does not confirm (a steady run id, such as a logical batch run two schedulers both executed, is
    one_per_host's to read).

    >>> from dupfinder.cluster import Cluster, ClusterRow
    >>> def row(job, v, t): return ClusterRow({"id": t}, "", t, {}, False, {"job_id": job, "app_version": v})
    >>> c = Cluster({"k": 1}, (row(7, "1.4.2", 0), row(7, "1.5.0", 5)), 0.0, "identical", (), ())
    >>> work_id([c], "job_id", "app_version").startswith("one value of it is carried by copies of two versions")
    True
    >>> work_id([Cluster({"k": 2}, (row(7, "1.4.2", 0), row(8, "1.5.0", 5)), 0.0, "identical", (), ())],
    ...         "job_id", "app_version")
    >>> work_id([Cluster({"k": 3}, (row(7, "1.5.0", 0), row(7, "1.5.0", 5)), 0.0, "identical", (), ())],
    ...         "job_id", "app_version")  # one release ran it again: a redelivery keeps its id
    """
    crossing = shared = 0
    for c in clusters:
        by_value: dict[str, set[str]] = {}
        versions = set()
        for r in c.rows:
            v = r.values.get(version)
            if not named(v):
                continue
            versions.add(str(v))
            value = r.values.get(column)
            if named(value):
                by_value.setdefault(str(value), set()).add(str(v))
        if len(versions) < 2:
            continue
        crossing += 1
        shared += any(len(v) > 1 for v in by_value.values())
    if not crossing or shared < SIGNATURE_SHARE * crossing:
        return None
    return (f"one value of it is carried by copies of two versions in {shared} of the {crossing} cluster(s) whose "
            f"copies two versions wrote ({version!r}): a run is one release's, so it names the work both did, not "
            "who did it")


def _confirms(p: Profile) -> bool:
    """Whether the rows around the clusters show a writer column: enough of them, few distinct values among
    them, and not taken in turn (no more changes from one row to the next than a shuffle could give, beyond
    chance).
    (Not a long stretch per value: hosts writing at the same time interleave theirs, the demo's every 4.9 rows,
    and a second run's copies come one by one amid the first run's rows.)"""
    return p.rows >= MIN_CONFIRM_ROWS and p.distinct <= MAX_DISTINCT_SHARE * p.rows and not p.in_turn()


def _lockstep(p: Profile, role: str) -> bool:
    """Whether a name-found writer column taken in turn is writers in lockstep: enough rows with few values,
    and each copy of (nearly) every one of many clusters carries its own value (``SIGNATURE_*``)."""
    return (role in SIGNATURE_ROLES and p.rows >= MIN_CONFIRM_ROWS and p.distinct <= MAX_DISTINCT_SHARE * p.rows
            and p.clusters >= SIGNATURE_CLUSTERS and p.own_share >= SIGNATURE_SHARE)


def _seen(p: Profile) -> str:
    """What the rows around the clusters showed of a column, in words."""
    expected, _ = p.shuffled_changes()
    return (f"{p.distinct} distinct value(s) in the {p.rows} rows {p.where()}, {max(0, p.changes - 1)} "
            f"change(s) from one row to the next in insertion order where a shuffle of as many values would change "
            f"at most {expected:g} times")


def _vetted(w: WriterColumn, p: Profile | None) -> WriterColumn:
    """A writer column found by its name, trusted when the data confirms it; otherwise a guess that cleanup
    compares like a business column (the reason names the --writer option that would trust it)."""
    if w.trusted or p is None:
        return w
    if _confirms(p):
        return replace(w, trusted=True, reason=f"{w.reason}; the data agrees: {_seen(p)}")
    if _lockstep(p, w.role):
        return replace(w, trusted=True, reason=(
            f"{w.reason}; the data agrees: {_seen(p)}, yet each copy carries its own value in "
            f"{p.own_share:.0%} of the {p.clusters} clusters, as writers writing the same keys in lockstep do"))
    return replace(w, reason=f"{w.reason}; not confirmed by the data ({_seen(p)}; a writer column needs at least "
                   f"{MIN_CONFIRM_ROWS} rows, at most {MAX_DISTINCT_SHARE:.0%} distinct values among them and "
                   "no more changes from one row to the next than a shuffle could give): cleanup compares it like a "
                   "business column; if it only says who wrote the row, scan again with --writer "
                   f"{shlex.quote(f'{w.role}={w.column}')}")


def reclassify(clusters: Sequence[Cluster], writers: Sequence[WriterColumn],
               rejected: Sequence[WriterColumn]) -> list[Cluster]:
    """Treat a difference in a column whose writer role is only a guess as a business difference (the cluster
    becomes divergent: cleanup leaves it to a person), and drop rejected roles from the rows' writers."""
    compare = [w.column for w in (*writers, *rejected) if not w.trusted]
    dropped = {w.role for w in rejected}
    if not compare:
        return list(clusters)
    out = []
    for c in clusters:
        differing = tuple(col for col in compare if len({repr(r.values.get(col)) for r in c.rows}) > 1)
        rows = c.rows if not dropped else tuple(
            replace(r, writer={k: v for k, v in r.writer.items() if k not in dropped}) for r in c.rows)
        if differing or dropped:
            c = replace(c, rows=rows, payload="divergent" if differing else c.payload,
                        differing_columns=(*c.differing_columns, *differing))
        out.append(c)
    return out


def _hint(column: str) -> str | None:
    words = set(name_words(column)) | {column.lower()}
    for role, hints in HINTS.items():
        if words & hints or any(w.startswith(h) for w in words for h in hints if len(h) >= 4):
            return role
    return None


def _determines(clusters: Sequence[Cluster], fine: str, coarse: str) -> bool:
    """Whether each value of ``fine`` goes with one value of ``coarse`` in the cluster rows (and not the
    other way round): a process or run lives on one host."""
    pairs: dict[Any, set] = {}
    back: dict[Any, set] = {}
    for c in clusters:
        for r in c.rows:
            f, k = r.values.get(fine), r.values.get(coarse)
            pairs.setdefault(f, set()).add(k)
            back.setdefault(k, set()).add(f)
    return all(len(v) == 1 for v in pairs.values()) and any(len(v) > 1 for v in back.values())


def _stretches(p: Profile) -> bool:
    """Whether a column stays constant over stretches of insertion order (``MIN_STRETCH`` rows a value), as a
    run writing its batch under one id does."""
    return bool(p.changes) and p.rows / p.changes >= MIN_STRETCH


def _own_values(p: Profile) -> bool:
    """Whether each copy carries its own value in (nearly) every cluster (``SIGNATURE_SHARE``): writers writing
    at the same time interleave their rows, so their column changes as often as a shuffle, but every copy of a key
    is another writer's. A business column that changes as often (a currency every 1.5 rows) differs only between
    the copies that are a legit repeat of part of the key (a merchant paid in two currencies: 5 of 13 clusters of
    stranger23's ledger), and read as a run it had the text advise ``--writer run=currency``.

    >>> _own_values(Profile("currency", 60, 3, 40, 0.38, 0.38, 13)), _own_values(Profile("by", 120, 2, 120, 1, 1, 60))
    (False, True)
    """
    return p.own_share >= SIGNATURE_SHARE


def assign(profiles: Sequence[Profile], clusters: Sequence[Cluster], missing: set[str]) -> list[WriterColumn]:
    """Roles for the columns that look like writers, for the roles the names did not find: the copies differ in
    it in ``MIN_DIFFER_SHARE`` of the clusters, and it stays constant over stretches of insertion order
    (``_stretches``), changes clearly less often than a shuffle of its values (``steadier_than_shuffled``), or each
    copy carries its own value (``_own_values``); a column only the copies' writers determine (a host) needs the
    stretches. A column changing as a shuffle does and differing only on some copies is business data: on
    fresh-13 the own-value share alone turned down a harder table's 20 hosts (each copy its own host in 84% of the
    clusters, the rest one host's double runs) and 1,285 double runs became unknown."""
    few = [p for p in profiles if p.rows and p.distinct <= max(2, MAX_DISTINCT_SHARE * p.rows)
           and not STATE_WORDS & set(name_words(p.column))]
    writerish = [p for p in few if p.differ_share >= MIN_DIFFER_SHARE
                 and (_stretches(p) or p.steadier_than_shuffled() or _own_values(p))]
    # a column the copies never differ on (one host ran both runs) still shows itself: few values, long
    # constant stretches in insertion order, and a differing writer column determines it (pid → host)
    # (a column with one value around the clusters says nothing about who wrote them: a currency, a country)
    writerish += [p for p in few if p not in writerish and p.distinct >= 2 and _stretches(p)
                  and any(_determines(clusters, q.column, p.column) for q in writerish)]
    chosen: dict[str, WriterColumn] = {}

    def why(p: Profile, how: str) -> str:
        return (f"inferred from the data: {p.distinct} distinct values in {p.rows} rows {p.where()}, a change every "
                f"{p.rows / max(1, p.changes):.1f} rows in insertion order, copies differ in "
                f"{p.differ_share:.0%} of clusters; {how}")

    rest = []
    for p in writerish:
        values = {str(r.values.get(p.column)) for c in clusters for r in c.rows if r.values.get(p.column) is not None}
        if "version" in missing and "version" not in chosen and values and \
                sum(1 for v in values if VERSION.match(v)) >= 0.8 * len(values) and \
                not document_version(clusters, p.column):
            chosen["version"] = WriterColumn("version", p.column, why(p, "its values look like versions"))
        else:
            rest.append((p, values))
    hosts = [p for p, _ in rest if any(_determines(clusters, q.column, p.column) for q, _ in rest if q is not p)]
    for p, values in rest:
        hint = _hint(p.column)
        if p in hosts or (hint == "host" and not any(_determines(clusters, p.column, q.column) for q, _ in rest)):
            role, how = "host", ("the other writer columns determine it (each process or run on one host)"
                                 if p in hosts else f"its name hints at a host ({p.column!r})")
        elif values and all(NUMBER.match(v) for v in values):
            role, how = "process", "its values are numbers, like process ids"
        elif hint in ("run", "process"):
            role, how = hint, f"its name hints at a {hint} ({p.column!r})"
        else:
            role, how = "run", ("it stays constant over stretches of rows, as a run id does" if _stretches(p) else
                                "it changes from one row to the next less often than a shuffle of its values would "
                                "(its writers wrote at the same time)" if p.steadier_than_shuffled() else
                                f"each copy carries its own value in {p.own_share:.0%} of the clusters (its writers "
                                "wrote at the same time)")
        if role in missing and role not in chosen:
            chosen[role] = WriterColumn(role, p.column, why(p, how))
    return list(chosen.values())


def annotate(clusters: Sequence[Cluster], found: Sequence[WriterColumn]) -> list[Cluster]:
    """Add the data-found roles to each row's writer (the payload comparison is left as it was)."""
    if not found:
        return list(clusters)
    return [replace(c, rows=tuple(replace(r, writer={**r.writer, **{w.role: r.values.get(w.column) for w in found}})
                                  for r in c.rows)) for c in clusters]


@dataclass(frozen=True)
class Roles:
    writers: tuple[WriterColumn, ...]   # the table's writer columns, those found by name checked against the data
    rejected: tuple[WriterColumn, ...]  # columns a name proposed that the data shows to be business data
    found: tuple[WriterColumn, ...]     # roles read from the data alone, for attribution only


def assignable(clusters: Sequence[Cluster], columns: list[str]) -> list[str]:
    """The candidates ``assign`` can give a role, in their order: those the copies differ in (MIN_DIFFER_SHARE
    of the clusters) and those one of them determines in the cluster rows; ``assign`` takes no other, whatever
    the profile says, so the others are not profiled. Each profiled column costs the statement a count(DISTINCT)
    (a sort of every row around the clusters): a uuid-like idempotency key and a currency every copy repeats,
    on 8M rows of a wide payments table whose clusters span the whole table, made the statement 44 s instead
    of 25 s (EXPLAIN ANALYZE, one run each, load 3.5; stranger21)."""
    def differ_share(column: str) -> float:
        return sum(1 for c in clusters if len({str(r.values.get(column)) for r in c.rows}) > 1) / len(clusters)

    differ = [c for c in columns if differ_share(c) >= MIN_DIFFER_SHARE]
    return [c for c in columns if c in differ or any(_determines(clusters, q, c) for q in differ)]


def from_data(conn, info, spec, aware, clusters: Sequence[Cluster], writers: Sequence[WriterColumn],
              rows_per_us: float | None = None) -> Roles:
    """Check the writer columns found by their names against the data, and find the roles names did not
    (inference on, no --writer given), in one statement over the rows written around the clusters (some of
    them, on a dense table: ``profile_spans``)."""
    if not clusters:
        return Roles(tuple(writers), (), ())
    guessed = [w for w in writers if not w.trusted]
    rejected = {}
    for w in guessed:
        why = document_version(clusters, w.column) if w.role == "version" else None
        if why:
            rejected[w.column] = replace(w, reason=f"{w.reason}; not taken for a writer column: {why}")
    checked = [w.column for w in guessed if w.column not in rejected]
    missing = {"host", "process", "run", "version"} - {w.role for w in writers if w.column not in rejected}
    searched = []
    if not spec.writers and spec.infer_writers and missing:
        skip = set(spec.keys) | {spec.ts} | set(info.primary_key) | {w.column for w in writers} | set(spec.ignore)
        searched = assignable(clusters, candidates(clusters, info.column_names, skip,
                                                   {c.name: c.type for c in info.columns}))
    profiles = {p.column: p for p in profile(conn, info, spec, aware, clusters, [*checked, *searched], rows_per_us)} \
        if checked or searched else {}
    version = next((w.column for w in writers if w.role == "version" and w.column not in rejected), None)
    for w in guessed:
        p = profiles.get(w.column)
        if version is None or w.role not in ("run", "process") or p is None or _confirms(p) or _lockstep(p, w.role):
            continue
        why = work_id(clusters, w.column, version)
        if why:
            rejected[w.column] = replace(w, reason=f"{w.reason}; not taken for a writer column: {_seen(p)}, and {why}")
    return Roles(writers=tuple(_vetted(w, profiles.get(w.column)) for w in writers if w.column not in rejected),
                 rejected=tuple(rejected.values()),
                 found=tuple(assign([profiles[c] for c in searched], clusters, missing)) if searched else ())
