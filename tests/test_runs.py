"""Job-run files (--runs, --runs-pattern): formats, matching rules, bad and hostile input, the config file."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import make_table, run_statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.errors import UsageError
from dupfinder.runs import RunIndex, compile_pattern, parse_time, read_runs

T0 = datetime(2026, 11, 3, 2, 30, 0)


def _iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat() + "+00:00"


def test_csv_json_lines_and_log_lines_read_the_same_runs(tmp_path):
    (tmp_path / "runs.csv").write_text("start,end,name,hostname,pid,run_id\n"
                                       f"{_iso(0)},{_iso(5)},export,a,11,r1\n")
    (tmp_path / "runs.jsonl").write_text(json.dumps({"start": _iso(0), "end": _iso(5), "job": "export",
                                                     "host": "a", "process": 11, "run": "r1"}) + "\n\n")
    (tmp_path / "whole.log").write_text(f"noise\nRUN export a 11 r1 {_iso(0)} {_iso(5)}\n")
    (tmp_path / "duration.log").write_text(f"{_iso(5)} a 11 export[r1] succeeded in 5.0s\n")
    (tmp_path / "phases.log").write_text(f"{_iso(0)} a 11 export r1 Running\n{_iso(2)} a 12 other r2 Running\n"
                                         f"{_iso(5)} a 11 export r1 executed\n")
    patterns = {
        "whole.log": r"RUN (?P<job>\w+) (?P<host>\w+) (?P<process>\d+) (?P<run>\w+) (?P<start>\S+) (?P<end>\S+)",
        "duration.log": r"(?P<ts>\S+) (?P<host>\w+) (?P<process>\d+) (?P<job>\w+)\[(?P<run>\w+)\] succeeded in "
                        r"(?P<duration>[\d.]+)s",
        "phases.log": r"(?P<ts>\S+) (?P<host>\w+) (?P<process>\d+) (?P<job>\w+) (?P<run>\w+) (?P<phase>\w+)",
    }
    seen = set()
    for name in ("runs.csv", "runs.jsonl", *patterns):
        (run,) = read_runs([tmp_path / name], patterns.get(name))  # the run still open at the end is no run
        seen.add((run.start_us, run.end_us, run.job, run.host, run.process, run.run))
    assert len(seen) == 1, seen


def test_a_row_matches_the_runs_active_then_unless_its_writer_columns_say_otherwise(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"start": _iso(0), "end": _iso(10), "job": "export", "host": "a", "process": 1},
        {"start": _iso(1), "end": _iso(3), "job": "export", "host": "b", "process": 2},
        {"start": _iso(20), "end": _iso(30), "job": "export", "host": "a", "process": 3}]))
    index = RunIndex(read_runs([path]))
    at = parse_time(_iso(2))
    assert [r.host for r in index.active(at)] == ["a", "b"]
    assert [r.host for r in index.active(at, {"host": "b"})] == ["b"]
    assert [r.process for r in index.active(at, {"process": 1})] == ["1"]
    assert index.active(parse_time(_iso(15))) == []
    assert [r.process for r in index.active(parse_time(_iso(30.001)))] == ["3"]  # log times cut to ms


@pytest.mark.parametrize(("content", "message"), [
    ("start,end\n2026-13-01,2026-11-01\n", "cannot read the time"),
    ("job,host\nx,y\n", "needs start and end columns"),
    ("start,end\n2026-11-01T00:00:05,2026-11-01T00:00:00\n", "ends before it starts"),
])
def test_bad_csv_is_one_usage_error(tmp_path, content, message):
    path = tmp_path / "runs.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_runs([path])


def test_log_lines_need_a_pattern_and_a_pattern_needs_its_groups(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("2026-11-01 00:00:00,123 INFO started\n")
    with pytest.raises(UsageError, match="give --runs-pattern"):
        read_runs([path])
    with pytest.raises(UsageError, match="needs named groups"):
        compile_pattern(r"(?P<ts>\S+ \S+)")
    with pytest.raises(UsageError, match="not a valid regular expression"):
        compile_pattern(r"(?P<ts>")
    with pytest.raises(UsageError, match="no line matches"):
        read_runs([path], r"(?P<start>x+) (?P<end>y+)")



def test_matched_lines_that_close_no_run_say_why(tmp_path):
    """A pattern that matches every line but whose phases are no start or end word, or runs that start and
    never end, are told apart from a pattern that matches nothing (a stranger's cron log read 'no line')."""
    pattern = r"^(?P<ts>\S+) (?P<host>\S+) cron\[(?P<process>\d+)\]: (?P<phase>\w+)"
    path = tmp_path / "cron.log"
    path.write_text("2026-11-01T00:00:00 h1 cron[7]: started\n2026-11-01T00:00:09 h1 cron[7]: job\n"
                    "2026-11-01T00:01:00 h2 cron[8]: started\n")
    with pytest.raises(UsageError) as caught:
        read_runs([path], pattern)
    message = str(caught.value)
    assert "3 lines match --runs-pattern but none closes a run" in message, message
    assert "the phase of 1 holds neither a start word nor an end word" in message, message
    assert "2 runs start and never end" in message, message
    assert "no line matches" not in message


_TOKENS = st.sampled_from(["1e400", "nan", "-inf", "-1e300", "9e15", "0", "2026-11-01 00:00:00,5", "{", "}", ",",
                           '"start"', ":", "start,end", "\n", " ", "2026-11-01T01:30:00-04:00", "[]", "null"])
_LINE = st.one_of(st.text(st.characters(blacklist_categories=["Cs"]), max_size=60),
                  st.lists(_TOKENS, max_size=8).map("".join),
                  st.fixed_dictionaries({"start": _TOKENS, "end": _TOKENS}).map(json.dumps))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=6),
       suffix=st.sampled_from([".csv", ".jsonl", ".log"]),
       pattern=st.one_of(st.none(), st.text(max_size=40),
                         st.just(r"(?P<ts>\S+) (?P<duration>\S+)"), st.just(r"(?P<start>\S+),(?P<end>\S+)")))
