"""MariaDB executed for real: a throwaway mariadbd started by the suite (tests/mariadb_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cluster_ids, events_table, scan_one

CASES = sorted(Path(__file__).parent.joinpath("cases").glob("*.json"))


@pytest.mark.parametrize("aware", [False, True], ids=["datetime", "timestamp"])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_on_mariadb(case, aware, mariadb_url):
    spec = json.loads(case.read_text())
    events_table(mariadb_url, [tuple(r) for r in spec["rows"]], aware=aware)
    result = scan_one(mariadb_url, window=spec["window"])
    expect = spec["expect"]
    assert cluster_ids(result) == expect["clusters"], spec["description"]
    assert result.far_total == expect["far_duplicates"]
    for field in ("rows_null_key", "rows_null_ts", "rows_scanned"):
        if field in expect:
            assert getattr(result.stats, field) == expect[field]
