"""The attribution decides once per distinct reading: clusters whose observations read alike (feature and
value, in order) share one model decision, and every cluster still carries the decision its own observations
give."""

from __future__ import annotations

import pytest

from dupfinder import api
from dupfinder.attribution import _in_hand, _xmin_trusted, model
from dupfinder.attribution.observe import Observation
from dupfinder.config import ScanOptions, table_spec
from sample_data import harder, labelled


@pytest.mark.parametrize("explicit", [True, False], ids=["writer-columns", "none"])
def test_alike_readings_are_decided_once_and_each_cluster_keeps_its_own_decision(tmp_path, monkeypatch, explicit):
    lab = harder.generate(9101, scale=0.3)
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    labelled.write(url, lab)
    calls: list[tuple] = []
    original = model.decide

    def counted(observations, *args, **kwargs):
        observations = list(observations)
        calls.append(tuple((o.feature, o.value) for o in observations))
        return original(observations, *args, **kwargs)

    monkeypatch.setattr(model, "decide", counted)
    spec = table_spec(table=lab.table, keys=list(lab.keys), ts=lab.ts, window=lab.window,
                      writers=[f"{role}={column}" for role, column in lab.writers.items()] if explicit else [],
                      infer_writers=explicit)
    table = api.scan(ScanOptions(url=url, tables=(spec,))).tables[0]
    clusters = table.clusters
    assert len(clusters) >= 20
    assert len(calls) == len(set(calls)) < len(clusters)  # each distinct reading once, and readings repeat
    monkeypatch.setattr(model, "decide", original)
    mode = table.signals["attribution_mode"]
    roles = {w.role for w in table.writers} | {w["role"] for w in table.signals["writer_roles_from_data"]}
    have = _in_hand(table, list(clusters), roles, _xmin_trusted(table))
    for c in clusters:  # decided afresh from the cluster's own observations: the same answer
        verdict = original([Observation(f, v, "") for f, v in c.evidence["observations"].items()], mode, roles, have)
        assert (c.mechanism, c.confidence) == (verdict.mechanism, verdict.confidence)
        assert c.evidence["posterior"] == {m: round(p, 4) for m, p in verdict.posterior.items() if p >= 0.001}


def test_copy_counts_are_read_once_per_writer_pair(tmp_path, monkeypatch):
    """Episodes of one pair of writers read the same clusters for their copy counts (every cluster either writer
    wrote), so the reading is made once per pair: one host beside every other episode's made 3,000 one-cluster
    episodes read 3,000 clusters each (the held-out figures of tests/test_attribution.py are unchanged by it)."""
    import sqlite3

    from dupfinder.attribution import timing

    db = tmp_path / "ev.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, k INTEGER, ts TEXT, host TEXT)")
    rows = [(n, n, f"2026-11-0{1 + n // 240} {(n // 10) % 24:02d}:{n % 10:02d}:00.000000", "h1") for n in range(960)]
    rows += [(10_000 + n, n, f"2026-11-0{1 + n // 240} {(n // 10) % 24:02d}:{n % 10:02d}:00.{300000 + n:06d}", "h2")
             for n in range(0, 960, 8)]
    rows += [(20_000 + n, n, f"2026-11-0{1 + n // 240} {(n // 10) % 24:02d}:{n % 10:02d}:01.{n:06d}", "h3")
             for n in range(0, 960, 16)]
    con.executemany("INSERT INTO ev VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    calls: list[tuple[int, ...]] = []
    original = timing.copies

    def counted(members):
        calls.append(tuple(sorted(id(c) for c in members)))
        return original(members)

    monkeypatch.setattr(timing, "copies", counted)
    spec = table_spec(table="ev", keys=["k"], ts="ts", writers=["host=host"], incident_gap="1m")
    table = api.scan(ScanOptions(url=f"sqlite:///{db}", tables=(spec,))).tables[0]
    pairs = {tuple(sorted({r.writer.get("host") for r in c.rows})) for c in table.clusters}
    incidents = len(table.incidents)
    assert len(table.clusters) == 120 and incidents > len(pairs)  # many episodes, few pairs
    assert len(calls) == len(set(calls)) <= len(pairs) + 1
