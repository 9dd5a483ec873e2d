"""The words of the attribution, as properties: an explanation never asks for evidence the scan already
had, never holds an empty name and never contradicts the observations it was built from. Hypothesis draws
the observations from the model's own value spaces, the writers of the copies, the roles the table records
and the evidence in hand; the sentence is what ``cluster_sentence`` writes from them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.attribution import model, writercols
from dupfinder.attribution.explain import cluster_sentence
from dupfinder.attribution.observe import Observation
from dupfinder.cluster import Cluster, ClusterRow

# what a sentence says when it asks for a piece of evidence (model.settling_signal's terms)
ASKS = {"host": r"\ba host\b|--writer host=", "process": r"\ba process\b|process column|--writer process=",
        "version": r"version column|--writer version=", "commit": r"track_commit_timestamp",
        "xmin": r"\(xmin\b", "runs": r"--runs\b"}
EMPTY_NAME = ("  ", "()", " ,", " and ;", ";;", ": ;")
ROLE_WORDS = {"host": ("host", "hosts"), "process": ("process", "processes"), "run": ("run", "runs"),
              "version": ("version", "versions")}
TIMING = {f: sorted({v for per in model.MEASURED.get(f, {}).values() for v in per})
          for f in ("coverage", "span_coverage", "gap", "gap_local", "fits", "offsets", "span_offsets", "order",
                    "pace", "pair_clusters", "repeat", "txn")}
REASONED = {f: sorted(model.REASONED[f]) for f in ("xmin", "commit", "runs", "whole_batch", "heap_writers")}
names = st.sampled_from(["etl-01", "etl-02", "4711", "5210", "1.4.2", "1.5.0", None, ""])


@st.composite
def scenes(draw):
    """(cluster, roles, observations, have): two copies whose writers name the recorded roles."""
    roles = draw(st.sets(st.sampled_from(["host", "process", "run", "version"])))
    rows = tuple(ClusterRow(pk={"id": n}, ts=f"2026-11-03T02:30:0{n}", ts_us=n * 1_000_000,
                            writer={role: draw(names) for role in sorted(roles)}, survivor=n == 0, values={})
                 for n in range(2))
    cluster = Cluster(key={"account": 7}, rows=rows, span_seconds=1.0, payload="identical", differing_columns=(),
                      gaps_seconds=(1.0,))
    obs = list(writercols.observe(cluster, roles))
    for feature, values in {**TIMING, **REASONED}.items():
        if values and draw(st.booleans()):
            obs.append(Observation(feature, draw(st.sampled_from(values)), f"{feature} was {len(values)}-way"))
    given_roles = {"process" if r == "run" else r for r in roles}
    have = frozenset(given_roles | draw(st.sets(st.sampled_from(["commit", "xmin", "runs"]))))
    return cluster, roles, obs, have


def _check(sentence: str, verdict, obs: list[Observation], have: frozenset[str]) -> None:
    for bad in EMPTY_NAME:
        assert bad not in sentence, (bad, sentence)
    if verdict.mechanism == "unknown":
        for evidence in have:
            assert not re.search(ASKS[evidence], verdict.signal), (evidence, verdict.signal)
    seen = {(o.feature, o.value) for o in obs}
    if ("host", "differ") in seen:
        assert "on one host" not in sentence, sentence
    if ("host", "same") in seen:
        assert "two hosts both ran" not in sentence, sentence
    if ("version", "same") in seen:
        assert "two releases both ran" not in sentence, sentence


@settings(max_examples=400, deadline=None)
@given(scene=scenes(), commits_off=st.booleans())
def test_explanations_never_ask_for_given_evidence_nor_contradict_their_observations(scene, commits_off):
    cluster, roles, obs, have = scene
    have = have - {"commit"} if commits_off else have | {"commit"}
    mode = "explicit" if roles else "none"
    verdict = model.decide(obs, mode, roles, have)
    sentence = cluster_sentence(cluster, verdict, obs, commits_off, roles)
    _check(sentence, verdict, obs, have)


def test_a_cross_host_race_with_host_and_process_columns_asks_for_something_else():
    # the case tests/test_race.py met: a collision across hosts left between worker_race and multi_host on a
    # table that records host and process; "a process column beside the host column" was asked for
    have = frozenset({"host", "process", "commit", "xmin"})
    signal = model.settling_signal("worker_race", "multi_host", have)
    assert "--runs" in signal and not re.search(ASKS["process"], signal), signal
    assert model.settling_signal("worker_race", "multi_host", have | {"runs"}) == model.APP_LOG
