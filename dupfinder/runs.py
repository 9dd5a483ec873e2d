"""Evidence from outside the table: the job runs that were active when each cluster row was written.

A run is an interval (start, end) with what the job log says about it: the job's name, its host, its
process id and its run id. Runs come from

- CSV files with a header (``start,end`` and any of ``job,host,process,run``; ``pid``, ``run_id``,
  ``task_id`` and ``name`` are read too),
- JSON lines with the same fields,
- plain log lines, through a regular expression with named groups (``--runs-pattern``): a line with
  ``start`` and ``end`` is one whole run; a line with ``ts`` and ``duration`` (seconds) is a run that
  ended at ``ts`` (Celery's "succeeded in 3.0s"); lines with ``ts`` and ``phase`` open a run when the
  phase's first such word reads like a start (running, started, begin, received) and close the open run of
  the same job, host, process and run id when it reads like an end (executed, succeeded, finished, done,
  failed, ...).
  ``job``, ``host``, ``process`` and ``run`` groups name the run.

Times are ISO 8601 (a comma before the fraction, as Python's logging writes it, is fine) or seconds since
the epoch; a time without an offset is read as UTC, and with ``--timezone`` also as wall time in that zone
(Python's logging writes the host's local time without an offset). Only cluster rows are matched, in Python,
after the scan: the table is never read for this.

A row matches a run when its timestamp falls inside the run (± ``slack`` for log rounding and clock
offsets) and no writer column of the row contradicts the run (host, process or run id differ).
"""

from __future__ import annotations

import bisect
import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .attribution import jobruns, writercols
from .errors import UsageError
from .words import count

if TYPE_CHECKING:
    from .cluster import Cluster
    from .findings import TableResult

IDENTITY = ("host", "process", "run")
WORDS = {"host": "host", "process": "pid", "run": "run id"}  # a role as a log names it
ALIASES = {"pid": "process", "hostname": "host", "run_id": "run", "task_id": "run", "execution": "run", "name": "job",
           "begin": "start", "started": "start", "started_at": "start", "finished": "end", "ended_at": "end",
           "finished_at": "end"}
START_WORDS = ("running", "started", "start", "starting", "begin", "received", "launch", "launched")
END_WORDS = ("executed", "succeeded", "success", "finished", "finish", "done", "completed", "end", "failed",
             "raised", "error", "exception", "exited")
# seconds a row may fall outside a run and still match it: log times are cut to milliseconds. It assumes the
# database's clock and the job hosts' clocks agree; a larger slack makes short runs next to each other
# (queue tasks milliseconds long) all match every row (measured on the Celery scenario: 0.5 s matched 42 runs).
DEFAULT_SLACK = 0.002
# A column keeping whole seconds (epoch seconds in an INTEGER, timestamp(0), DATETIME) says only the second:
# a row was written up to a second after its timestamp when the writer cut the time, half a second before it
# when the database rounded it. Read as a point, a copy written 0.4 s into a run that started 0.25 s into that
# second fell "outside any run" (a settlement client's retry, epoch seconds on SQLite).
WHOLE_SECOND_BEFORE_US = 500_000
WHOLE_SECOND_AFTER_US = 1_000_000


@dataclass(frozen=True)
class Run:
    """One run of a job, from a job-run file or log."""

    id: str
    start_us: int
    end_us: int
    job: str | None = None
    host: str | None = None
    process: str | None = None
    run: str | None = None
    source: str = ""
    naive: bool = False  # its times carried no offset: read as UTC, or as wall time in --timezone

    def label(self) -> str:
        """A name a person recognises: job, run id, host, process and the time it ran."""
        who = [f"on {self.host}" if self.host else "", f"pid {self.process}" if self.process else ""]
        start = datetime.fromtimestamp(self.start_us / 1e6, UTC).strftime("%H:%M:%S.%f")[:-3]
        end = datetime.fromtimestamp(self.end_us / 1e6, UTC).strftime("%H:%M:%S.%f")[:-3]
        head = self.job or "job"
        if self.run:
            head += f" run {self.run}"
        # a time the log wrote without an offset is shown as written: calling it UTC told an engineer reading a
        # log of Berlin wall times that the job ran an hour later than it did
        return " ".join(p for p in (head, *who, f"({start}-{end} {'log time' if self.naive else 'UTC'})") if p)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "job": self.job, "host": self.host, "process": self.process, "run": self.run,
                "start": datetime.fromtimestamp(self.start_us / 1e6, UTC).isoformat(),
                "end": datetime.fromtimestamp(self.end_us / 1e6, UTC).isoformat(), "source": self.source}


