"""Clustering cases as data: tests/cases/*.json give rows in and clusters out; each runs on SQLite,
PostgreSQL and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import check_case, events_table, scan_one

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["naive", "timestamptz"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case(case, aware, any_url):
    spec = json.loads(case.read_text())
    events_table(any_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(any_url, window=spec["window"])
    check_case(result, spec)