def test_hostile_run_files_give_runs_or_one_usage_error(tmp_path_factory, lines, suffix, pattern):
    path = tmp_path_factory.mktemp("runs") / f"runs{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        runs = read_runs([path], pattern)
    except UsageError as err:
        assert str(err) and "\n" not in str(err).strip("\n")
    else:
        assert runs and all(r.end_us >= r.start_us for r in runs)


def _events(url: str) -> None:
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime), sa.Column("pid", sa.Integer)]
    make_table(url, "events", columns, [
        {"id": 1, "account": 7, "ts": T0 + timedelta(seconds=1), "pid": 11},
        {"id": 2, "account": 7, "ts": T0 + timedelta(seconds=1.2), "pid": 12},
        {"id": 3, "account": 8, "ts": T0 + timedelta(seconds=9), "pid": 11}])


def _run_lines(path) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"start": _iso(0.5), "end": _iso(2), "job": "export", "host": "h", "process": 11, "run": "first"},
        {"start": _iso(0.9), "end": _iso(1.5), "job": "export", "host": "h", "process": 12, "run": "second"}]))


def test_cli_runs_name_both_runs_and_each_row_gets_its_run(sqlite_url, tmp_path):
    _events(sqlite_url)
    _run_lines(tmp_path / "runs.jsonl")
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--writer", "process=pid", "--runs", str(tmp_path / "runs.jsonl"),
                                       "--timezone", "America/New_York", "--format", "json"])
    assert result.exit_code == 1, result.output
    (cluster,) = json.loads(result.output)["tables"][0]["clusters"]
    assert [row["run"] for row in cluster["rows"]] == [["runs.jsonl:1"], ["runs.jsonl:2"]]
    assert cluster["evidence"]["job_runs"]["verdict"] == "two_runs"
    # a naive column with --timezone: read as UTC and as New York wall time; UTC put the rows in runs
    assert cluster["evidence"]["job_runs"]["timestamps_read_as"] == "UTC"
    assert "export run first" in cluster["explanation"] and "export run second" in cluster["explanation"]
    plain = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                      "--writer", "process=pid", "--format", "json"])
    assert "run" not in json.loads(plain.output)["tables"][0]["clusters"][0]["rows"][0]
    assert "job logs" not in plain.output
    text = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                     "--writer", "process=pid", "--runs", str(tmp_path / "runs.jsonl"),
                                     "--out", str(tmp_path / "out")])
    assert "job runs (--runs): copies in different runs 1, in one run 0" in text.output, text.output
    from dupfinder.findings import read_findings

    rows = read_findings(tmp_path / "out" / "findings.json")["tables"][0]["clusters"][0]["rows"]  # the schema holds
    assert [row["run"] for row in rows] == [["runs.jsonl:1"], ["runs.jsonl:2"]]