@dataclass(frozen=True)
class RunEvidence:
    """What the job runs say about one cluster: the runs each copy fell in, and the verdict.

    ``verdict`` is ``two_runs`` (each copy in exactly one run, two or more runs in all), ``one_run`` (every copy
    in the same single run), ``overlapping`` (runs were active together and the logs cannot say which wrote
    which copy), or ``none`` (some copy fell in no recorded run).
    """

    rows: tuple[tuple[str, ...], ...]
    runs: tuple[Run, ...]
    verdict: str
    sentence: str
    concurrent: int = 0  # runs of the copies' job(s) active when the first copy was written (any writer)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "rows": [list(r) for r in self.rows],
                "runs": [r.as_dict() for r in self.runs], "concurrent": self.concurrent}


def parse_time(text: str) -> int:
    """Microseconds since the epoch from ISO 8601 or epoch seconds; no offset means UTC.

    >>> parse_time("2026-11-01 05:30:00,250")
    1793511000250000
    >>> parse_time("2026-11-01T01:30:00.25-04:00") == parse_time("1793511000.25")
    True
    """
    return _parse_time(text)[0]


def _parse_time(text: str) -> tuple[int, bool]:
    """``parse_time`` and whether the text was an ISO time without an offset (a wall time of some zone)."""
    text = text.strip()
    naive = False
    try:
        seconds = float(text)
    except ValueError:
        iso = re.sub(r"(\d\d:\d\d:\d\d),(\d)", r"\1.\2", text).replace("Z", "+00:00")
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment, naive = moment.replace(tzinfo=UTC), True
        try:
            seconds = moment.timestamp()
        except (OverflowError, ValueError):
            raise ValueError(f"time out of range: {text!r}") from None
    if not _MIN_S <= seconds <= _MAX_S:  # also NaN
        raise ValueError(f"time out of range: {text!r}")
    return round(seconds * 1_000_000), naive


_MIN_S, _MAX_S = 0.0, 253_402_300_799.0  # 1970 to the end of year 9999: what a datetime can show


