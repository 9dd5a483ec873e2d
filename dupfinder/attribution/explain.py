"""The words: one sentence per cluster (what was decided and the evidence that moved it, by how much) and
one per incident (what happened and what to fix). Names come from the data; where the data has none the
text says what the writers were ("two runs", "one host"), never an empty name."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from ..cluster import Cluster
from ..words import count
from .model import Verdict, contributions
from .observe import Observation
from .timing import WHOLE_SECOND, apart
from .writercols import named, runs_per_host

WHAT = {
    "deploy_overlap": "two releases both ran the job",
    "multi_host": "two hosts both ran the job",
    "duplicate_run": "the job ran twice on one host",
    "worker_race": "concurrent workers raced on a check-then-act",
    "retry": "the same work was done again after a pause (a retry or redelivery)",
    "same_transaction": "one transaction inserted the key twice",
    "dst_fallback": "a local-time schedule fired twice when the clock went back",
    "unknown": "the evidence cannot tell",
}


def times(n: int) -> str:
    """How often, in words: ``twice``, ``three times``, ``4 times``."""
    return {1: "once", 2: "twice", 3: "three times"}.get(n, f"{n} times")


def who(values: Iterable[Any], fallback: str) -> str:
    """Up to three names joined, or ``fallback`` when there is no name at all.

    >>> who(["b", "a"], "two hosts"), who([None, ""], "two hosts")
    ('a and b', 'two hosts')
    """
    names = sorted({str(v) for v in values if v is not None and str(v).strip()})
    if not names:
        return fallback
    return " and ".join(names) if len(names) <= 3 else f"{', '.join(names[:3])} and {len(names) - 3} more"


def cluster_sentence(cluster: Cluster, verdict: Verdict, observations: list[Observation],
                     commits_off: bool, named_roles: set[str], whole: bool = False) -> str:
    """What was decided, the observations that moved it most (with their log-likelihood ratio against the
    runner-up), and for an abstention the shortlist and the signal that would settle it. ``whole``: the
    timestamps keep whole seconds (the span is said to the second)."""
    words = {f"{o.feature}={o.value}": o.words for o in observations}
    ranked = sorted(verdict.posterior.items(), key=lambda mp: -mp[1])
    if verdict.mechanism == "unknown":
        first, second = verdict.separates or (verdict.candidates[0][0], verdict.candidates[1][0])
        listed = ", ".join(f"{m} {p:.0%}" for m, p in verdict.candidates)
        text = f"{len(cluster.rows)} rows {apart(cluster.span_seconds, whole)}: either {listed}"
        against = next((m for m, _ in ranked if m not in {c for c, _ in verdict.candidates}), second)
        reasons = _reasons(contributions(verdict, against), words, positive_only=True, limit=3)
        if reasons:
            text += f" ({reasons})"
        text += f"; {verdict.signal} would separate {first} from {second}"
    else:
        runner = next(m for m, _ in ranked if m != verdict.mechanism)
        moved = contributions(verdict, runner)
        text = f"{WHAT[verdict.mechanism]}: " + (_reasons(moved, words, positive_only=True, limit=3) or "timing only")
        against = [(name, w) for name, w in moved if w < -0.5 and name in words]
        if against:  # evidence that spoke for the runner-up is named as such, never left to contradict
            name, weight = against[0]
            text += f"; against it: {words[name]} ({weight:+.1f}, for {runner})"
        if verdict.posterior[runner] >= 0.1:
            text += f"; {runner} is also possible ({runner_share(verdict, runner):.0%})"
    for key in ("heap_writers=two", "heap_writers=several", "runs=two runs", "runs=one run"):
        if key in words and words[key] not in text:  # who wrote, when the table names nobody: always said
            text += f"; {words[key]}"
    if verdict.mechanism == "multi_host":  # a host that ran the job twice itself, beside the other host
        runs = runs_per_host(cluster)
        text += "".join(f"; {host} wrote {sum(str(r.writer.get('host')) == host for r in cluster.rows)} of the "
                        f"{len(cluster.rows)} copies, in {n} runs: it ran the job {times(n)} itself"
                        for host, n in runs.items() if n >= 2)
    leftover = [w for key, w in words.items() if key not in verdict.weights]
    if leftover:
        text += "; also seen: " + "; ".join(leftover)
    involves = {verdict.mechanism, *(m for m, _ in verdict.candidates)}
    if (commits_off and involves & {"retry", "worker_race"} and not {"process", "run"} & named_roles
            and "track_commit_timestamp" not in (verdict.signal or "")):
        text += ("; commit timestamps (track_commit_timestamp = on) would tell whether the transactions overlapped "
                 "(a race) or followed each other (a retry)")
    return text


def runner_share(verdict: Verdict, runner: str) -> float:
    """The runner-up's share on the confidence's own scale: its part of the raw posterior the answer left,
    times what the calibration left (1 − confidence). The raw share beside a calibrated confidence read
    "worker_race 99% ... multi_host is also possible (31%)", 130% between them.

    >>> v = Verdict("worker_race", 0.87, {"worker_race": 0.64, "multi_host": 0.34, "retry": 0.02}, (), {})
    >>> round(runner_share(v, "multi_host"), 3)
    0.123
    """
    left = 1 - verdict.posterior[verdict.mechanism]
    return (1 - verdict.confidence) * verdict.posterior[runner] / left if left > 0 else 0.0


def _reasons(moved: list[tuple[str, float]], words: dict[str, str], positive_only: bool, limit: int) -> str:
    parts = (f"{words[name]} ({weight:+.1f})" for name, weight in moved
             if name in words and (weight > 0.05 or not positive_only))
    return "; ".join(itertools.islice(parts, limit))  # the first few written, not all


def incident_summary(mechanism: str, writers: list[dict[str, Any]], clusters: int, table_name: str,
                     gap: str, coverage: float | None, recurring: str | None, when: str,
                     candidates: list[str] | None = None, signal: str | None = None,
                     clock: str | None = None, copies: int = 2, again: dict[str, int] | None = None,
                     whole: bool = False) -> str:
    """One sentence a person can act on; every name it uses comes from the writers, or a description.
    ``copies``: the most rows one key of the incident has (a pool can write a key six times, not twice).
    ``again``: hosts that ran the job more than once themselves, and how often (incidents.ran_again).
    ``whole``: the timestamps keep whole seconds and ``gap`` is under one: the copies are said to be within the
    same second, not "a median under a second apart"."""
    def found(role: str) -> set[str]:
        return {str(w[role]).strip() for w in writers if named(w.get(role))}

    def several(role: str) -> str:
        """The role's names when two or more are recorded (one name cannot be "hosts ... both"), else ''."""
        return who(found(role), "") if len(found(role)) >= 2 else ""

    def together(role: str) -> str:
        """'both' for two names (or none recorded: "two hosts"), 'all' for three or more."""
        return "all" if len(found(role)) > 2 else "both"

    cover = f" ({coverage:.0%} of what the writers wrote then)" if coverage is not None else ""
    hosts, versions = several("host"), several("version")
    one_host = next(iter(found("host"))) if len(found("host")) == 1 else "One host"
    runs = several("process") or several("run")
    runs_text = f" ({runs})" if runs else ""
    keys = count(clusters, "key")
    twice = "twice" if copies <= 2 else f"up to {copies} times"
    spaced = WHOLE_SECOND if whole else f"a median {gap} apart"
    fix = "disable it on one host and lock the job."
    if again:  # a second launcher on one host besides the other host: "disable it on one host" leaves it running
        told = "; ".join(f"{host} ran the job {times(n)}" for host, n in again.items())
        once = sorted(found("host") - set(again))
        fix = (f"{told}{', ' + ' and '.join(once) + ' once' if once else ''}: keep exactly one scheduler entry on "
               "one host (remove the second one on " + " and ".join(again) + ") and lock the job.")
    text = {
        "multi_host": f"{'Hosts ' + hosts if hosts else 'Two hosts'} {together('host')} ran the job that writes "
                      f"{table_name}: "
                      f"{keys} written {twice}{cover}, {spaced}; {fix}",
        "duplicate_run": f"{one_host} ran the job {twice}{runs_text}: {keys} of "
                         f"{table_name} written {twice}{cover}, {spaced}; find the second scheduler "
                         "(a second cron entry or timer, or one the application starts in each worker process) "
                         "and keep one.",
        "worker_race": f"{'Workers ' + runs if runs else 'Concurrent workers'} raced on {keys} of "
                       f"{table_name}{cover}, {spaced}; make the claim atomic.",
        "retry": f"The same work was done twice: {keys} of {table_name} written again after a pause "
                 f"(median {gap}); make the handler idempotent.",
        "deploy_overlap": f"{'Releases ' + versions if versions else 'Two releases'} {together('version')} "
                          f"ran the job during a deploy: {keys} of {table_name} written {twice}; stop the "
                          "old release's scheduler first.",
        "same_transaction": f"One transaction inserted {keys} of {table_name} {twice}; fix the "
                            "application loop.",
        "dst_fallback": f"The job fired twice in the repeated hour of the clock change"
                        f"{' (' + clock + ')' if clock else ''}: {keys} of {table_name}; schedule it "
                        "in UTC.",
        "unknown": f"{keys} of {table_name} {'was' if clusters == 1 else 'were'} written {twice} {spaced}"
                   + (f", by {' or '.join(candidates)}" if candidates else "")
                   + f"; {signal or 'recording host and process on each row'} would settle it.",
    }[mechanism]
    text = f"{when}: {text}"
    if recurring:
        text += f" It recurs {recurring}."
    return text
