"""Evidence from transactions, heap blocks and ids: what the rows carry about their writers (PostgreSQL).

- ``xmin``: rows inserted by one transaction share it, so a batch written in one transaction per run
  names its run.
- Heap blocks (``ctid``): a backend keeps filling the block it inserted into last, so two sessions writing
  at once mostly land in different blocks. Copies of one key in different blocks were written by different
  sessions; copies in one block, most likely by the same session. Across a batch, the blocks of the
  copies falling into two classes (a two-colouring of the graph "these two blocks hold copies of one key")
  is two writers each writing the whole batch; odd cycles in that graph mean more than two writers.
- Ids: a sequence hands out values in call order, so two sessions inserting at the same time interleave
  their ids, and two runs one after the other do not.
- The order of the keys: where the heap does not tell two sessions apart (both filled the same blocks, each
  row its own transaction), two writers walking one sorted list (the oldest pending first, ``ORDER BY id``)
  still show themselves: their copies, in the order they were written, split into two walks through the keys
  in that order and no fewer. A pool of more workers collides three ways or out of order.
- Commit timestamps (``track_commit_timestamp = on``): a copy written before the other copy's transaction
  committed means the two transactions overlapped: a race, not a retry, unless the later copy came well after
  the first and committed before it (overtaken): a second attempt while the first still held its transaction.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..cluster import Cluster, ctid_parts
from .observe import Observation
from .timing import FIXED_GAP_FROM

CONFLICT_TOLERANCE = 0.1  # share of block edges allowed to break the two-colouring (blocks both sessions touched)
SEVERAL_WRITERS = 0.2     # above this share of odd-cycle edges, more than two sessions wrote the copies
CLOCK_SLACK_US = 1_000_000  # a row may carry a timestamp up to 1 s after its own commit (clock granularity)
COMPARABLE_US = 6 * 3600 * 1_000_000  # commits hours after the row's time: the column is not the DB clock
# Clusters before the order of their keys says who wrote them: the copies of five keys written one key after
# the other come in key order (either way) by chance once in 60 orders
ORDERED_KEYS = 5


@dataclass(frozen=True)
class Writers:
    """Who wrote a group of clusters, as far as transactions and heap blocks tell."""

    count: int | None        # 2: a stable pair; 3: more than two; None: cannot tell
    basis: str               # "transactions", "heap blocks" or ""
    interleaved: bool | None  # ids of the two writers interleave (they inserted at the same time)
    labels: tuple[str, ...] = ()  # the two writers, in words

    def describe(self) -> str:
        """The writers in words: which copies each wrote, not how much of the batch (two sessions colliding on a
        few claims split the copies in two as well as two runs writing the whole batch do)."""
        if self.count == 2:
            text = f"two writers ({' and '.join(self.labels)}, told apart by {self.basis}) wrote the copies"
            if self.interleaved is not None:
                text += ", their ids interleaving: at the same time" if self.interleaved else \
                    ", one after the other (ids do not interleave)"
            return text
        if self.count == 3:
            return f"more than two writers ({self.basis} of the copies do not split into two sets)"
        return ""


UNKNOWN = Writers(count=None, basis="", interleaved=None)


def block(ctid: str | None) -> int | None:
    """The heap block of a ``ctid`` read as text.

    >>> block("(12,5)"), block(None)
    (12, None)
    """
    parts = ctid_parts(ctid)
    return None if parts is None else parts[0]


def session(cluster: Cluster) -> str | None:
    """'same' when every copy sits in one heap block (one backend, most likely), 'different' when not."""
    blocks = {block(r.ctid) for r in cluster.rows}
    if None in blocks:
        return None
    return "same" if len(blocks) == 1 else "different"


def commit_order(cluster: Cluster, pause_us: int) -> str | None:
    """'overlapped' when a copy was written before the previous copy's transaction committed;
    'overtaken' when, besides, that copy came at least FIXED_GAP_FROM after the previous one (more than one
    claim's milliseconds) and its transaction committed first: a second attempt at the key, begun and finished
    while the first still held its transaction; 'sequential' when every copy came at least ``pause_us`` after
    the previous one committed.

    Only rows whose timestamps agree with their own commit (not after it, not hours before it) count: a
    timestamp set by an application clock, or loaded from elsewhere, cannot be compared with the server's.
    """
    verdicts = []
    for a, b in zip(cluster.rows, cluster.rows[1:], strict=False):
        if a.xmin is None or a.xmin == b.xmin or not (_comparable(a) and _comparable(b)):
            return None
        if b.ts_us < a.committed_us:
            late = b.ts_us - a.ts_us >= FIXED_GAP_FROM * 1e6 and b.committed_us < a.committed_us
            verdicts.append("overtaken" if late else "overlapped")
        elif b.ts_us - a.committed_us >= pause_us:
            verdicts.append("sequential")
        else:
            return None
    for found in ("overtaken", "overlapped"):
        if found in verdicts:
            return found
    return "sequential" if verdicts else None


def _comparable(row) -> bool:
    if row.committed_us is None:
        return False
    lag = row.committed_us - row.ts_us
    return -CLOCK_SLACK_US <= lag <= COMPARABLE_US


def comparable_share(clusters: Sequence[Cluster]) -> float | None:
    """Share of rows with a commit timestamp that agrees with their timestamp column (None: none read)."""
    read = [r for c in clusters for r in c.rows if r.committed_us is not None]
    return sum(1 for r in read if _comparable(r)) / len(read) if read else None


def writers(clusters: Sequence[Cluster], xmin_trusted: bool) -> Writers:
    """The writers of a group of clusters from transactions first, heap blocks second."""
    if len(clusters) < 3:
        return UNKNOWN
    by_xmin = _by_transactions(clusters) if xmin_trusted else None
    return by_xmin or _by_heap(clusters)


def _by_transactions(clusters: Sequence[Cluster]) -> Writers | None:
    pairs = Counter(frozenset(r.xmin for r in c.rows) for c in clusters)
    if any(None in p for p in pairs):
        return None
    (top, count), = pairs.most_common(1)
    if len(top) != 2 or count / len(clusters) < 0.8:
        return None
    first, second = sorted(top, key=lambda x: _first_ts(clusters, x))
    classes = {first: 0, second: 1}
    return Writers(count=2, basis="transactions", interleaved=_interleaved(clusters, lambda r: classes.get(r.xmin)),
                   labels=(f"transaction {first}", f"transaction {second}"))


def _first_ts(clusters: Sequence[Cluster], xmin: str) -> int:
    return min(r.ts_us for c in clusters for r in c.rows if r.xmin == xmin)


def _by_heap(clusters: Sequence[Cluster]) -> Writers:
    edges = []
    for c in clusters:
        blocks = [block(r.ctid) for r in c.rows]
        if None in blocks:
            return UNKNOWN
        edges.extend((a, b) for a, b in zip(blocks, blocks[1:], strict=False) if a != b)
    if len(edges) < 3:
        return UNKNOWN
    colour = _two_colour(edges)
    broken = sum(1 for a, b in edges if colour[a] == colour[b]) / len(edges)
    components = len({root for root, _ in colour.values()})
    if broken > SEVERAL_WRITERS:
        return Writers(count=3, basis="heap blocks", interleaved=None)
    if broken > CONFLICT_TOLERANCE or components > 1:
        return UNKNOWN

    def side(row) -> int | None:
        found = colour.get(block(row.ctid))
        return None if found is None else found[1]

    return Writers(count=2, basis="heap blocks", interleaved=_interleaved(clusters, side),
                   labels=("the sessions writing first", "the sessions writing second"))


def _two_colour(edges: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Colour blocks by breadth-first search: block → (component root, 0 or 1). Conflicts are left for the
    caller to count: a block both sessions wrote into breaks the colouring on a few edges."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    colour: dict[int, tuple[int, int]] = {}
    for root in sorted(neighbours):
        if root in colour:
            continue
        colour[root] = (root, 0)
        queue = [root]
        while queue:
            node = queue.pop()
            for nxt in neighbours[node]:
                if nxt not in colour:
                    colour[nxt] = (root, 1 - colour[node][1])
                    queue.append(nxt)
    return colour


def _interleaved(clusters: Sequence[Cluster], side) -> bool | None:
    """Whether the integer ids written by the two sides overlap in range (None: ids are not integers)."""
    ids: dict[int, list[int]] = {0: [], 1: []}
    for c in clusters:
        for r in c.rows:
            values = list(r.pk.values())
            s = side(r)
            if len(values) != 1 or not isinstance(values[0], int) or s is None:
                return None
            ids[s].append(values[0])
    if not ids[0] or not ids[1]:
        return None
    return max(min(ids[0]), min(ids[1])) < min(max(ids[0]), max(ids[1]))


def walkers(clusters: Sequence[Cluster]) -> Writers:
    """Two writers walking the keys in one sorted order, where nothing else tells the writers apart.

    Each writer writes a key once and takes the keys in order (two runs of ``ORDER BY id``, two schedulers each
    taking the oldest pending invoice), so the copies, in the order they were written, split into two walks
    through the keys; copies of one key need two. Any fewer walks cannot write a key twice; more are a pool of
    more workers (a key written three times) or writers not walking in order (a pool picking at random among
    the open jobs). Copies sharing a transaction id are one session's (same_transaction). The copies of a key
    must have been written together (a claim's milliseconds): one session whose messages come back a timeout
    later, while it goes on with the next ones, leaves its late copies as a second walk too (a test's consumer,
    every fourth message redelivered 0.3 s later: 12 retries read as a job run twice). Only timestamps that
    order the rows count: two copies of different keys written in the same microsecond (or the same whole
    second) leave the order, and the reading, open.

    >>> from dupfinder.cluster import ClusterRow
    >>> def c(k, *ts): return Cluster({"k": k}, tuple(ClusterRow({}, "", t, {}, False, {}) for t in ts), 0, "", (), ())
    >>> pairs = [c(k, 10 * k, 10 * k + 3) for k in range(1, 6)]
    >>> walkers(pairs).count, walkers(pairs[::-1]).count, walkers([c(1, 1, 2, 3), *pairs[1:]]).count
    (2, 2, None)
    >>> walkers([c(9, 0, 1), *pairs[1:]]).count  # key 9 before keys 2 to 5: neither order
    """
    if len(clusters) < ORDERED_KEYS or any(_one_transaction(c) for c in clusters) or not _together(clusters):
        return UNKNOWN
    written = sorted((r.ts_us, tuple(c.key.values())) for c in clusters for r in c.rows)
    if any(a[0] == b[0] and a[1] != b[1] for a, b in zip(written, written[1:], strict=False)):
        return UNKNOWN
    keys = [k for _, k in written]
    try:
        walks = min(_longest_rise(keys[::-1]), _longest_rise(keys))  # walked upwards, or downwards
    except TypeError:  # keys of kinds that do not compare: no order to walk
        return UNKNOWN
    if walks != 2:
        return UNKNOWN
    return Writers(count=2, basis="the order of the keys", interleaved=None)


def _together(clusters: Sequence[Cluster]) -> bool:
    """Whether the copies of most keys were written within one claim of each other: closer than the shortest
    delay a clock sets (timing.FIXED_GAP_FROM), as two writers reading the same next key at once write them.

    >>> def c(gap): return Cluster({}, (), 0, "", (), (gap,))
    >>> _together([c(0.002), c(0.004), c(0.3)]), _together([c(0.3), c(0.31), c(0.002)])
    (True, False)
    """
    return statistics.median(max(c.gaps_seconds, default=0.0) for c in clusters) < FIXED_GAP_FROM


def _one_transaction(cluster: Cluster) -> bool:
    """Whether two copies share a transaction id: one session wrote them (a key inserted twice), not two walks."""
    xmins = [r.xmin for r in cluster.rows if r.xmin is not None]
    return len(set(xmins)) < len(xmins)


def _longest_rise(keys: Sequence) -> int:
    """The longest run of ``keys`` (in their order, not necessarily adjacent) that never falls: read backwards,
    the fewest walks upward through the keys that write them in this order (Dilworth).

    >>> _longest_rise([1, 1, 2, 3, 3]), _longest_rise([2, 2, 1, 1]), _longest_rise([3, 1, 2, 2])
    (5, 2, 3)
    """
    tails: list = []  # tails[n]: the smallest last key of a run of n + 1 keys
    for key in keys:
        at = bisect.bisect_right(tails, key)
        tails[at:at + 1] = [key]
    return len(tails)


def session_pair(found: Writers, clusters: Sequence[Cluster], span_shared: float | None,
                 least: float) -> list[Observation]:
    """Two sessions each wrote again much of what the other wrote: both ran the job, the anonymous twin of
    timing.host_pair. The two are what transactions or heap blocks told apart (``found``), else, where those
    tell nobody apart, the two walks through the keys the copies split into (walkers; heap blocks showing more
    than two sessions are not overruled). With exactly two writers of the copies, the share of the span's rows
    whose key was written more than once is each one's share written again by the other (diluted, never raised,
    by other jobs' rows in the span). Two scheduler processes firing one check-then-act job together collide on
    25-98% of their claims; a pool of more than two workers shows more than two sessions. ``few``: two writers
    each writing again less than that, from the key order (``_few``): two runs whose claims collided now and
    then, or a pool of exactly two workers (model.POOLED_FEW_COLLISIONS). Read once per episode (the key order of
    a big episode costs a sort of its copies: 0.1 s CPU for 50,000 clusters).

    >>> two = Writers(count=2, basis="heap blocks", interleaved=True)
    >>> [o.value for o in session_pair(two, (), 0.4, 0.15)], session_pair(two, (), 0.1, 0.15)
    (['most'], [])
    >>> session_pair(UNKNOWN, (), 0.4, 0.15), session_pair(Writers(3, "heap blocks", None), (), 0.4, 0.15)
    ([], [])
    >>> from dupfinder.cluster import ClusterRow
    >>> def c(k): return Cluster({"k": k}, (ClusterRow({}, "", 10 * k, {}, False, {}),) * 2, 0, "", (), ())
    >>> session_pair(UNKNOWN, [c(k) for k in range(5)], 0.4, 0.15)[0].words[:62]
    'two writers (their copies split into two walks through the key'
    >>> [o.value for o in session_pair(two, [c(k) for k in range(5)], 0.1, 0.15)]
    ['few']
    """
    if span_shared is None:
        return []
    if span_shared < least:
        return _few(found, clusters, span_shared)
    writers = found if found.count is not None else walkers(clusters)
    if writers.count != 2:
        return []
    told = ("their copies split into two walks through the keys in order, and no fewer"
            if writers.basis == "the order of the keys" else f"told apart by {writers.basis}")
    return [Observation("session_pair", "most", f"two writers ({told}) each wrote again about {span_shared:.0%} of "
                        "what the other wrote then (the share of the rows written then whose key was written twice): "
                        "both ran the job")]


def _few(found: Writers, clusters: Sequence[Cluster], span_shared: float) -> list[Observation]:
    """session_pair's ``few``, read from the order of the keys alone: two sessions found by heap blocks among a
    handful of clusters were a pool of five threads picking jobs at random (tests/test_anonymous.py, 6 clusters),
    while two walks through the keys in order are what two runs of one check-then-act job, or a pool of exactly
    two taking the oldest item, leave; more sessions in the heap are a pool."""
    if found.count is not None and found.count != 2 or walkers(clusters).count != 2:
        return []
    return [Observation("session_pair", "few", "two writers (their copies split into two walks through the keys "
                        f"in order, and no fewer) each wrote again about {span_shared:.0%} of what the other wrote "
                        "then: two runs colliding on a few claims, or a pool of two")]


def observe(cluster: Cluster, xmin_trusted: bool, pause_us: int, group_writers: Writers,
            batch_pair: bool | None) -> list[Observation]:
    """Transaction evidence of one cluster: one transaction or several, whether they overlapped, whether
    each copy's transaction wrote a batch, and (without writer columns) how many sessions the heap shows."""
    found: list[Observation] = []
    xmins = [r.xmin for r in cluster.rows]
    if xmin_trusted and None not in xmins:
        if len(set(xmins)) == 1:
            found.append(Observation("xmin", "same", f"all {len(xmins)} rows carry xmin {xmins[0]}: one transaction"))
        else:
            found.append(Observation("xmin", "differ", "the copies were inserted by different transactions"))
    order = commit_order(cluster, pause_us)
    if order == "overlapped":
        found.append(Observation("commit", "overlapped", "a copy was written before the previous copy's "
                                 "transaction committed: the transactions overlapped"))
    elif order == "overtaken":
        found.append(Observation("commit", "overtaken", "a copy was written and committed while the previous "
                                 "copy's transaction, open since before it, still had not committed: the "
                                 "transactions overlapped and the later one finished first"))
    elif order == "sequential":
        found.append(Observation("commit", "sequential", "each copy was written after the previous copy's "
                                 "transaction had committed"))
    if batch_pair is not None:
        found.append(Observation("txn", "batch" if batch_pair else "single",
                                 "each copy's transaction wrote a batch of rows" if batch_pair else
                                 "each copy was its own small transaction"))
    if group_writers.count == 2:
        found.append(Observation("heap_writers", "two", group_writers.describe()))
    elif group_writers.count == 3:
        found.append(Observation("heap_writers", "several", group_writers.describe()))
    return found