def compile_pattern(pattern: str) -> re.Pattern:
    """Check a --runs-pattern: a valid regex with the named groups that make runs out of log lines."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--runs-pattern is not a valid regular expression: {err}") from None
    groups = set(regex.groupindex)
    if not ({"start", "end"} <= groups or {"ts", "duration"} <= groups or {"ts", "phase"} <= groups):
        raise UsageError("--runs-pattern needs named groups (?P<start>...) and (?P<end>...), or (?P<ts>...) "
                         "with (?P<duration>...) or (?P<phase>...); it may also name job, host, process, run")
    return regex


def read_runs(paths: Iterable[str | Path], pattern: str | None = None,
              warnings: list[str] | None = None) -> tuple[Run, ...]:
    """Read every run from CSV, JSON-lines or log files (logs through ``pattern``), sorted by start.

    Runs whose start line has no end line are no runs (how long they ran is unknown), and an end line with no
    open run closes nothing; ``warnings`` gets a sentence per file naming them, so the scan can say so.
    """
    regex = compile_pattern(pattern) if pattern else None
    runs: list[Run] = []
    for path in paths:
        path = Path(path)
        seen: dict[str, Any] = {"matched": 0, "no_phase": 0, "unclosed_runs": [], "orphan_ends": []}
        try:
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                found = list(_read_csv(handle, path) if path.suffix.lower() == ".csv"
                             else _read_lines(handle, path, regex, seen))
        except OSError as err:
            raise UsageError(f"runs file {str(path)!r} cannot be read: {err.strerror or err}") from None
        if not found:
            raise UsageError(f"runs file {str(path)!r} holds no job run"
                             + ("" if path.suffix.lower() == ".csv" or regex is None else _why_no_run(seen)))
        runs.extend(found)
        if warnings is not None:
            warnings.extend(_left_out(seen))
    return tuple(sorted(runs, key=lambda r: (r.start_us, r.end_us, r.id)))


def _text(fields: dict[str, Any]) -> dict[str, str | None]:
    named = {ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in fields.items() if k}
    return {k: (None if v is None or str(v).strip() == "" else str(v).strip()) for k, v in named.items()}


def _named(fields: dict[str, Any], source: str, start_us: int, end_us: int, naive: bool = False) -> Run:
    text = _text(fields)
    return Run(id=source, start_us=start_us, end_us=end_us, job=text.get("job"), host=text.get("host"),
               process=text.get("process"), run=text.get("run"), source=source, naive=naive)


def _run(fields: dict[str, Any], source: str) -> Run:
    text = _text(fields)
    if not text.get("start") or not text.get("end"):
        raise UsageError(f"{source}: a run needs a start and an end time")
    try:
        (start, naive), (end, _) = _parse_time(text["start"]), _parse_time(text["end"])
    except ValueError:
        raise UsageError(f"{source}: cannot read the time {text['start']!r} or {text['end']!r} "
                         "(ISO 8601 or seconds since the epoch)") from None
    if end < start:
        raise UsageError(f"{source}: the run ends before it starts")
    return _named(fields, source, start, end, naive)


def _read_csv(handle, path: Path) -> Iterator[Run]:
    reader = csv.DictReader(handle)
    names = {ALIASES.get(n.strip().lower(), n.strip().lower()) for n in reader.fieldnames or []}
    if not {"start", "end"} <= names:
        raise UsageError(f"runs file {str(path)!r}: the CSV header needs start and end columns")
    for row in reader:
        yield _run(row, f"{path.name}:{reader.line_num}")


def _why_no_run(seen: dict[str, int]) -> str:
    """Why the log lines that --runs-pattern matched made no run, from what ``_read_lines`` counted."""
    if not seen["matched"]:
        return ": no line matches --runs-pattern"
    why = [f"{count(seen['matched'], 'line')} {'matches' if seen['matched'] == 1 else 'match'} --runs-pattern "
           "but none closes a run"]
    if seen["no_phase"]:
        why.append(f"the phase of {seen['no_phase']} holds neither a start word nor an end word "
                   f"(start words: {', '.join(START_WORDS)}; end words: {', '.join(END_WORDS)})")
    if seen["unclosed_runs"]:
        unclosed = len(seen["unclosed_runs"])
        starts = "starts and never ends" if unclosed == 1 else "start and never end"
        why.append(f"{count(unclosed, 'run')} {starts} (a crashed job leaves no end line)")
    return ": " + "; ".join(why)


def _read_lines(handle, path: Path, regex: re.Pattern | None, seen: dict[str, int]) -> Iterator[Run]:
    """Runs from JSON lines and, through ``regex``, log lines; ``seen`` counts the matches that made none."""
    open_runs: dict[tuple, tuple[int, str, dict[str, str]]] = {}
    for number, line in enumerate(handle, start=1):
        source = f"{path.name}:{number}"
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as err:
                raise UsageError(f"{source}: not valid JSON ({err.msg})") from None
            if not isinstance(doc, dict):
                raise UsageError(f"{source}: a JSON line must be an object with start and end")
            yield _run(doc, source)
            continue
        if regex is None:
            raise UsageError(f"{source}: neither JSON nor CSV; give --runs-pattern REGEX with named groups to "
                             "read runs from log lines")
        match = regex.search(line)
        if match:
            seen["matched"] += 1
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            if "ts" in groups and "duration" not in groups and _phase(groups.get("phase", "")) is None:
                seen["no_phase"] += 1
            yield from _from_match(groups, source, open_runs, seen["orphan_ends"])
    seen["unclosed_runs"] = [_named(fields, first, start, start, naive)
                             for start, first, fields, naive in open_runs.values()]


def _from_match(groups: dict[str, str], source: str, open_runs: dict, orphan_ends: list[str]) -> Iterator[Run]:
    if "start" in groups and "end" in groups:
        yield _run(groups, source)
        return
    if "ts" not in groups:
        return
    try:
        ts, naive = _parse_time(groups["ts"])
    except ValueError:
        raise UsageError(f"{source}: cannot read the time {groups['ts']!r}") from None
    ident = tuple(groups.get(k) for k in ("job", *IDENTITY))
    if "duration" in groups:
        try:
            seconds = float(groups["duration"])
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= _MAX_S:  # also NaN
            raise UsageError(f"{source}: the duration {groups['duration']!r} is not a number of seconds")
        yield _named(groups, source, ts - round(seconds * 1_000_000), ts, naive)
        return
    kind = _phase(groups.get("phase", ""))
    if kind == "end":
        opened = open_runs.pop(ident, None)
        if opened is None:
            orphan_ends.append(source)
        else:
            start, first, fields, naive = opened
            yield _named(fields, first, start, ts, naive)
    elif kind == "start":
        open_runs[ident] = (ts, source, groups, naive)


def _phase(text: str) -> str | None:
    """Whether a log line's phase text opens or closes a run: its first start or end word decides.

    >>> _phase('Running job "send_report'), _phase('Job "restart_all" executed successfully'), _phase("retrying")
    ('start', 'end', None)
    """
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in START_WORDS:
            return "start"
        if word in END_WORDS:
            return "end"
    return None


def _instants_us(ts_us: int, reading: str, zone: str | None) -> tuple[int, ...]:
    """A row's timestamp as instants. Aware columns hold instants; a naive column holds either UTC or wall
    time in the scheduler's zone, and a wall time in the hour a fall-back repeats is two instants."""
    if reading != "local" or not zone:
        return (ts_us,)
    from zoneinfo import ZoneInfo

    try:
        wall = datetime.fromtimestamp(ts_us / 1e6, UTC).replace(tzinfo=ZoneInfo(zone))
        return tuple(sorted({round(wall.replace(fold=f).timestamp() * 1_000_000) for f in (0, 1)}))
    except (OverflowError, OSError, ValueError):  # a timestamp no datetime can hold: no run matches it anyway
        return (ts_us,)


