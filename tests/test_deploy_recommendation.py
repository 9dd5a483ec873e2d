"""The deploy-overlap fix names the releases that overlapped without calling both of them "the old release"
(a stranger's finding: a rolling deploy of 2.3.0 → 2.4.0 was told "Stop the scheduler of the old release
(2.3.0 and 2.4.0)")."""

from __future__ import annotations

import sqlalchemy as sa
from helpers import at, make_table, ts_type
from sqlrun import scan_doc


def test_a_rolling_deploy_is_told_which_releases_overlapped_not_that_both_are_old(db_url):
    rows = [{"id": 100 * p + 50 * (release == "2.4.0") + e, "employee_id": e, "pay_period": p, "gross": 1000 + e,
             "pod_name": pod, "release": release, "created_at": at(p * 2 + e * 0.008 + (release == "2.4.0") * 0.004)}
            for p in range(6) for e in range(50)
            for pod, release in (("payroll-7f9c", "2.3.0"), ("payroll-8a1d", "2.4.0"))
            if (release == "2.3.0" and p <= 3) or (release == "2.4.0" and p >= 2)]
    make_table(db_url, "salary_line", [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("employee_id", sa.Integer),
        sa.Column("pay_period", sa.Integer), sa.Column("gross", sa.Integer), sa.Column("pod_name", sa.String(20)),
        sa.Column("release", sa.String(10)), sa.Column("created_at", ts_type())], rows)
    doc = scan_doc(db_url, table="salary_line", keys=["employee_id", "pay_period"], ts="created_at",
                   writers=["host=pod_name", "version=release"])
    [incident] = doc["tables"][0]["incidents"]
    assert incident["mechanism"] == "deploy_overlap" and incident["clusters"] == 100, incident
    first = incident["recommendations"][0]
    assert "old release (2.3.0 and 2.4.0)" not in first, first
    assert first.startswith("Stop the scheduler of the old release before the new one starts (releases 2.3.0 and "
                            "2.4.0 both ran the job here): "), first
