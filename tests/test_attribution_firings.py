"""Schedulers firing one job together against a pool racing on claims, and the data-found writer columns.

A scheduler started in each of four gunicorn workers fires the hourly job four times at once; a worker whose
check came after another's commit writes nothing that hour, so the hours hold 2 to 4 copies of each key
(stranger22). The copy counts vary from one firing to the next, never key by key within one firing, where a
pool whose workers all take the oldest pending item writes each key as often as it was read before the first
marked it done. The real processes are tests/test_stranger22_gunicorn_scheduler.py; these are the readings.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.attribution import roles, timing
from dupfinder.cluster import Cluster, ClusterRow

HOUR_US = 2_000_000


def _key(n: int, writers: str, t0: int, step_us: int = 1_500, offset_us: int = 12_000) -> Cluster:
    """One key written once by each of ``writers`` (pids on one host), walking the batch ``offset_us`` apart."""
    rows = tuple(ClusterRow({"id": 100 * n + i}, "", t0 + i * offset_us, {"host": "web-1", "process": w}, i == 0,
                            {"amount": 1}) for i, w in enumerate(writers))
    gaps = tuple((b.ts_us - a.ts_us) / 1e6 for a, b in zip(rows, rows[1:], strict=False))
    return Cluster({"account": n}, rows, (rows[-1].ts_us - rows[0].ts_us) / 1e6, "identical", (), gaps)


def _firings(sets: list[str], keys: int = 10) -> list[Cluster]:
    """Each firing (an hour apart) walks ``keys`` keys, every key written by the firing's set of processes."""
    return [_key(h * keys + k, writers, h * HOUR_US + k * 1_500) for h, writers in enumerate(sets)
            for k in range(keys)]


def test_copy_counts_that_vary_between_firings_only_are_no_pool():
    """Four schedulers, four hours: 4, 2, 3 and 4 copies of every key of an hour. Read as a pool's varying copies
    (+4.1 for worker_race, and the coverage 'every process wrote every key' left unread) it was named worker_race;
    a cluster whose first two writers no other cluster shares (pair_clusters 1) was worker_race at 0.91 even with
    the coverage read (one run of tests/test_stranger22_gunicorn_scheduler.py)."""
    from dupfinder.attribution import model
    from dupfinder.attribution.observe import Observation

    clusters = _firings(["1234", "12", "123", "1234"])
    reading = timing.copies(clusters)
    assert reading is not None and reading.value == "per firing", reading
    assert "written 2 to 4 times" in reading.words and "(4, 2, 3 and 4 copies a key)" in reading.words, reading.words
    # every scheduler writing every hour (the counts never vary): the same runs
    steady = timing.copies(_firings(["1234"] * 4))
    assert steady is not None and steady.value == "per firing", steady
    # what the stranger's clusters read beside it (host and pid given): duplicate_run, not a race to make atomic
    seen = {"host": "same", "process": "differ", "commit": "overlapped", "gap": "<50ms", "coverage": "all/all",
            "pair_clusters": "1", "pace": "after"}
    verdict = model.decide([Observation(f, v, "") for f, v in {**seen, "copies": "per firing"}.items()], "explicit",
                           {"host", "process"})
    assert verdict.mechanism == "duplicate_run", verdict.posterior


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["12", "123", "1234", "134", "24", "1234"]), min_size=12, max_size=40))
def test_copy_counts_varying_key_by_key_in_one_stretch_are_still_a_pool(sets):
    """A pool of four taking the oldest pending item: the keys follow each other within one stretch of work
    (their copies interleave), each key written by whichever workers read it before the first marked it done."""
    clusters = [_key(n, writers, n * 1_500) for n, writers in enumerate(sets)]
    counts = [len(w) for w in sets]
    varying = sum(n > 2 for n in counts) >= timing.MANY_COPIES * len(counts) and \
        max(counts.count(n) for n in set(counts)) < 0.9 * len(counts)
    steady = max(sets.count(s) for s in set(sets)) >= timing.FIRING_SHARE * len(sets)
    reading = timing.copies(clusters)
    assert (reading is not None and reading.value == "varying") == (varying and not steady), sets
    assert reading is None or reading.value == "varying" or steady, (sets, reading)


def test_a_batch_written_four_times_is_not_said_written_twice():
    """stranger22: 'all 321 keys written in the span were written twice: a batch written twice' of keys every
    one of four workers wrote."""
    clusters = _firings(["1234"], keys=25)
    (episode,) = timing.episodes(clusters, [None] * len(clusters), 60_000_000)
    episode = replace(episode, span_shared=1.0)
    said = {o.feature: o.words for o in timing.observe(clusters[0], episode, 0, False)}
    assert "written 4 times: a batch written 4 times" in said["whole_batch"], said
    assert "twice" not in said["whole_batch"]
    mixed = _firings(["1234", "12"], keys=25)
    (episode,) = timing.episodes(mixed, [None] * len(mixed), 60_000_000)
    said = {o.feature: o.words for o in timing.observe(mixed[0], replace(episode, span_shared=1.0), 0, False)}
    assert "written 2 to 4 times" in said["whole_batch"], said


def test_a_business_column_changing_as_often_as_a_shuffle_is_no_writer():
    """stranger23's ledger on (payout_batch, merchant_id): 'currency' (3 values, a change every 1.5 rows) differs
    only between the copies that are one merchant paid in two currencies (5 of 13 clusters). It was read as a run
    ('it takes few values and the copies differ in it') and the text advised --writer run=currency, which would
    hide a business difference from cleanup. Two schedulers writing at once interleave as often, but each copy
    carries its own value in every cluster: still a writer."""
    def cluster(n: int, currencies: tuple[str, ...], by: tuple[str, ...]) -> Cluster:
        rows = tuple(ClusterRow({"id": 10 * n + i}, "", 1_000_000 * n + i, {}, i == 0, {"currency": c, "emitted_by": b})
                     for i, (c, b) in enumerate(zip(currencies, by, strict=True)))
        return Cluster({"m": n}, rows, 0.0, "divergent", (), (0.0,))

    ledger = [cluster(n, ("EUR", "USD") if n < 5 else ("GBP", "GBP"), ("a", "b")) for n in range(13)]
    currency = roles.Profile("currency", 60, 3, 40, 5 / 13, 5 / 13, 13)
    emitted_by = roles.Profile("emitted_by", 60, 2, 60, 1.0, 1.0, 13)
    found = {w.column: w for w in roles.assign([currency, emitted_by], ledger, {"host", "process", "run", "version"})}
    assert "currency" not in found, found
    assert found["emitted_by"].role == "run" and "each copy carries its own value in 100%" in found["emitted_by"].reason
    # constant over stretches (a run id writing its batch): a writer whatever the share of clusters
    steady = roles.Profile("currency", 60, 3, 6, 5 / 13, 5 / 13, 13)
    assert [w.column for w in roles.assign([steady], ledger, {"run"})] == ["currency"]