def _wall_us(wall_us: int, zone: str) -> int:
    """A wall time of ``zone`` (microseconds as if UTC) as an instant; the first pass through a repeated hour."""
    from zoneinfo import ZoneInfo

    wall = datetime.fromtimestamp(wall_us / 1e6, UTC).replace(tzinfo=ZoneInfo(zone))
    return round(wall.timestamp() * 1_000_000)


def _agrees(row_writer: dict[str, Any], run: Run) -> bool:
    for role in IDENTITY:
        mine, theirs = row_writer.get(role), getattr(run, role)
        if mine is not None and theirs is not None and str(mine) != theirs:
            return False
    return True


class RunIndex:
    """Runs sorted by start, to find the runs active at a moment without walking every run."""

    def __init__(self, runs: Iterable[Run], slack: float = DEFAULT_SLACK, warnings: Iterable[str] = ()) -> None:
        self.runs = tuple(sorted(runs, key=lambda r: r.start_us))
        self.warnings = tuple(warnings)  # what read_runs left out of the log (runs never ended, stray end lines)
        self.starts = [r.start_us for r in self.runs]
        self.longest = max((r.end_us - r.start_us for r in self.runs), default=0)
        self.slack_us = round(slack * 1_000_000)

    def in_zone(self, zone: str) -> RunIndex | None:
        """The same runs with the times their log wrote without an offset read as wall time in ``zone``
        (None when every time carried one): a job host logging local time beside a table in UTC."""
        if not any(r.naive for r in self.runs):
            return None
        moved = [replace(r, start_us=_wall_us(r.start_us, zone), naive=False,
                         end_us=max(_wall_us(r.end_us, zone), _wall_us(r.start_us, zone)))
                 if r.naive else r for r in self.runs]
        return RunIndex(moved, self.slack_us / 1_000_000, self.warnings)

    def active(self, at_us: int, writer: dict[str, Any] | None = None, before_us: int = 0,
               after_us: int = 0) -> list[Run]:
        """Runs active at ``at_us``, or at any moment from ``before_us`` before it to ``after_us`` after it
        (a timestamp cut or rounded to whole seconds was written somewhere in that span)."""
        hi = bisect.bisect_right(self.starts, at_us + after_us + self.slack_us)
        lo = bisect.bisect_left(self.starts, at_us - before_us - self.slack_us - self.longest)
        return [r for r in self.runs[lo:hi]
                if r.end_us + self.slack_us >= at_us - before_us and (writer is None or _agrees(writer, r))]