def test_whole_second_timestamps_match_the_runs_active_during_their_second(sqlite_url, tmp_path):
    """A settlement client cuts time.time() to whole seconds into an INTEGER column; its run started 0.25 s
    into the second its first retried copies were written in. Read as points, those copies fell outside any
    run ("no recorded run was active"); a whole-second timestamp stands for its whole second. A run that
    ended two seconds before the copies still matches nothing."""
    run_statements(sqlite_url, "CREATE TABLE settlements (id INTEGER PRIMARY KEY, ref TEXT, cents INTEGER, at INTEGER)",
                   "INSERT INTO settlements VALUES (1, 'S-1', 900, 1762137000), (2, 'S-1', 900, 1762137000),"
                   " (3, 'S-2', 100, 1762137001), (4, 'S-3', 250, 1762137020), (5, 'S-3', 250, 1762137020)")
    (tmp_path / "runs.jsonl").write_text('{"start": 1762137000.25, "end": 1762137005, "job": "settle"}\n'
                                         '{"start": 1762137010, "end": 1762137018, "job": "settle"}\n')
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "settlements", "--key", "ref", "--ts", "at",
                                       "--runs", str(tmp_path / "runs.jsonl"), "--format", "json"])
    assert result.exit_code == 1, result.output
    found = {c["key"]["ref"]: c for c in json.loads(result.output)["tables"][0]["clusters"]}
    assert [row.get("run") for row in found["S-1"]["rows"]] == [["runs.jsonl:1"], ["runs.jsonl:1"]]
    assert found["S-1"]["evidence"]["job_runs"]["verdict"] == "one_run"
    assert [row.get("run", []) for row in found["S-3"]["rows"]] == [[], []]
    assert found["S-3"]["evidence"]["job_runs"]["verdict"] == "none"


def test_config_file_names_runs_relative_to_itself(sqlite_url, tmp_path):
    _events(sqlite_url)
    (tmp_path / "logs").mkdir()
    _run_lines(tmp_path / "logs" / "runs.jsonl")
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'database = "{sqlite_url}"\nruns = "logs/runs.jsonl"\n\n[[table]]\nname = "events"\n'
                      'key = ["account"]\nts = "ts"\nwriters = { process = "pid" }\n')
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    rows = json.loads(result.output)["tables"][0]["clusters"][0]["rows"]
    assert [row["run"] for row in rows] == [["runs.jsonl:1"], ["runs.jsonl:2"]]


def test_a_tables_own_pattern_reads_the_top_level_logs_and_without_any_log_is_an_error(sqlite_url, tmp_path):
    """A [[table]] with its own runs_pattern but no runs of its own was read with neither: the pattern was
    ignored without a word and the copies fell in no run."""
    _events(sqlite_url)
    (tmp_path / "export.log").write_text(f"{_iso(0.5)} begin export first\n{_iso(0.9)} begin export second\n"
                                         f"{_iso(1.5)} done export second\n{_iso(2)} done export first\n")
    table = ('[[table]]\nname = "events"\nkey = ["account"]\nts = "ts"\n'
             'runs_pattern = "^(?P<ts>\\\\S+) (?P<phase>begin|done) (?P<job>\\\\w+) (?P<run>\\\\w+)$"\n')
    config = tmp_path / "dupfinder.toml"
    config.write_text(f'database = "{sqlite_url}"\nruns = "export.log"\n\n{table}')
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)["tables"][0]["clusters"][0]["rows"]
    assert [row["run"] for row in rows] == [["export.log:1", "export.log:2"]] * 2, rows  # both runs active then
    config.write_text(f'database = "{sqlite_url}"\n\n{table}')
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 2 and "runs_pattern reads log files" in result.output, result.output
    assert "'events'" in result.output, result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--runs", "missing.jsonl"], "cannot be read"),
    (["--runs-pattern", "(?P<start>a)(?P<end>b)"], "no --runs was given"),
    (["--runs", "{log}", "--runs-pattern", "(?P<ts>"], "not a valid regular expression"),
])
def test_bad_runs_options_exit_2_before_the_database_is_asked(tmp_path, args, message):
    log = tmp_path / "x.log"
    log.write_text("line\n")
    url = "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"  # unreachable: exit 3 if it were asked first
    result = CliRunner().invoke(main, ["scan", url, "--table", "t", "--key", "k", "--ts", "ts",
                                       *[a.replace("{log}", str(log)) for a in args]])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output and "Traceback" not in result.output


