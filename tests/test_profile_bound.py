"""The writer profile (attribution.roles.profile: which columns name a writer, read from the rows around the
clusters) reads a bounded number of rows: where clusters lie all along a big table, the spans around clusters
taken evenly along the list, not the whole table (the peers' 5M-row table: 5.4 s of an 8.9 s default scan; an
8M-row wide table, 44-66 s). What it infers is what it inferred from every row."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest
from helpers import scan_one

from dupfinder.attribution import roles

START = datetime(2026, 11, 1, 1, 0)
PROFILE = roles.profile


def _ledger(path, batches: int = 40, rows: int = 500) -> str:
    """``batches`` nightly runs of ``rows`` rows each by batch-01 (emitter w-main), every 50th key written again
    300 ms later by batch-02 (emitter w-spare): clusters all along the table."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER, day TEXT, ts DATETIME, host TEXT, "
                "emitter TEXT, note TEXT)")
    n = 0
    for b in range(batches):
        for k in range(rows):
            key, at = b * rows + k, b * 3600 + k * 2
            written = [(at, "batch-01", "w-main")] + ([(at + 0.3, "batch-02", "w-spare")] if k % 50 == 7 else [])
            for seconds, host, emitter in written:
                n += 1
                stamp = str(START + timedelta(seconds=seconds))
                con.execute("INSERT INTO events VALUES (?, ?, 'd', ?, ?, ?, 'same')", (n, key, stamp, host, emitter))
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _profiled(monkeypatch, url: str) -> tuple[object, list]:
    seen = []

    def recorded(*args, **kwargs):
        found = PROFILE(*args, **kwargs)
        seen.extend(found)
        return found

    monkeypatch.setattr(roles, "profile", recorded)
    return scan_one(url), seen


@pytest.mark.parametrize("limit", [3000, 600])
def test_the_profile_reads_a_bounded_part_and_infers_the_same_writers(tmp_path, monkeypatch, limit):
    url = _ledger(tmp_path / "t.db")
    whole, whole_profiles = _profiled(monkeypatch, url)
    monkeypatch.setattr(roles, "PROFILE_ROWS", limit)
    monkeypatch.setattr(roles.profile_spans, "__defaults__", (limit,))
    part, part_profiles = _profiled(monkeypatch, url)
    assert len(whole.clusters) == len(part.clusters) == 400
    # every row of the table around the clusters, against a part near the bound: the bound is read at the table's
    # average density, and these batches write in a sixth of each hour, so their spans hold a few times more
    assert {p.rows for p in whole_profiles} == {20400}
    assert all(p.rows <= 4 * limit and p.around < 400 for p in part_profiles), part_profiles
    assert [(w.role, w.column) for w in whole.writers] == [(w.role, w.column) for w in part.writers]
    assert {c.mechanism for c in whole.clusters} == {c.mechanism for c in part.clusters}
    said = " ".join(w.reason for w in part.writers)
    assert "of the 400 clusters (taken evenly)" in said, said