def runs_evidence(cluster: Cluster, index: RunIndex, reading: str = "utc", zone: str | None = None,
                  whole_seconds: bool = False) -> RunEvidence:
    """Match each row of one cluster to the runs active when it was written (the attribution's job-run
    evidence); rows keep only runs their writer columns do not contradict. ``reading`` says how a naive
    timestamp is read: ``utc`` (also right for aware columns) or ``local`` (wall time in ``zone``).
    With ``whole_seconds`` (a column keeping whole seconds) a row was written up to a second after its
    timestamp (epoch seconds cut by ``int(time.time())``) or half a second before it (rounded: timestamp(0)),
    so it matches the runs active at any moment then: a run starting 0.25 s into that second wrote it too."""
    before_us, after_us = (WHOLE_SECOND_BEFORE_US, WHOLE_SECOND_AFTER_US) if whole_seconds else (0, 0)
    per_row = []
    for row in cluster.rows:
        matched: dict[str, Run] = {}
        for at in _instants_us(row.ts_us, reading, zone):
            matched.update((r.id, r) for r in index.active(at, row.writer, before_us, after_us))
        per_row.append(sorted(matched.values(), key=lambda r: r.start_us))
    seen: dict[str, Run] = {}
    for matched in per_row:
        for run in matched:
            seen.setdefault(run.id, run)
    runs = tuple(seen.values())
    rows = tuple(tuple(r.id for r in matched) for matched in per_row)
    concurrent = _concurrent(cluster, index, runs, reading, zone, (before_us, after_us))
    if any(not matched for matched in rows):
        missing = [n for n, matched in enumerate(rows) if not matched]
        verdict = "none"
        sentence = _outside_runs(cluster, index, missing, runs, reading, zone, (before_us, after_us))
    elif len(runs) == 1:
        verdict, sentence = "one_run", f"job logs: every copy was written during one run, {runs[0].label()}"
    elif all(len(m) == 1 for m in rows):
        verdict = "two_runs"
        sentence = f"job logs: the copies were written by {len(runs)} different runs, {_names(runs)}"
    else:
        verdict = "overlapping"
        sentence = (f"job logs: {len(runs)} runs were active together when the copies were written, "
                    f"{_names(runs)}; the logs cannot say which run wrote which copy")
    return RunEvidence(rows=rows, runs=runs, verdict=verdict, sentence=sentence, concurrent=concurrent)


