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
