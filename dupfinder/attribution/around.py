"""Timing evidence without writer columns: a cluster's gap against the gaps of the clusters written just
before and after it, and which way it differs.

The keys of a batch written twice share one offset between the copies, so a cluster of that batch has the
gap of its neighbours. A race or a redelivery amid that batch does not; a race's copies come milliseconds
apart, far closer than a second run seconds behind the first, so its gap is much *shorter* than theirs. A
batch whose second run walks the keys in another order has gaps that scatter both ways around their median.
Read as one of five values (same, shorter, longer, other; scattered when the neighbours' gaps disagree among
themselves) rather than "matches or not": a reordered batch scatters its gaps, and a short gap there says
nothing, while a short gap among neighbours that agree is a race amid a batch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..durations import format_seconds
from .observe import Observation

AROUND = 3          # clusters each side whose gaps are compared
SAME_SHARE = 0.1    # within 10% (+ SAME_SLACK_US) of the neighbours' median: the same gap
SAME_SLACK_US = 500
FACTOR = 2.0        # under half the median: shorter; over twice: longer


def compare(clusters: Sequence[Sequence[int]]) -> list[tuple[str, int] | None]:
    """For each cluster (its copies' timestamps in µs, in order): 'same', 'shorter', 'longer' or 'other'
    against the median gap of the ``AROUND`` clusters written before and after it, or 'scattered' when their
    gaps disagree (median deviation over 10%), with that median (None: fewer than two neighbours).

    >>> batch = [[0, 3000], [10, 3010], [20, 3020], [30, 31], [40, 3040], [50, 3050], [60, 3060]]
    >>> compare(batch)[2:4], compare([[0, 100], [10, 5000], [20, 2020], [30, 830]])[0]
    ([('same', 3000), ('shorter', 3000)], ('scattered', 2000))
    """
    order = sorted(range(len(clusters)), key=lambda i: clusters[i][0])
    gaps = {i: clusters[i][-1] - clusters[i][0] for i in order}
    out: list[tuple[str, int] | None] = [None] * len(clusters)
    for n, i in enumerate(order):
        near = [gaps[j] for j in order[max(0, n - AROUND):n] + order[n + 1:n + 1 + AROUND]]
        if len(near) < 2:
            continue
        med = statistics.median(near)
        gap = gaps[i]
        if statistics.median(abs(g - med) for g in near) > SAME_SHARE * med + SAME_SLACK_US:
            way = "scattered"  # the neighbours disagree among themselves: nothing to hold the gap against
        elif abs(gap - med) <= SAME_SHARE * med + SAME_SLACK_US:
            way = "same"
        elif gap * FACTOR < med:
            way = "shorter"
        elif gap > FACTOR * med:
            way = "longer"
        else:
            way = "other"
        out[i] = (way, int(med))
    return out


WORDS = {"same": "the clusters written just before and after it have the same gap",
         "shorter": "the clusters written just before and after it have gaps over twice as long",
         "longer": "the clusters written just before and after it have gaps under half as long",
         "other": "the clusters written just before and after it have other gaps (within a factor of two)",
         "scattered": "the clusters written just before and after it have gaps that scatter"}


def observe(found: tuple[str, int] | None, amid_batch: bool) -> list[Observation]:
    """The gap against the neighbours' of one cluster (nothing when it has too few neighbours).

    ``amid_batch``: most keys written around the copies were written twice, or the copies interleave with
    those of many other keys (timing's neighbourhood and chain). The reading is measured apart there
    (``around``) and elsewhere (``around_apart``): what a short gap says depends on it, and the
    neighbourhood is already read by ``gap_local``. Measured as one table, a race's short gap amid a batch
    was diluted by the pools, where races are neighbours of races (tuning set: 7 of 25 races amid a batch
    had a gap under half their neighbours', 13 of 791 elsewhere), and races amid batches of the validation
    set were left ``unknown``. Elsewhere only same or not is read (``around_apart``).
    """
    if found is None:
        return []
    way, median_us = found
    said = f"{WORDS[way]} (median {format_seconds(median_us / 1e6)})"
    if amid_batch:
        return [Observation("around", way, said)]
    # elsewhere only whether the gap is its neighbours': which way it differs favoured retries over races
    # whose neighbours are races a few ms apart (a real pool, tests/real), on 157 tuning retries
    return [Observation("around_apart", "same" if way == "same" else "differs", said)]
