"""Clustering cases as data: tests/cases/*.json give rows in and clusters out; each runs on SQLite,
PostgreSQL and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cluster_ids, events_table, scan_one

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["naive", "timestamptz"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(case, aware, any_url):
    spec = json.loads(case.read_text())
    events_table(any_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(any_url, window=spec["window"])
    expect = spec["expect"]
    assert cluster_ids(result) == expect["clusters"], spec["description"]
    assert result.far_total == expect["far_duplicates"]
    if "survivors" in expect:
        assert [c.survivor.pk["id"] for c in result.clusters] == expect["survivors"]
    for field in ("rows_null_key", "rows_null_ts", "rows_scanned"):
        if field in expect:
            assert getattr(result.stats, field) == expect[field]
    assert result.stats.rows_scanned == len(spec["rows"])