def _outside_runs(cluster: Cluster, index: RunIndex, missing: list[int], runs: tuple[Run, ...], reading: str,
                  zone: str | None, span: tuple[int, int]) -> str:
    """Why copies (``missing``, row positions) fell in no run, said truly: no run was active then, or runs were
    and the copy's own writer columns rule them out. A supervisor logging each Celery worker's lifetime under
    the main process's pid, beside a table recording the child's pid that wrote: the run on that host was
    active, and "no recorded run was active" said it was not."""
    numbers = [str(n + 1) for n in missing]
    copies = f"copy {numbers[0]} was" if len(numbers) == 1 else f"copies {' and '.join(numbers)} were"
    seen = f" (runs seen: {_names(runs)})" if runs else ""
    for n in missing:  # the first of them written while some run was active
        row = cluster.rows[n]
        active = {r.id: r for at in _instants_us(row.ts_us, reading, zone) for r in index.active(at, None, *span)}
        if active:
            break
    else:
        return f"job logs: no recorded run was active when {copies} written{seen}"
    # the runs of the copy's own host where it records one and they ran then; else every run active then
    ruled = tuple(r for r in active.values() if _agrees({"host": row.writer.get("host")}, r)) or tuple(active.values())
    run = ruled[0]
    differ = [role for role in IDENTITY if not _agrees({role: row.writer.get(role)}, run)]
    said = " and ".join(f"{WORDS[role]} {getattr(run, role)} where copy {n + 1} records {row.writer[role]}"
                        for role in differ)
    same_host = row.writer.get("host") is not None and str(row.writer["host"]) == run.host
    if same_host and "process" in differ:
        said += ": a log kept by a supervisor or parent process records its own pid, not the writing worker's"
    return (f"job logs: no run the copies' writer columns agree with was active when {copies} written{seen}; "
            f"active when copy {n + 1} was written{', on its host' if same_host else ''}: {_names(ruled)}, {said}")


def _concurrent(cluster: Cluster, index: RunIndex, runs: tuple[Run, ...], reading: str, zone: str | None,
                span: tuple[int, int]) -> int:
    """How many runs of the copies' job(s) were active when the first copy was written, whoever wrote them.
    Two runs of a job that ran twice are two; the workers of one pool, each logging its own run (a real
    multiprocessing pool of eight logged eight runs of one job), are as many as the pool: copies in two of
    them are a race between workers, not a second run of the job."""
    jobs = {r.job for r in runs}
    if not runs or None in jobs:
        return len(runs)
    first = min(cluster.rows, key=lambda r: r.ts_us)
    active = {r.id for at in _instants_us(first.ts_us, reading, zone)
              for r in index.active(at, None, *span) if r.job in jobs}
    return max(len(active), len(runs))


def _names(runs: tuple[Run, ...], shown: int = 4) -> str:
    """Name up to ``shown`` runs (a run id executed twice, a redelivery, shows its executions side by side)."""
    ordered = sorted(runs, key=lambda r: (r.run or "", r.start_us))
    labels = [r.label() for r in ordered[:shown]]
    text = " and ".join(labels) if len(labels) <= 2 else ", ".join(labels[:-1]) + f" and {labels[-1]}"
    if len(runs) > shown:
        text = f"{', '.join(labels)} and {len(runs) - shown} more"
    jobs = {r.job for r in runs}
    return f"{text} (all of job {next(iter(jobs))})" if len(runs) > 1 and len(jobs) == 1 and None not in jobs else text


def table_evidence(table: TableResult, index: RunIndex) -> tuple[str, str, list[RunEvidence]]:
    """Job-run evidence for every cluster of a table, how its timestamps were read and how the log's times
    without an offset were (``UTC`` or the zone).

    With ``--timezone`` a naive column is read both as UTC and as wall time in that zone, and the log's naive
    times as UTC and as wall time there (a table stamped by a server in UTC beside a job logging local time);
    the reading under which more cluster rows fall inside a recorded run wins (UTC on a tie) and is reported.
    """
    zone = table.spec.timezone
    readings = [("utc", "UTC", index)]
    if zone and table.ts_timezone_aware is False:
        readings.append(("local", "UTC", index))
    local_logs = index.in_zone(zone) if zone else None
    if local_logs is not None:
        readings.append(("utc", zone, local_logs))
    from .cluster import whole_seconds

    whole = whole_seconds(table.clusters)
    best: tuple[int, str, str, list[RunEvidence]] | None = None
    for reading, logs_read_as, runs in readings:
        found = [runs_evidence(c, runs, reading, zone, whole) for c in table.clusters]
        matched = sum(1 for e in found for ids in e.rows if ids)
        if best is None or matched > best[0]:
            best = (matched, reading, logs_read_as, found)
    assert best is not None
    return best[1], best[2], best[3]


