"""The Python work of a scan per cluster: how often the costly steps run, counted (not timed) on a real SQLite
table of many two-row clusters. Each count grew with every value of every row before the change it pins."""

from __future__ import annotations

import io
import json

from helpers import events_table

from dupfinder import api, cluster
from dupfinder.attribution import writercols
from dupfinder.config import ScanOptions, table_spec
from dupfinder.findings import findings_dict, write_findings_to

N = 300  # keys written twice, each copy by its own host


def _scan(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    events_table(url, [(2 * k + copy, k, 5 * k + 0.3 * copy, f"h{copy}") for k in range(N) for copy in (1, 2)])
    return api.scan(ScanOptions(url=url, tables=(table_spec(table="events", keys=["account"], ts="ts",
                                                            writers=["host=host"]),)))


def test_clusters_take_plain_values_as_read(tmp_path, monkeypatch):
    """Text, integers and NULLs are already what findings.json holds: jsonable is not called for each of them
    (7 columns of 600 rows: 4,500 calls, about a fifth of building the clusters of a 5M-row DuckDB scan)."""
    calls = []

    def counted(value):
        calls.append(value)
        return jsonable(value)

    jsonable = cluster.jsonable
    monkeypatch.setattr(cluster, "jsonable", counted)
    result = _scan(tmp_path)
    clusters = result.tables[0].clusters
    assert len(clusters) == N and {len(c.rows) for c in clusters} == {2}
    assert clusters[0].key == {"account": 0} and clusters[0].rows[0].values["note"] == "same"
    assert all(type(v) not in (str, int, type(None)) for v in calls), calls[:5]


def test_findings_writer_encodes_rows_not_every_scalar(tmp_path, monkeypatch):
    """The findings writer spells strings, numbers, booleans and nulls itself: the JSON encoder's Python-level
    encode() runs for each cluster row (one line each) and each distinct key name, not for every string
    (before: every string of every cluster, about 15 a cluster)."""
    result = _scan(tmp_path)
    encodes = []
    original = json.JSONEncoder.encode

    def counted(self, value):
        encodes.append(type(value).__name__)
        return original(self, value)

    monkeypatch.setattr(json.JSONEncoder, "encode", counted)
    out = io.StringIO()
    write_findings_to(findings_dict(result, on_demand=True), out)
    doc = json.loads(out.getvalue())
    assert len(doc["tables"][0]["clusters"]) == N
    assert encodes.count("dict") == 2 * N  # the rows
    assert encodes.count("str") < 200, encodes.count("str")  # key names, once each


def test_a_writer_shared_by_many_rows_is_read_once(tmp_path):
    """Who wrote a row (its roles' names, sorted) is read once per distinct writer, not per row each time the
    attribution asks (5 times a cluster)."""
    writercols._identity.cache_clear()
    result = _scan(tmp_path)
    assert {c.mechanism for c in result.tables[0].clusters} - {"unknown"}
    assert writercols._identity.cache_info().misses <= 4, writercols._identity.cache_info()
