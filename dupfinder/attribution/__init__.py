"""Attribution: which writer wrote each row, by which mechanism, with a calibrated confidence.

The package is the attribute stage of the pipeline:

- evidence, one module per signal family, each returning named observations:
  ``writercols`` (which roles differ between the copies), ``transactions`` (xmin, heap blocks, ids,
  commit timestamps), ``timing`` (per writer pair: coverage, order and offsets of the copies, the gap
  against the writer's own pace, a recurring redelivery gap), ``clock`` (the autumn clock change, in every
  kind of timestamp column), ``jobruns`` (job runs from logs, ``--runs``);
- ``written``: what each writer wrote around the clusters, counted by the database (one statement per
  table);
- ``model``: the parameters (measured or reasoned, each documented) and the calibrated decision;
- ``explain``: the words; ``incidents``: grouping, recurrence, summaries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..cluster import Cluster, same_text, share, whole_seconds
from ..findings import TableResult
from ..writers import WriterColumn
from . import around, clock, jobruns, model, timing, transactions, writercols
from .clock import in_repeated_hour
from .explain import cluster_sentence
from .incidents import build as build_incidents
from .observe import Observation
from .written import Written

__all__ = ["attribute_table", "in_repeated_hour", "mode_of"]

RETRY_PAUSE_US = 250_000  # a copy this long after the previous copy's commit came after it, not with it
XMIN_REWRITE_SHARE = 0.5  # one xid on half the table: a bulk load, restore or rewrite, not the writers
MARGIN_S = 30.0           # coverage counts rows up to max(this, 10 windows) either side of an episode

Counter = Callable[[Sequence[tuple[int, int]], Sequence[str]], Written]


def mode_of(table: TableResult, data_roles: Sequence[WriterColumn] = ()) -> str:
    """'explicit' (--writer given), 'inferred' (roles found from names or data) or 'none'."""
    if not table.writers:
        return "inferred" if data_roles else "none"
    return "explicit" if all(w.reason.startswith("given") for w in table.writers) else "inferred"


def _xmin_trusted(table: TableResult) -> bool:
    share = table.xmin_top_share
    return share is not None and share < XMIN_REWRITE_SHARE


def attribute_table(table: TableResult, counter: Counter | None = None,
                    data_roles: Sequence[WriterColumn] = ()) -> TableResult:
    """Attribute every cluster of one table and group them into incidents. ``data_roles``: roles read from
    the data (attribution.roles), already on each row's writer."""
    clusters = list(table.clusters)
    if not clusters:
        return replace(table, signals=_signals(table, clusters, False))
    roles = {w.role for w in (*table.writers, *data_roles)}
    mode = mode_of(table, data_roles)
    xmin_ok = _xmin_trusted(table)
    anonymous = not roles
    pairs = [writercols.pair(c) if (roles or xmin_ok) else None for c in clusters]
    gap_us = int(table.spec.incident_gap * 1e6)
    margin_us = int(max(MARGIN_S, 10 * table.spec.window) * 1e6)
    eps = timing.episodes(clusters, pairs, gap_us)
    written = None
    if counter is not None:
        xids = sorted({r.xmin for c in clusters for r in c.rows if r.xmin is not None}) if anonymous and xmin_ok else []
        written = counter([(e.start_us - margin_us, e.end_us + margin_us) for e in eps], xids)
    if anonymous and written is not None:
        eps = _anonymous_pairs(eps, clusters, pairs, written, margin_us, gap_us)
    eps = [timing.measure(e, clusters, written, margin_us) for e in eps]
    episode_of = {i: e for e in eps for i in e.members}
    whole = whole_seconds(clusters)
    alike, peers = _gap_counts(clusters, eps)
    stamps = [[r.ts_us for r in c.rows] for c in clusters]
    chain = timing.chains(stamps) if anonymous else [None] * len(clusters)
    way = around.compare(stamps) if anonymous and not whole else [None] * len(clusters)
    spreads = {id(e): timing.spread(e, [clusters[i] for i in e.members], whole) for e in eps}
    wrote = timing.clusters_of(clusters) if not anonymous else {}
    # the clusters either writer of a pair wrote are read once per pair, not once per episode of it: one host
    # beside a table's every other (3,000 one-cluster episodes on a 2M-row DuckDB table) read 3,000 x 3,000
    # clusters, 2.1 s of a 2.7 s scan in process
    by_pair: dict[Any, Observation | None] = {}
    copied: dict[int, Observation | None] = {}
    for e in eps:
        per_pair = e.pair is not None and bool(wrote)  # written_by reads the pair's clusters, not the episode's
        if not per_pair or e.pair not in by_pair:
            found = timing.copies([clusters[i] for i in timing.written_by(e, wrote)])
            if per_pair:
                by_pair[e.pair] = found
        copied[id(e)] = by_pair[e.pair] if per_pair else found
    fixed = {id(e): timing.fixed_gap(e, [clusters[i] for i in e.members]) for e in eps}
    heap_writers = {id(e): transactions.writers([clusters[i] for i in e.members], xmin_ok) if anonymous
                    else transactions.UNKNOWN for e in eps}
    paired = {id(e): transactions.session_pair(heap_writers[id(e)], [clusters[i] for i in e.members], e.span_shared,
                                               timing.PAIR_SHARE) if anonymous else [] for e in eps}
    commits_off = table.commit_timestamps.startswith("off")
    have = _in_hand(table, clusters, roles, xmin_ok)
    readings: dict[Any, Any] = {}  # equal observations, posteriors and explanations held once (never changed)
    verdicts: dict[tuple, model.Verdict] = {}  # one decision per distinct reading (never changed)
    decided: list[Cluster] = []
    for i, cluster in enumerate(clusters):
        e = episode_of[i]
        same_host = len(writercols.distinct(cluster, "host")) <= 1 and len(writercols.distinct(cluster, "version")) <= 1
        batch = (e.pair is not None) if anonymous and xmin_ok and written is not None else None
        obs: list[Observation] = [
            *writercols.observe(cluster, roles, e.size),
            *transactions.observe(cluster, xmin_ok, RETRY_PAUSE_US, heap_writers[id(e)], batch),
            *paired[id(e)],
            *timing.observe(cluster, e, alike[i], whole, spreads[id(e)],
                            timing.neighbourhood(cluster, written, margin_us) if anonymous else None,
                            chain[i], peers[i], copied[id(e)]),
            *timing.at_fixed_gap(cluster, fixed[id(e)]),
            *clock.observe(cluster, table.ts_timezone_aware, table.spec.timezone, same_host),
            *jobruns.observe(cluster),
        ]
        local = next((o.value.split("|") for o in obs if o.feature == "gap_local"), None)
        if local is not None:  # the gap read against its neighbours' where the neighbourhood was read
            obs += around.observe(way[i], local[1] in ("most", "all") or local[-1] == "long")
        verdict = _decided(verdicts, obs, mode, roles, have)
        reading = clock.reading_of(cluster, table.ts_timezone_aware, table.spec.timezone)
        evidence: dict[str, Any] = {
            **cluster.evidence,
            "observations": share(readings, {o.feature: o.value for o in obs}),
            "posterior": share(readings, {m: round(p, 4) for m, p in verdict.posterior.items() if p >= 0.001}),
            "coverage": None if e.coverage is None else round(min(e.coverage), 4),
        }
        if e.rows is not None:
            evidence["writer_rows"] = list(e.rows)
        if reading:  # which reading of the column put the pair in the repeated hour, the local one too
            evidence["clock_reading"] = reading
            evidence["clock_local"] = clock.local_pair(
                cluster.start_us, "instant" if reading in ("instant", "utc") else "local", table.spec.timezone)
        if verdict.mechanism == "unknown":
            evidence["candidates"] = [{"mechanism": m, "confidence": round(p, 3)} for m, p in verdict.candidates]
            evidence["candidates_names"] = [m for m, _ in verdict.candidates]
            evidence["signal"] = verdict.signal
        sentence = cluster_sentence(cluster, verdict, obs, commits_off, roles, whole)
        hint = clock.zone_hint(cluster, table.ts_timezone_aware, table.spec.timezone)
        decided.append(replace(
            cluster, mechanism=verdict.mechanism, confidence=verdict.confidence,
            explanation=same_text(readings, f"{sentence}; {hint}" if hint else sentence), evidence=evidence))
    incidents, decided = build_incidents(decided, table)
    signals = _signals(table, decided, xmin_ok, written)
    signals["attribution_mode"] = mode
    signals["writer_roles_from_data"] = [{"role": w.role, "column": w.column, "reason": w.reason}
                                         for w in data_roles]
    return replace(table, clusters=tuple(decided), incidents=tuple(incidents), signals=signals)