def handovers(clusters: tuple[Cluster, ...], found: list[RunEvidence], reading: str, zone: str | None) -> set[int]:
    """The clusters whose copies two runs wrote as a handover: every cluster of that pair of runs has its
    first copy in one run and its later copies in the other, the first run ended before any later copy was
    written, and the other had been running since before any first copy. A consumer that outlived a killed
    one and got its unacknowledged messages leaves exactly that (a real Celery worker SIGKILLed, its tasks
    delivered again to the other host's worker 2 s later, each worker's lifetime logged as one run); two runs
    of a job write copies while both run, or the second starts after the first copies (a run on a standby
    whose clock is late)."""
    pairs: dict[tuple[str, str], list[int]] = defaultdict(list)  # (first copy's run, later copies' run)
    for n, evidence in enumerate(found):
        if evidence.verdict == "two_runs" and len(evidence.runs) == 2:
            first, *later = (ids[0] for ids in evidence.rows)  # two_runs: each copy in exactly one run
            if later and first not in later:
                pairs[(first, later[0])].append(n)
    handed: set[int] = set()
    for (first, later), members in pairs.items():
        if (later, first) in pairs:
            continue
        runs = {r.id: r for r in found[members[0]].runs}
        stamps = [[_instants_us(r.ts_us, reading, zone)[0] for r in clusters[n].rows] for n in members]
        if runs[later].start_us < min(s[0] for s in stamps) and runs[first].end_us < min(min(s[1:]) for s in stamps):
            handed.update(members)
    return handed


def annotate(table: TableResult, index: RunIndex) -> TableResult:
    """Record job-run evidence on every cluster, before attribution reads it.

    Each row gets ``runs`` (the ids of the runs active when it was written; the findings' ``run``). The
    cluster gets ``evidence["runs"]``, one list of run labels per row in row order (what the attribution's
    job-run evidence reads), and ``evidence["job_runs"]``: the verdict, the run ids per row, the runs, the
    sentence for the explanation, whether the copies' runs share one run id (the same task or run executed
    again: a redelivery) and how a naive timestamp was read.
    """
    reading, logs_read_as, found = table_evidence(table, index)
    handed = handovers(table.clusters, found, reading, table.spec.timezone)
    spans = Counter(frozenset(r.id for r in e.runs) for e in found)
    clusters = []
    for n, (cluster, evidence) in enumerate(zip(table.clusters, found, strict=True)):
        rows = tuple(replace(r, runs=ids) for r, ids in zip(cluster.rows, evidence.rows, strict=True))
        by_id = {r.id: r for r in evidence.runs}
        labels = [[by_id[i].label() for i in ids] for ids in evidence.rows]
        run_ids = {r.run for r in evidence.runs}
        # a late-ack redelivery starts while the first execution still runs, so "overlapping" counts too; a run
        # id two hosts both ran for several keys is one logical run executed on each, not a task delivered again
        same_run_id = (evidence.verdict in ("two_runs", "overlapping") and len(evidence.runs) > 1
                       and len(run_ids) == 1 and None not in run_ids
                       and not writercols.one_per_host({r.host for r in evidence.runs}, spans[frozenset(by_id)]))
        sentence = evidence.sentence
        if same_run_id:
            sentence += f": run id {next(iter(run_ids))} executed again (a redelivery or retry of the same run)"
        read_as = ("instants" if table.ts_timezone_aware else "UTC") if reading == "utc" else table.spec.timezone
        doc = {**evidence.as_dict(), "same_run_id": same_run_id, "sentence": sentence, "timestamps_read_as": read_as,
               "log_times_read_as": logs_read_as, "handover": n in handed}
        clusters.append(replace(cluster, rows=rows, evidence={**cluster.evidence, "runs": labels, "job_runs": doc}))
    warned = index.warnings if clusters else ()
    hint = _zone_hint(table, index, found)
    return replace(table, clusters=tuple(clusters), warnings=(*table.warnings, *warned, *hint))