def test_docstring_examples_of_runs():
    import doctest

    from dupfinder import runs

    result = doctest.testmod(runs)
    assert result.attempted >= 3 and result.failed == 0


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(0, 5_000_000), st.sampled_from("ab")),
                      max_size=30),
       moments=st.lists(st.integers(-1_000_000, 16_000_000), min_size=1, max_size=10),
       host=st.sampled_from([None, "a", "b"]))
def test_run_index_finds_exactly_the_runs_a_full_walk_finds(spans, moments, host):
    from dupfinder.runs import DEFAULT_SLACK, Run

    base = 1_793_511_000_000_000
    runs = [Run(id=f"r{n}", start_us=base + s, end_us=base + s + d, host=h) for n, (s, d, h) in enumerate(spans)]
    index = RunIndex(runs)
    slack = round(DEFAULT_SLACK * 1_000_000)
    for moment in moments:
        at = base + moment
        walked = {r.id for r in runs if r.start_us - slack <= at <= r.end_us + slack and host in (None, r.host)}
        assert {r.id for r in index.active(at, {"host": host} if host else None)} == walked


def test_the_explanation_names_each_run_once(sqlite_url, tmp_path):
    """A stranger's finding: the attribution's own reading ("the copies fall in runs A and B of the job log")
    and the job-log sentence after it named the same two runs, labels and times, twice in one explanation."""
    _events(sqlite_url)
    _run_lines(tmp_path / "runs.jsonl")
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--writer", "process=pid", "--runs", str(tmp_path / "runs.jsonl"),
                                       "--format", "json"])
    (cluster,) = json.loads(result.output)["tables"][0]["clusters"]
    assert cluster["evidence"]["observations"]["runs"] == "two runs"
    explanation = cluster["explanation"]
    assert explanation.count("export run first") == 1 and explanation.count("export run second") == 1, explanation
    assert "the copies were written by 2 different runs" in explanation, explanation
    # and the fact itself once: "fall in 2 different runs of the job log ... job logs: the copies were written
    # by 2 different runs" (a review)
    assert len(re.findall(r"2 different runs", explanation)) == 1, explanation
    assert "different runs of the job log (+" not in explanation, explanation


_EXPORT = """
import json, os, sys, time
from datetime import datetime, timezone
import sqlalchemy as sa
url, host, log = sys.argv[1:4]
start = datetime.now(timezone.utc).isoformat()
engine = sa.create_engine(url)
with engine.begin() as conn:
    for n in range(50):
        conn.execute(sa.text("INSERT INTO exports (record_id, export_date, payload) VALUES (:n, '2026-11-03', 'x')"),
                     {"n": n})
        time.sleep(0.002)
engine.dispose()
time.sleep(0.05)
line = {"start": start, "end": datetime.now(timezone.utc).isoformat(), "job": "export", "host": host,
        "process": os.getpid()}
with open(log, "a") as f:
    f.write(json.dumps(line) + "\\n")
"""


@pytest.mark.parametrize(("hosts", "ruled_out"), [(("vm", "vm"), "multi_host"),
                                                  (("ledger-primary", "ledger-standby"), "duplicate_run")])
def test_hosts_the_job_log_names_rule_mechanisms_out_like_a_host_column(pg_url, tmp_path, hosts, ruled_out):
    """One export script started twice at once (two real processes), the table recording no writer: the job
    log's hosts answer "one host or two?". With both runs on vm the answer was still "duplicate_run or
    multi_host: a host column would settle it", evidence the scan already had."""
    import subprocess
    import sys

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE exports (id bigserial PRIMARY KEY, record_id int, export_date date, "
                             "payload text, exported_at timestamptz DEFAULT clock_timestamp())")
    engine.dispose()
    log = tmp_path / "runs.jsonl"
    children = [subprocess.Popen([sys.executable, "-c", _EXPORT, pg_url, host, str(log)]) for host in hosts]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    result = CliRunner().invoke(main, ["scan", pg_url, "--table", "exports", "--key", "record_id", "--key",
                                       "export_date", "--ts", "exported_at", "--runs", str(log), "--format", "json"])
    assert result.exit_code == 1, result.output
    clusters = json.loads(result.output)["tables"][0]["clusters"]
    assert len(clusters) == 50
    for cluster in clusters:
        named = {cluster["mechanism"], *(c["mechanism"] for c in cluster["evidence"].get("candidates", []))}
        assert ruled_out not in named, cluster["explanation"]
        assert cluster["evidence"]["observations"]["runs_host"] == ("same" if hosts[0] == hosts[1] else "differ")
        assert "host column" not in (cluster["evidence"].get("signal") or ""), cluster["evidence"]["signal"]


