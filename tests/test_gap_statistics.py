"""The incident-wide gap statistics of the attribution (alike gaps, the offsets reading) give the same answers
as the plain per-cluster loops they replaced, which compared every cluster with its whole episode."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder import api
from dupfinder.attribution import _gap_counts, timing, writercols
from dupfinder.attribution.observe import Observation
from dupfinder.cluster import Cluster
from dupfinder.config import ScanOptions, table_spec
from dupfinder.durations import format_seconds
from sample_data import harder, labelled


def reference_alike(gaps: list[float], episode_of: list[tuple[int, ...]]) -> list[int]:
    """The quadratic original: for each cluster, the gaps of the table within [0.9 g, 1.1 g], less the gaps of
    its own episode with |x - g| <= 0.1 g."""
    out = []
    for i, g in enumerate(gaps):
        table = sum(1 for x in gaps if g * 0.9 <= x <= g * 1.1)
        same = sum(1 for j in episode_of[i] if abs(gaps[j] - g) <= 0.1 * g)
        out.append(table - same)
    return out


def reference_offsets(episode: timing.Episode, members: list[Cluster]) -> Observation | None:
    """The original reading, as it was made for each cluster of the episode."""
    offsets = episode.offsets if episode.pair is not None else tuple(
        max(c.gaps_seconds, default=0.0) for c in members)
    if len(offsets) < 3:
        return None
    med = statistics.median(offsets)
    # every offset but the median one (an odd number of them): its distance of 0 is no reading (b63dd15)
    ordered = sorted(offsets)
    others = ordered[:len(ordered) // 2] + ordered[len(ordered) // 2 + 1:] if len(ordered) % 2 else ordered
    spread = statistics.median(abs(o - med) for o in others)
    constant = spread <= 0.1 * abs(med) + 0.0005
    return Observation(
        "offsets" if episode.pair is not None else "span_offsets", "constant" if constant else "varying",
        f"the second copy follows the first by a {'constant' if constant else 'varying'} offset "
        f"(median {format_seconds(abs(med))}, spread {format_seconds(spread)}, {len(offsets)} clusters)")


def _cluster(gap: float | None) -> Cluster:
    return Cluster(key={}, rows=(), span_seconds=gap or 0.0, payload="identical", differing_columns=(),
                   gaps_seconds=() if gap is None else (gap,))


def _near(value: float) -> list[float]:
    """A gap and the values that sit on the 10% bounds of it (and one float either side of them)."""
    edges = [value, value * 0.9, value * 1.1, value / 0.9, value / 1.1]
    return [x for e in edges for x in (e, math.nextafter(e, 0.0), math.nextafter(e, math.inf)) if x >= 0]


# gaps as attribution sees them: non-negative seconds, many ties (whole-second and millisecond columns), and
# values on the 10% bounds of each other, where 0.9 g and |x - g| <= 0.1 g part in the last bit
BASES = [0.0, 0.001, 0.3, 0.5, 1.0, 2.0, 2.5, 3.0, 30.0, 1e-7]
GAP = st.one_of(st.sampled_from([x for b in BASES for x in _near(b)]),
                st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False))


@st.composite
def gaps_and_episodes(draw, max_size: int = 60):
    gaps = draw(st.lists(GAP, min_size=1, max_size=max_size))
    labels = draw(st.lists(st.integers(0, draw(st.integers(0, 5))), min_size=len(gaps), max_size=len(gaps)))
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return gaps, list(groups.values())


def _episode_of(n: int, groups: list[list[int]]) -> list[tuple[int, ...]]:
    of: list[tuple[int, ...]] = [()] * n
    for members in groups:
        for i in members:
            of[i] = tuple(members)
    return of


@settings(max_examples=400, deadline=None)
@given(gaps_and_episodes())
def test_alike_counts_match_the_quadratic_original(case):
    gaps, groups = case
    assert timing.gap_counts(gaps, groups)[0] == reference_alike(gaps, _episode_of(len(gaps), groups))


@settings(max_examples=200, deadline=None)
@given(st.lists(GAP, min_size=1, max_size=1))
def test_a_single_cluster_incident_has_no_alike_gap(gaps):
    assert timing.gap_counts(gaps, [[0]])[0] == reference_alike(gaps, [(0,)]) == [0]


@pytest.mark.parametrize("values", [[1.0], [0.3, 0.33], [0.0], [2.0, 2.2, 1.8, 2.0]], ids=str)
def test_a_huge_incident_of_equal_and_bound_gaps(values):
    """3,000 clusters in one episode and 500 in others, every gap one of a few values (ties everywhere)."""
    gaps = [values[i % len(values)] for i in range(3500)]
    groups = [list(range(3000)), *[list(range(s, s + 50)) for s in range(3000, 3500, 50)]]
    assert timing.gap_counts(gaps, groups)[0] == reference_alike(gaps, _episode_of(len(gaps), groups))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), GAP), min_size=1, max_size=80),
       st.lists(st.floats(min_value=-60.0, max_value=60.0, allow_nan=False), max_size=80))
def test_offsets_reading_once_per_episode_matches_the_reading_per_cluster(member_gaps, offsets):
    members = [_cluster(g) for g in member_gaps]
    unpaired = timing.Episode(pair=None, members=tuple(range(len(members))), start_us=0, end_us=1)
    paired = timing.Episode(pair=(("host", "a"), ("host", "b")), members=tuple(range(len(members))), start_us=0,
                            end_us=1, offsets=tuple(offsets))
    for episode in (unpaired, paired):
        assert timing.spread(episode, members) == reference_offsets(episode, members)


def _scanned(tmp_path, lab: labelled.Labelled, explicit: bool):
    url = f"sqlite:///{tmp_path / (lab.table + ('_w' if explicit else '_n'))}.db"
    labelled.write(url, lab)
    spec = table_spec(table=lab.table, keys=list(lab.keys), ts=lab.ts, window=lab.window,
                      writers=[f"{role}={column}" for role, column in lab.writers.items()] if explicit else [],
                      infer_writers=explicit)
    return api.scan(ScanOptions(url=url, tables=(spec,))).tables[0]


@pytest.mark.parametrize("seed", [9101, 311])
@pytest.mark.parametrize("explicit", [True, False], ids=["writer-columns", "none"])
def test_realistic_incidents_read_the_same_gap_statistics(tmp_path, seed, explicit):
    """Tables of the labelled generators (batches written twice, pools, redeliveries, decoys): the episodes the
    attribution forms give the same alike counts and offsets readings as the original loops, and the scan
    recorded exactly those readings."""
    lab = harder.generate(seed, scale=0.3) if seed > 9000 else labelled.generate(seed, with_xmin=False)
    table = _scanned(tmp_path, lab, explicit)
    clusters = list(table.clusters)
    assert len(clusters) >= 20
    pairs = [writercols.pair(c) if table.writers else None for c in clusters]
    eps = timing.episodes(clusters, pairs, int(table.spec.incident_gap * 1e6))
    assert max(e.size for e in eps) >= 5  # incidents with many clusters, not only single ones
    of = _episode_of(len(clusters), [list(e.members) for e in eps])
    gaps = [max(c.gaps_seconds, default=0.0) for c in clusters]
    expected = reference_alike(gaps, of)
    assert _gap_counts(clusters, eps)[0] == expected
    whole = table.signals["whole_second_timestamps_share"] >= 0.9
    for e in eps:
        members = [clusters[i] for i in e.members]
        reading = reference_offsets(e, members)
        assert timing.spread(e, members) == reading
        for i in e.members:
            seen = clusters[i].evidence["observations"]
            if reading is not None:
                assert seen[reading.feature] == reading.value
            if gaps[i] >= 0.25 and not whole:
                assert seen["repeat"] == ("fixed" if expected[i] >= 2 else "single")
