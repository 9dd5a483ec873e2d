"""The evidence sentence of a rolling deploy's incident. The incident is its releases, every old pod beside every
new one, while a cluster's offsets are read over its own pair of pods: the report showed the first cluster's
explanation as the incident's evidence, "... spread 8 ms, 63 clusters)" beside an incident of 252 clusters
(stranger20's deploy, real pods). Here a deploy written row by row: two old pods and two new ones, each old pod
racing one new pod on its share of the keys."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, make_table, ts_type

from dupfinder.cli import main

PAIRS = [("invoicer-7d9f8c6b5-kq2xz", "invoicer-6b4f5d7c9-wx9rn", 6), ("invoicer-7d9f8c6b5-p8m4t",
                                                                       "invoicer-6b4f5d7c9-zl5vh", 9)]


def _deploy(url: str) -> int:
    """Each old pod and its new pod write the same keys 8-20 ms apart; every pod writes keys of its own between
    them. Returns the number of keys written twice."""
    rows, n, t = [], 0, 0.0
    for old, new, keys in PAIRS:
        for k in range(keys):
            for pod, version, lag in ((old, "1.4.2", 0.0), (new, "1.5.0", 0.008 + 0.0013 * (k % 10))):
                n += 1
                rows.append({"id": n, "customer_id": f"C-{old[-5:]}-{k}", "pod_name": pod, "app_version": version,
                             "amount": 10 + k, "created_at": at(t + lag)})
            for pod, version in ((old, "1.4.2"), (new, "1.5.0")):
                n += 1
                t += 0.05
                rows.append({"id": n, "customer_id": f"S-{n}", "pod_name": pod, "app_version": version,
                             "amount": 5, "created_at": at(t)})
            t += 0.3
    make_table(url, "invoices", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                                 sa.Column("customer_id", sa.String(30)), sa.Column("pod_name", sa.String(40)),
                                 sa.Column("app_version", sa.String(10)), sa.Column("amount", sa.Integer),
                                 sa.Column("created_at", ts_type())], rows)
    return sum(keys for _, _, keys in PAIRS)


def test_a_merged_deploy_incident_counts_its_own_clusters(sqlite_url, tmp_path):
    doubled = _deploy(sqlite_url)
    out = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "invoices", "--key", "customer_id",
                                    "--ts", "created_at", "--writer", "host=pod_name",
                                    "--writer", "version=app_version", "--out", str(tmp_path), "-q"])
    assert out.exit_code == 1, out.output
    table = json.loads((tmp_path / "findings.json").read_text())["tables"][0]
    [incident] = table["incidents"]
    assert incident["mechanism"] == "deploy_overlap" and incident["clusters"] == doubled, incident
    first = min(table["clusters"], key=lambda c: c["rows"][0]["ts"])
    # the first cluster's offsets are read over its own pair of pods: 6 of the incident's 15
    assert ", 6 clusters)" in first["explanation"], first["explanation"]
    said = incident["evidence"]
    assert f"over the 6 clusters of these writers, of the {doubled} in this incident" in said, said
    assert ", 6 clusters)" not in said
    report = re.sub(r"<[^>]+>", "", (tmp_path / "report.html").read_text())
    assert f"over the 6 clusters of these writers, of the {doubled} in this incident" in report