def test_a_task_executed_twice_is_a_redelivery_also_while_the_first_execution_still_runs(sqlite_url, tmp_path):
    """A stranger's finding (kombu over redis, late ack, 2 s visibility timeout): the first execution of task
    F-2026/11/0006 was still rendering when the message went to the other consumer, so the redelivered copy
    fell inside both executions ("overlapping"), and `same_run_id` stayed false: it was set for `two_runs`
    only, which a late-ack redelivery, whose first execution has not finished by definition, rarely gives
    when the table does not record the task id."""
    _events(sqlite_url)
    (tmp_path / "worker.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"start": _iso(0.5), "end": _iso(3.5), "job": "issue_invoice", "run": "F-2026/11/0006"},
        {"start": _iso(1.1), "end": _iso(1.5), "job": "issue_invoice", "run": "F-2026/11/0006"}]))
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--runs", str(tmp_path / "worker.jsonl"), "--format", "json"])
    (cluster,) = json.loads(result.output)["tables"][0]["clusters"]
    runs = cluster["evidence"]["job_runs"]
    assert runs["verdict"] == "overlapping" and [row["run"] for row in cluster["rows"]] == [
        ["worker.jsonl:1"], ["worker.jsonl:1", "worker.jsonl:2"]]
    assert runs["same_run_id"] and "run id F-2026/11/0006 executed again" in cluster["explanation"]



# (id, account, microseconds after 01:31:57, worker): the 105 rows of one incident a real pool of six
# processes wrote into ledger_entries by check-then-act ("the oldest request not yet posted"), 2026-11-24
LEDGER_POOL = [
    (1, 4001, 969231, 3), (3, 4001, 987137, 1), (4, 4001, 996018, 0), (534, 4116, 2409344, 4), (535, 4116, 2421128,
    3), (548, 4119, 2466832, 4), (549, 4119, 2470683, 3), (551, 4119, 2489053, 1), (552, 4119, 2491260, 5), (583,
    4127, 2617371, 4), (584, 4127, 2618188, 3), (585, 4127, 2621797, 2), (586, 4127, 2633149, 1), (587, 4127,
    2636200, 0), (588, 4128, 2641067, 4), (589, 4128, 2642550, 3), (590, 4127, 2645859, 5), (592, 4128, 2655469, 1),
    (593, 4128, 2659892, 2), (629, 4136, 2813326, 2), (630, 4136, 2817987, 0), (632, 4136, 2841083, 5), (636, 4138,
    2857108, 0), (637, 4138, 2863097, 2), (638, 4138, 2881091, 5), (639, 4138, 2883977, 4), (640, 4138, 2884099, 1),
    (641, 4139, 2885418, 2), (642, 4139, 2885585, 3), (643, 4139, 2885606, 0), (644, 4139, 2911679, 5), (645, 4139,
    2917720, 4), (647, 4139, 2919850, 1), (667, 4144, 3021535, 3), (668, 4144, 3021622, 1), (669, 4144, 3022410, 4),
    (674, 4144, 3045285, 5), (692, 4149, 3127175, 1), (693, 4149, 3144290, 3), (694, 4149, 3147130, 5), (695, 4149,
    3147464, 2), (696, 4149, 3148254, 0), (704, 4152, 3185079, 3), (706, 4152, 3193082, 1), (707, 4153, 3199058, 3),
    (708, 4153, 3201041, 4), (709, 4152, 3213596, 5), (710, 4153, 3214881, 2), (728, 4157, 3317350, 3), (729, 4157,
    3322820, 1), (730, 4157, 3329276, 2), (731, 4157, 3329535, 0), (733, 4157, 3352745, 4), (774, 4165, 3593806, 3),
    (775, 4165, 3594245, 5), (776, 4165, 3595890, 1), (777, 4165, 3617360, 0), (778, 4165, 3620036, 2), (779, 4166,
    3627317, 4), (780, 4166, 3630829, 5), (781, 4166, 3630971, 1), (782, 4166, 3635209, 3), (785, 4166, 3663693, 0),
    (798, 4170, 3754759, 3), (800, 4170, 3757654, 2), (802, 4170, 3781207, 1), (803, 4170, 3794942, 5), (810, 4172,
    3827194, 3), (811, 4172, 3829300, 1), (812, 4172, 3846515, 0), (813, 4172, 3847690, 4), (814, 4172, 3851282, 2),
    (827, 4175, 3941139, 5), (828, 4175, 3948986, 1), (829, 4175, 3973425, 0), (830, 4175, 3978039, 4), (831, 4175,
    3980969, 3), (832, 4175, 3985813, 2), (833, 4176, 3991315, 5), (834, 4176, 3991432, 1), (835, 4176, 4019368, 0),
    (836, 4176, 4019678, 4), (882, 4185, 4337210, 5), (883, 4185, 4347991, 1), (884, 4185, 4349113, 3), (885, 4185,
    4375833, 0), (886, 4185, 4376190, 2), (921, 4192, 4632216, 4), (922, 4192, 4633051, 2), (923, 4192, 4635388, 1),
    (924, 4192, 4640594, 5), (925, 4192, 4674005, 3), (926, 4192, 4676507, 0), (927, 4193, 4677728, 4), (928, 4193,
    4683744, 1), (929, 4193, 4689104, 5), (930, 4193, 4697305, 2), (933, 4193, 4734852, 3), (934, 4193, 4735057, 0),
    (961, 4199, 4935444, 0), (962, 4199, 4941248, 5), (963, 4199, 4943060, 1), (964, 4199, 4971031, 4), (965, 4199,
    4971579, 2), (966, 4199, 4980719, 3),
]
LEDGER_WORKERS = ["ledger-1:8961", "ledger-1:8963", "ledger-1:8965", "ledger-2:8962", "ledger-2:8964", "ledger-2:8966"]


