"""Evidence from outside the table: the job runs active when each copy was written (``--runs``).

dupfinder/runs.py matches cluster rows to the runs of a job log and records them on the cluster as
``evidence["runs"]``: one list of run labels per row, in row order (empty when no run was active). This
module only reads that: copies falling in two different runs of one job is the double-run signature
(duplicate_run, multi_host or deploy_overlap); every copy inside one run is a race, a retry or one
transaction.
"""

from __future__ import annotations

from ..cluster import Cluster
from .observe import Observation


def observe(cluster: Cluster) -> list[Observation]:
    runs = cluster.evidence.get("runs")
    if not runs or len(runs) != len(cluster.rows) or any(len(r) != 1 for r in runs):
        return []
    labels = {r[0] for r in runs}
    # the runs are named once, by the job-log sentence that ends the explanation (runs.explain)
    if len(labels) > 1:
        return [Observation("runs", "two runs", f"the copies fall in {len(labels)} different runs of the job log")]
    return [Observation("runs", "one run", "every copy falls in one run of the job log")]