def _decided(verdicts: dict, obs: Sequence[Observation], mode: str, roles: set[str],
             have: frozenset[str]) -> model.Verdict:
    """model.decide, once per distinct sequence of (feature, value): the decision reads nothing else (not the
    words), and the clusters of one incident mostly read alike (the 5M-row peers table, 2,500 clusters: the
    attribution's CPU went from 0.84 s to 0.37 s)."""
    key = tuple((o.feature, o.value) for o in obs)
    if key not in verdicts:
        verdicts[key] = model.decide(obs, mode, roles, have)
    return verdicts[key]


def _in_hand(table: TableResult, clusters: Sequence[Cluster], roles: set[str], xmin_ok: bool) -> frozenset[str]:
    """The evidence this scan had, or cannot have on this engine, in model.settling_signal's terms: what an
    abstention must not ask for (commit timestamps only while the setting is off: another reason they are
    missing, a permission or their age, is not fixed by turning it on)."""
    have = {"process" if role == "run" else role for role in roles}
    if table.info.dialect != "postgresql":
        have |= {"xmin", "commit"}
    elif xmin_ok:
        have.add("xmin")
    if not table.commit_timestamps.startswith("off"):
        have.add("commit")
    # a job log in which no copy of this table fell (another job's, another night's) settles nothing here
    logged = [c for c in clusters if (c.evidence.get("job_runs") or {}).get("runs")]
    if logged:
        have.add("runs")
        if all(jobruns.hosts_named(c) for c in logged):  # the job log names the host of every run
            have.add("host")
    return frozenset(have)