def _ledger(url: str, rows: list[tuple[int, int, int, int]]) -> None:
    start = datetime(2026, 11, 24, 1, 31, 57)
    make_table(url, "ledger_entries", [sa.Column("id", sa.Integer, primary_key=True),
                                       sa.Column("account_code", sa.String(12)), sa.Column("posted_at", sa.DateTime),
                                       sa.Column("worker_id", sa.String(16))],
               [{"id": n, "account_code": f"{account}-ACCR", "posted_at": start + timedelta(microseconds=us),
                 "worker_id": LEDGER_WORKERS[w]} for n, account, us, w in rows])


def test_a_pool_taking_the_oldest_request_is_a_race_in_every_cluster(sqlite_url):
    """A review's pool of six taking "the oldest request not yet posted" (keys written 2-6 times): 18 of its 23
    clusters were worker_race and 5 unknown, 2 of them between duplicate_run and multi_host without the race on
    the shortlist (coverage all/all and a constant offset outweighed the varying copy counts)."""
    _ledger(sqlite_url, LEDGER_POOL)
    for writers in (["--writer", "process=worker_id"], []):
        result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "ledger_entries", "--key", "account_code",
                                           "--ts", "posted_at", *writers, "--format", "json"])
        assert result.exit_code == 1, result.output
        clusters = json.loads(result.output)["tables"][0]["clusters"]
        assert len(clusters) == 23
        assert {c["mechanism"] for c in clusters} == {"worker_race"}, [c["explanation"] for c in clusters
                                                                       if c["mechanism"] != "worker_race"]


def test_a_job_log_no_copy_fell_in_does_not_count_as_the_log_in_hand(sqlite_url, tmp_path):
    """A stranger's finding: a config's `runs` (another job's log) is matched against every table. In a table
    none of whose copies fell in any of those runs, an abstention that had asked for "the job's log of those
    minutes" asked for a host column instead, as if the log had been read and settled nothing."""
    # the first two copies of each key: with every copy the keys are written a varying number of times and the
    # pool is named worker_race, no abstention left to ask for anything
    _ledger(sqlite_url, [row for n, row in enumerate(LEDGER_POOL)
                         if sum(1 for other in LEDGER_POOL[:n] if other[1] == row[1]) < 2])
    (tmp_path / "other.jsonl").write_text(json.dumps({"start": "2026-11-24T00:00:00+00:00",
                                                      "end": "2026-11-24T00:10:00+00:00", "job": "other"}) + "\n")
    signals = []
    for runs in ([], ["--runs", str(tmp_path / "other.jsonl")]):
        result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "ledger_entries", "--key", "account_code",
                                           "--ts", "posted_at", "--writer", "process=worker_id", *runs,
                                           "--format", "json"])
        assert result.exit_code == 1, result.output
        clusters = json.loads(result.output)["tables"][0]["clusters"]
        signals.append(sorted(str(c["evidence"].get("signal")) for c in clusters))
    assert any("--runs FILE" in s for s in signals[0]), signals[0]
    assert signals[1] == signals[0]