def _zone_hint(table: TableResult, index: RunIndex, found: list[RunEvidence]) -> tuple[str, ...]:
    """Say why no copy fell in any run when the log's times carry no offset, no --timezone was given and the
    runs lie within 14 hours of the copies: a job logging its host's local time beside a table in UTC matched
    nothing, and the scan said only "no recorded run was active"."""
    if table.spec.timezone or not found or any(ids for e in found for ids in e.rows):
        return ()
    stamps = [r.ts_us for c in table.clusters for r in c.rows]
    margin = 14 * 3600 * 1_000_000
    near = [r for r in index.runs if r.naive and min(stamps) - margin <= r.start_us <= max(stamps) + margin]
    if not near:
        return ()
    return (f"job log: no copy fell in any of {count(len(near), 'run')} logged near them; the log's times carry "
            "no offset and were read as UTC: if the job logs its host's local time, give --timezone ZONE",)


def _left_out(seen: dict[str, Any], shown: int = 4) -> list[str]:
    """What one log file's lines left out, said: runs with a start line and no end line (killed, crashed,
    still running: their end is unknown, so copies they wrote count "outside any run", as if the log never saw
    that writer), and end lines that closed no run (a line mid-run holding an end word, "bank API error ...
    retrying", closed the run early, and its real end line then closed nothing)."""
    said = [_unclosed_warning(seen["unclosed_runs"], shown)] if seen["unclosed_runs"] else []
    if seen["orphan_ends"]:
        ends = seen["orphan_ends"]
        lines = ", ".join(ends[:shown]) + (f" and {len(ends) - shown} more" if len(ends) > shown else "")
        said.append(f"job log: {count(len(ends), 'end line')} closed no open run ({lines}): a line before it "
                    f"holding an end word ({', '.join(END_WORDS)}) may have closed its run early; make "
                    "--runs-pattern match only the lines that start and end a run")
    return said


def _unclosed_warning(unclosed: list[Run], shown: int) -> str:
    """The runs of one log that started and never ended, named."""
    named = [" ".join(p for p in (r.source, r.job, f"run {r.run}" if r.run else "", f"on {r.host}" if r.host else "",
                                  f"pid {r.process}" if r.process else "",
                                  datetime.fromtimestamp(r.start_us / 1e6, UTC).strftime("started %Y-%m-%d %H:%M:%S"))
                      if p) for r in unclosed[:shown]]
    more = f" and {len(unclosed) - shown} more" if len(unclosed) > shown else ""
    return (f"job log: {count(len(unclosed), 'run')} started and never ended ({'; '.join(named)}{more}): a killed "
            "or crashed run has no end line, so no copy is matched to it and the copies it wrote count as outside "
            "any run")


def explain(table: TableResult) -> TableResult:
    """Put what the job runs say, naming the runs, in each annotated cluster's explanation (after attribution
    wrote it): in place of the attribution's own words for that evidence where it used them (the fact was said
    twice: "fall in 2 different runs of the job log ... job logs: the copies were written by 2 different
    runs"), else at the end."""
    clusters = []
    for cluster in table.clusters:
        sentence = (cluster.evidence.get("job_runs") or {}).get("sentence")
        said = jobruns.words(cluster)
        if sentence and said and said in cluster.explanation:
            named = "in the job log, " + sentence.removeprefix("job logs: ")
            cluster = replace(cluster, explanation=cluster.explanation.replace(said, named, 1))
        elif sentence and sentence not in cluster.explanation:
            cluster = replace(cluster, explanation=f"{cluster.explanation}; {sentence}")
        clusters.append(cluster)
    return replace(table, clusters=tuple(clusters))


def attach(table: TableResult, index: RunIndex) -> TableResult:
    """Annotate an already attributed table and extend its explanations (library use, tests)."""
    return explain(annotate(table, index))
