"""Evidence from outside the table: the job runs active when each copy was written (``--runs``).

dupfinder/runs.py matches cluster rows to the runs of a job log and records them on the cluster as
``evidence["runs"]``: one list of run labels per row, in row order (empty when no run was active). This
module only reads that: copies falling in two different runs of one job is the double-run signature
(duplicate_run, multi_host or deploy_overlap), unless both runs carry one task's run id (a redelivery or a
retry: a message keeps its id when it is delivered again); every copy inside one run is a race, a retry or one
transaction.
"""

from __future__ import annotations

from ..cluster import Cluster
from .observe import Observation


def observe(cluster: Cluster) -> list[Observation]:
    found = _hosts(cluster)
    said = words(cluster)
    found_runs = cluster.evidence.get("job_runs") or {}
    if found_runs.get("same_run_id"):  # runs.annotate: one task's id in two runs, not a logical run id per host
        return [Observation("runs", "run again", said or "the job log names one run id for every copy"), *found]
    if said is None:
        return found
    if said == ONE_RUN:
        return [Observation("runs", "one run", said), *found]
    active = found_runs.get("concurrent", 0)
    if found_runs.get("handover"):
        return [Observation("runs", "taken over", f"{said}; the first had ended before any of its work was written "
                            "again, by a run active since before it: the second took over what the first left "
                            "unfinished (a redelivery after the first died)"), *found]
    if active >= POOL_RUNS:
        return [Observation("runs", "among several", f"{said}, while {active} runs of the job were active at "
                            "once (a pool's workers, each logged as a run, or a third run)"), *found]
    return [Observation("runs", "two runs", said), *found]


ONE_RUN = "every copy falls in one run of the job log"
POOL_RUNS = 3  # runs of one job active at once: a job that ran twice has two (model.REASONED["runs"]: why)


def words(cluster: Cluster) -> str | None:
    """What the runs observation says, when every copy fell in exactly one run (None otherwise). The runs are
    named once: runs.explain puts the job log's own sentence, which names them, in place of these words."""
    runs = cluster.evidence.get("runs")
    if not runs or len(runs) != len(cluster.rows) or any(len(r) != 1 for r in runs):
        return None
    labels = {r[0] for r in runs}
    return f"the copies fall in {len(labels)} different runs of the job log" if len(labels) > 1 else ONE_RUN


def hosts_named(cluster: Cluster) -> list[str] | None:
    """The hosts of the job runs the copies fell in, when every copy fell in a run, two runs or more hold them
    and every such run names its host (None otherwise: a copy outside the log could have come from anywhere,
    and so could a copy inside the one run the log shows, written by a host whose log was not given: the
    primary's log alone ruled out the standby whose cron was never disabled)."""
    found = cluster.evidence.get("job_runs") or {}
    runs = found.get("runs") or []
    if found.get("verdict") not in ("two_runs", "overlapping") or not runs \
            or not all(r.get("host") for r in runs):
        return None
    return [str(r["host"]) for r in runs]


def _hosts(cluster: Cluster) -> list[Observation]:
    """What the job log says about hosts, read like a host column (model.EXCLUDED_BY): every run the copies
    fell in on one host rules out two hosts; two or more hosts with one run each rules out one host running
    the job twice (whichever copy each run wrote: a single run writing a key twice is no second run)."""
    hosts = hosts_named(cluster)
    if hosts is None:
        return []
    if len(set(hosts)) == 1:
        return [Observation("runs_host", "same", f"every job run the copies fall in ran on {hosts[0]}")]
    if len(set(hosts)) == len(hosts):
        return [Observation("runs_host", "differ", f"the job runs the copies fall in ran on {len(hosts)} hosts, "
                                                   "one run each")]
    return []