def test_a_config_table_reads_its_own_job_log_and_the_others_the_global_one(sqlite_url, tmp_path):
    """Two jobs write two tables, each with its own log: `runs` in a [[table]] is read for that table only (it was
    refused as an unknown field, and one global log was matched against every table); a table without its own
    reads the top-level one. A bad own log stops the scan before the database is asked (exit 2)."""
    _events(sqlite_url)
    run_statements(sqlite_url, "CREATE TABLE copies AS SELECT * FROM events")
    (tmp_path / "logs").mkdir()
    _run_lines(tmp_path / "logs" / "export.jsonl")
    (tmp_path / "other.jsonl").write_text(json.dumps({"start": _iso(0.1), "end": _iso(3), "job": "other"}) + "\n")
    config = tmp_path / "dupfinder.toml"
    table = 'key = ["account"]\nts = "ts"\nwriters = { process = "pid" }\n'
    config.write_text(f'database = "{sqlite_url}"\nruns = "other.jsonl"\n\n[[table]]\nname = "events"\n{table}'
                      f'runs = ["logs/export.jsonl"]\n\n[[table]]\nname = "copies"\n{table}')
    result = CliRunner().invoke(main, ["scan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    own, other = (t["clusters"][0]["rows"] for t in json.loads(result.output)["tables"])
    assert [row["run"] for row in own] == [["export.jsonl:1"], ["export.jsonl:2"]]
    assert [row["run"] for row in other] == [["other.jsonl:1"], ["other.jsonl:1"]]
    config.write_text(config.read_text().replace("logs/export.jsonl", "logs/missing.jsonl")
                      .replace(sqlite_url, "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"))
    bad = CliRunner().invoke(main, ["scan", "--config", str(config)])
    assert bad.exit_code == 2 and "cannot be read" in bad.output, bad.output


def test_copies_in_two_of_a_pools_logged_runs_are_not_a_second_run(sqlite_url, tmp_path):
    """A real multiprocessing pool whose workers each log their own run of one job (tests/real/pool.py) had a
    few races read "the copies fall in 2 different runs" and answered duplicate_run at 0.85. With five runs of
    the job active at once the copies' two runs are workers of one pool: the job log counts how many were
    active (``concurrent``) and the reading is "among several", which does not speak for a second run."""
    _events(sqlite_url)
    workers = [{"start": _iso(0.5), "end": _iso(2), "job": "export", "host": "h", "process": pid, "run": f"w{pid}"}
               for pid in (11, 12, 13, 14, 15)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in workers))
    _run_lines(tmp_path / "two.jsonl")
    found = {}
    for name in ("pool", "two"):
        result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts",
                                           "ts", "--writer", "process=pid", "--runs", str(tmp_path / f"{name}.jsonl"),
                                           "--format", "json"])
        assert result.exit_code == 1, result.output
        (found[name],) = json.loads(result.output)["tables"][0]["clusters"]
    pool, two = found["pool"]["evidence"], found["two"]["evidence"]
    assert (pool["job_runs"]["verdict"], pool["job_runs"]["concurrent"]) == ("two_runs", 5)
    assert (pool["observations"]["runs"], two["observations"]["runs"]) == ("among several", "two runs")
    assert "while 5 runs of the job were active at once" in found["pool"]["explanation"]
    assert two["job_runs"]["concurrent"] == 2


