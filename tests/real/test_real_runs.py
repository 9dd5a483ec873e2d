"""Job runs as evidence (``--runs``), tested on the logs the real-software scenarios wrote: the JSON lines
and CSV their job wrappers recorded, and Celery's own worker log read through ``--runs-pattern``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dupfinder.cli import main
from dupfinder.runs import RunIndex, attach, read_runs

CELERY_SUCCEEDED = (r"^\[(?P<ts>[\d-]+ [\d:,]+): INFO/\S+ (?P<process>\d+)\] Task (?P<job>\w+)\[(?P<run>[\w-]+)\] "
                    r"succeeded in (?P<duration>[\d.e-]+)s")


def _runs_of(table, truth, *files, pattern=None):
    return attach(table, RunIndex(read_runs(files or [truth.logs["runs"]], pattern)))


def test_two_launchers_each_copy_in_its_own_run(outcomes):
    truth, scans = outcomes("launcher_twice_400")
    runs = {r.id: r for r in read_runs([truth.logs["runs"]])}
    assert len(runs) == 2
    table = _runs_of(scans["writers"][0], truth)
    for cluster in table.clusters:
        assert cluster.evidence["job_runs"]["verdict"] == "two_runs", cluster.explanation
        for row in cluster.rows:
            assert len(row.runs) == 1 and runs[row.runs[0]].run == row.writer["run"]  # the row's own run id
        assert all(r.label() in cluster.explanation for r in runs.values()), cluster.explanation
        assert "all of job export" in cluster.explanation and not cluster.evidence["job_runs"]["same_run_id"]
        assert cluster.evidence["runs"] == [[runs[row.runs[0]].label()] for row in cluster.rows]
    # without writer columns the two runs overlapped in time: both are named, and the logs say they cannot
    # tell which wrote which copy
    anonymous = _runs_of(scans["anonymous"][0], truth)
    for cluster in anonymous.clusters:
        assert {cluster.evidence["job_runs"]["verdict"]} <= {"overlapping", "two_runs"}
        assert all(r.label() in cluster.explanation for r in runs.values()), cluster.explanation


def test_shared_job_store_runs_from_csv_name_both_hosts(outcomes):
    truth, scans = outcomes("apscheduler_shared_store")
    table = _runs_of(scans["writers"][0], truth)
    runs = {r.id: r for r in read_runs([truth.logs["runs"]])}
    assert {r.host for r in runs.values()} == {"sched-a", "sched-b"}
    for cluster in table.clusters:
        assert cluster.evidence["job_runs"]["verdict"] == "two_runs"
        assert {runs[row.runs[0]].host for row in cluster.rows} == {row.writer["host"] for row in cluster.rows}
        assert "nightly_export" in cluster.explanation and "sched-a" in cluster.explanation


def test_diluted_table_only_the_export_runs_wrote_the_copies(outcomes):
    truth, scans = outcomes("launcher_twice_diluted")
    table = _runs_of(scans["writers"][0], truth)
    jobs = {r.id: r.job for r in read_runs([truth.logs["runs"]])}
    for cluster in table.clusters:
        assert {jobs[i] for row in cluster.rows for i in row.runs} == {"export"}  # never the ledger sync
        assert cluster.evidence["job_runs"]["verdict"] == "two_runs"


def test_dst_night_copies_fall_in_the_two_firings(outcomes):
    truth, scans = outcomes("dst_night_pg_timestamptz")
    firings = read_runs([truth.logs["runs"]])
    assert len(firings) == 2
    for mode in ("writers", "anonymous"):
        table = _runs_of(scans[mode][0], truth)
        for cluster in table.clusters:
            assert [row.runs for row in cluster.rows] == [(firings[0].id,), (firings[1].id,)]
            assert "2 different runs" in cluster.explanation and firings[1].label() in cluster.explanation
            assert cluster.evidence["job_runs"]["timestamps_read_as"] == "instants"


def test_naive_local_wall_times_in_the_repeated_hour_match_both_firings(outcomes):
    truth, scans = outcomes("dst_night_sqlite_naive_local")
    table = _runs_of(scans["writers"][0], truth)
    # local wall times in the repeated hour: either firing could have written either copy
    for cluster in table.clusters:
        assert cluster.evidence["job_runs"]["timestamps_read_as"] == "America/New_York"
        assert cluster.evidence["job_runs"]["verdict"] == "overlapping"


def test_celery_worker_log_names_both_executions_of_the_redelivered_task(outcomes):
    truth, scans = outcomes("celery_redelivery_other_child")
    executions = {r.id: r for r in read_runs([truth.logs["worker"]], CELERY_SUCCEEDED)}
    assert len(executions) == truth.facts["fast"] + 2 * truth.facts["slow"]
    table = _runs_of(scans["writers"][0], truth, truth.logs["worker"], pattern=CELERY_SUCCEEDED)
    for cluster in table.clusters:
        # pid and task id in the table and in the log: each copy is matched to exactly its execution
        assert cluster.evidence["job_runs"]["verdict"] == "two_runs", cluster.explanation
        first, second = (executions[row.runs[0]] for row in cluster.rows)
        assert first.run == second.run == cluster.rows[0].writer["run"] and first.process != second.process
        assert first.end_us - first.start_us >= 2_500_000  # the slow first attempt, still running at the redelivery
        assert first.label() in cluster.explanation and second.label() in cluster.explanation
        assert "(all of job charge)" in cluster.explanation
        assert cluster.evidence["job_runs"]["same_run_id"] and "executed again" in cluster.explanation


def test_celery_worker_log_through_a_pattern_on_the_command_line(outcomes):
    truth, scans = outcomes("celery_redelivery_other_child")  # the writer columns are dropped by now
    task_of = {frozenset(r.pk["id"] for r in c.rows): c.rows[0].writer["run"] for c in scans["writers"][0].clusters}
    executions = {r.id: r for r in read_runs([truth.logs["worker"]], CELERY_SUCCEEDED)}
    result = CliRunner().invoke(main, ["scan", truth.url, "--table", truth.table, "--key", "order_id",
                                       "--ts", "created_at", "--window", truth.window, "--format", "json",
                                       "--runs", str(truth.logs["worker"]), "--runs-pattern", CELERY_SUCCEEDED])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)["tables"][0]
    assert len(doc["clusters"]) == truth.facts["slow"]
    for cluster in doc["clusters"]:
        task = task_of[frozenset(r["pk"]["id"] for r in cluster["rows"])]
        first, second = ([executions[i] for i in row["run"]] for row in cluster["rows"])
        # no pid or task id in the table: every execution running at the time is named; the task's own
        # two executions are among them, and nothing else than the slow orders' executions
        assert task in {r.run for r in first} and [r.run for r in second].count(task) == 2
        assert all(r.end_us - r.start_us >= 2_500_000 for r in first)
        assert cluster["evidence"]["job_runs"]["verdict"] == "overlapping"
        assert cluster["explanation"].count(f"charge run {task}") >= 2, cluster["explanation"]


APSCHEDULER_LOG = (r"^(?P<ts>\S+ \S+) (?P<host>\S+) (?P<process>\d+) apscheduler\.executors\.default INFO "
                   r"(?P<phase>Running job|Job \"\w+ .*\" executed successfully)")


def test_apscheduler_own_log_lines_pair_into_runs(outcomes):
    truth, scans = outcomes("apscheduler_shared_store")
    logs = [truth.logs["scheduler"], truth.logs["scheduler_b"]]
    runs = read_runs(logs, APSCHEDULER_LOG)
    assert sorted(r.host for r in runs) == ["sched-a", "sched-b"]
    assert all(0 < r.end_us - r.start_us < 60_000_000 for r in runs)
    table = attach(scans["writers"][0], RunIndex(runs))
    for cluster in table.clusters:
        assert cluster.evidence["job_runs"]["verdict"] == "two_runs", cluster.explanation
        for row in cluster.rows:
            (run_id,) = row.runs
            assert {r.id: r for r in runs}[run_id].process == str(row.writer["process"])


def test_timeout_retry_in_one_logged_run_is_not_a_race(outcomes):
    from real.scenario import scan

    truth, _ = outcomes("timeout_retry")  # the writer columns are dropped by now
    _, findings = scan(truth, False, runs=(str(truth.logs["runs"]),))
    doc = findings["tables"][0]
    assert len(doc["clusters"]) == truth.facts["retried"]
    for cluster in doc["clusters"]:
        # one run of one process wrote both copies, a constant delay apart: a retry (or, without commit
        # timestamps, a shortlist holding it), never "make the claim atomic" (a review's job: worker_race 95%)
        assert cluster["evidence"]["job_runs"]["verdict"] == "one_run", cluster["explanation"]
        named = {c["mechanism"] for c in cluster["evidence"].get("candidates", [])}
        assert cluster["mechanism"] == "retry" or (cluster["mechanism"] == "unknown" and "retry" in named), (
            cluster["mechanism"], cluster["explanation"])


def test_a_killed_worker_s_run_under_the_supervisor_s_pid_is_named_not_denied(outcomes):
    """celery_kill with writer columns and the supervisor's log of each worker's lifetime (its main pid; the table
    records the child's pid and the task id): the log's runs are ruled out by those columns, and the explanation
    said "no recorded run was active" although a run on each copy's host was."""
    truth, scans = outcomes("celery_kill")
    for cluster in scans["writers+runs"][1]["tables"][0]["clusters"]:
        said = cluster["explanation"]
        assert cluster["evidence"]["job_runs"]["verdict"] == "none", said
        assert "no recorded run was active" not in said, said
        assert ", on its host: settlement-consumer run worker-" in said and "a log kept by a supervisor" in said, said


def test_a_worker_killed_while_it_held_the_restore_lock_does_not_stop_the_redelivery(new_database, redis_url,
                                                                                     tmp_path):
    """kombu's redis transport lets one consumer at a time put unacknowledged messages back, under a redis lock
    the sweeping worker takes with the app's ``unacked_mutex_expire``. A worker killed with SIGKILL in the middle
    of a sweep leaves that lock behind: with kombu's default of 300 s no consumer restored anything for five
    minutes, and every celery_kill run in that window found no redelivered task (six failures in one CI run).
    Here the lock is left behind on purpose, as a killed worker would, before the scenario starts."""
    import redis

    from real import scenarios
    from real.celery_app import make_app

    expire = make_app(redis_url).conf.broker_transport_options.get("unacked_mutex_expire", 300)
    client = redis.Redis.from_url(redis_url)
    assert client.lock("unacked_mutex", timeout=expire).acquire(blocking=False)  # and never released
    truth = scenarios.celery_kill(new_database(), redis_url, tmp_path)
    assert truth.clusters and set(truth.clusters.values()) == {"retry"}