def _anonymous_pairs(eps, clusters, pairs, written: Written, margin_us: int, gap_us: int):
    """Without writer columns a transaction is a writer only when it wrote a batch: pairs of one-row
    transactions (one per claim, one per retry) say nothing about who wrote, so they join the unpaired."""
    keep = list(pairs)
    for e in eps:
        if e.pair is None:
            continue
        lo, hi = e.start_us - margin_us, e.end_us + margin_us
        if not all((written.rows(w, lo, hi) or 0) >= 2 for w in e.pair):
            for i in e.members:
                keep[i] = None
    return timing.episodes(clusters, keep, gap_us)


def _gap_counts(clusters: Sequence[Cluster], eps: Sequence[timing.Episode]) -> tuple[list[int], list[int]]:
    """For each cluster, how many clusters of other episodes have a gap within 10% of its own (the redelivery
    reading), and how many other clusters of its own episode do (the words must still count those)."""
    return timing.gap_counts([max(c.gaps_seconds, default=0.0) for c in clusters], [e.members for e in eps])


def _xmin_signal(table: TableResult, trusted: bool) -> str:
    if table.info.view:
        return "not available for a view (no xmin)"
    if table.info.dialect != "postgresql":
        return "not available on this engine"
    if table.xmin_top_share is None:
        # with clusters the share is read (clock.xmin_share); None then means the sample of a big table
        return "not read (no clusters)" if not table.clusters else "not read: the table sample held no rows"
    if not trusted:
        return (f"not trusted: one transaction id covers {table.xmin_top_share:.0%} of the rows "
                "(bulk load, restore or table rewrite)")
    return "usable"


def _commit_signal(table: TableResult, clusters: list[Cluster]) -> str:
    status = table.commit_timestamps
    if not status.startswith("usable"):
        return status
    if table.ts_timezone_aware is False:
        return "read, not compared: the timestamp column has no time zone"
    share = transactions.comparable_share(clusters)
    if share is not None and share < 0.5:
        return ("read, not compared: the timestamp column does not match the commit times (set by an "
                "application clock, or the rows were loaded from elsewhere)")
    return status


def _signals(table: TableResult, clusters: list[Cluster], xmin_ok: bool, written: Written | None = None) -> dict:
    """Which evidence was usable for this table, for the findings and the report."""
    ts_values = [r.ts_us for c in clusters for r in c.rows]
    whole = sum(1 for t in ts_values if t % 1_000_000 == 0)
    share = whole / len(ts_values) if ts_values else None
    signals: dict[str, Any] = {
        "writer_roles": sorted({w.role for w in table.writers}),
        "xmin": _xmin_signal(table, xmin_ok),
        "commit_timestamps": _commit_signal(table, clusters),
        "heap_blocks": ("not available for a view (no ctid)" if table.info.view else
                        "not available on this engine" if table.info.dialect != "postgresql" else
                        "used to tell writers apart (no writer columns)" if not table.writers and clusters else
                        "read, not needed (writer columns given or inferred)" if clusters else "not read"),
        "whole_second_timestamps_share": None if share is None else round(share, 4),
        "coverage_statements": 0 if written is None else written.statements,
        "model": model.TUNING,
    }
    if share is not None and share >= 0.9:
        signals["timestamp_precision_warning"] = (
            "most timestamps have zero fractional seconds: the column likely stores whole seconds, which "
            "hides sub-second gaps between writers")
    return signals