def _consumers(url: str, path, a_end: float, b_start: float, run_ids=("a-1", "b-1")) -> list[dict]:
    """Two workers consume one queue: worker a settles accounts 0-5 (1.0-1.5 s), worker b accounts 100-129
    (0.5-7.75 s), and accounts 4 and 5 are written again by worker b at 4.5 s; the supervisor's log holds each
    worker's lifetime as one run of the consumer. Returns the clusters."""
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime), sa.Column("host", sa.String(20))]
    rows = [{"id": n, "account": n, "ts": T0 + timedelta(seconds=1 + n / 10), "host": "worker-a"} for n in range(6)]
    rows += [{"id": 10 + n, "account": n, "ts": T0 + timedelta(seconds=4.5 + n / 100), "host": "worker-b"}
             for n in (4, 5)]
    rows += [{"id": 100 + n, "account": 100 + n, "ts": T0 + timedelta(seconds=0.5 + n / 4 + 0.003), "host": "worker-b"}
             for n in range(30)]
    make_table(url, "events", columns, rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"start": _iso(0), "end": _iso(a_end), "job": "consumer", "host": "worker-a", "run": run_ids[0]},
        {"start": _iso(b_start), "end": _iso(9), "job": "consumer", "host": "worker-b", "run": run_ids[1]}]))
    result = CliRunner().invoke(main, ["scan", url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--writer", "host=host", "--window", "10s", "--runs", str(path),
                                       "--format", "json"])
    assert result.exit_code == 1, result.output
    return json.loads(result.output)["tables"][0]["clusters"]


@pytest.mark.parametrize(("a_end", "b_start", "reading", "handover"), [
    (2.0, 0.0, "taken over", True),   # a killed at 2 s; b, running all along, got its unacknowledged work at 4.5 s
    (6.0, 0.0, "two runs", False),    # a still running when b wrote the copies: two runs at once
    (2.0, 3.0, "two runs", False),    # b started after a's copies: a second run, not a consumer taking over
])
def test_a_run_that_died_and_one_running_since_before_that_redid_its_work_took_it_over(
        sqlite_url, tmp_path, a_end, b_start, reading, handover):
    """A Celery worker SIGKILLed holding unacknowledged tasks, redelivered to the other host's worker (the
    celery_kill scenario): read as "two runs" it was multi_host 53% against retry 47%."""
    clusters = _consumers(sqlite_url, tmp_path / "consumers.jsonl", a_end, b_start)
    assert len(clusters) == 2
    for cluster in clusters:
        assert cluster["evidence"]["job_runs"]["handover"] is handover
        assert cluster["evidence"]["observations"]["runs"] == reading
    if handover:
        assert {c["mechanism"] for c in clusters} == {"retry"}, clusters[0]["explanation"]
        assert "took over what the first left unfinished" in clusters[0]["explanation"]


def test_a_run_id_two_hosts_ran_for_several_keys_is_not_called_a_redelivery(sqlite_url, tmp_path):
    """Two schedulers executing one logical run (a DAG run id) log it on each host: the job log's runs share the
    run id over every cluster, which is one run executed on each host, not a task delivered again."""
    logical = "scheduled__2026-11-03"
    shared = _consumers(sqlite_url, tmp_path / "dag.jsonl", 6.0, 0.0, (logical, logical))
    assert not any(c["evidence"]["job_runs"]["same_run_id"] for c in shared)
    assert not any("executed again" in c["explanation"] for c in shared), shared[0]["explanation"]


def test_a_run_the_pid_column_rules_out_is_named_not_denied(sqlite_url, tmp_path):
    """A supervisor logs each worker's lifetime under the main process's pid while the table records the pid
    of the child that wrote (the celery_kill scenario with writer columns and the log): the log's run is ruled
    out by the pid column, and the explanation said "no recorded run was active" although the run on that host
    was."""
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False), sa.Column("account", sa.Integer),
               sa.Column("ts", sa.DateTime), sa.Column("host", sa.String(20)), sa.Column("pid", sa.Integer)]
    make_table(sqlite_url, "events", columns, [
        {"id": 1, "account": 7, "ts": T0 + timedelta(seconds=1), "host": "worker-a", "pid": 21},
        {"id": 2, "account": 7, "ts": T0 + timedelta(seconds=4), "host": "worker-b", "pid": 31}])
    path = tmp_path / "consumers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"start": _iso(0), "end": _iso(2), "job": "consumer", "host": "worker-a", "process": 20},
        {"start": _iso(0), "end": _iso(9), "job": "consumer", "host": "worker-b", "process": 30}]))
    result = CliRunner().invoke(main, ["scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts",
                                       "--writer", "host=host", "--writer", "process=pid", "--window", "10s",
                                       "--runs", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    (cluster,) = json.loads(result.output)["tables"][0]["clusters"]
    assert cluster["evidence"]["job_runs"]["verdict"] == "none"  # the reading is unchanged: no run agrees
    said = cluster["explanation"]
    assert "no recorded run was active" not in said, said
    assert "active when copy 1 was written, on its host: consumer on worker-a pid 20" in said, said
    assert "pid 20 where copy 1 records 21: a log kept by a supervisor" in said, said
