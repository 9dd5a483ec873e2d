"""CI gates: thresholds (``--fail-on``), a baseline of accepted findings (``--baseline``), and the short
outputs a pipeline reads (``--format summary`` and ``--format junit``).

Plain functions over the findings document; nothing here touches a database or prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .values import unnamed
from .words import count

MECHANISMS = ("deploy_overlap", "multi_host", "duplicate_run", "worker_race", "retry", "same_transaction",
              "dst_fallback", "unknown")
# metric -> (its noun, what follows it): "1 row in near-duplicate clusters", "3 rows in ..."
METRICS = {
    "clusters": ("near-duplicate cluster", ""),
    "rows": ("row", "in near-duplicate clusters"),
    "delete": ("row", "cleanup.sql would delete"),
    "divergent": ("divergent cluster", ""),
    "incidents": ("incident", ""),
    "far": ("far-duplicate key", ""),
    "mechanism": ("cluster", "attributed to a mechanism"),
    "possible": ("cluster", "attributed to a mechanism or holding it on an unknown's shortlist"),
}
# Metrics that take a mechanism's name. ``mechanism:NAME`` counts the clusters attributed to it, as findings.json's
# ``mechanism`` and the summary's ``mechanisms`` do (design.md's contract: a count pipelines already compare, never
# changed). An ``unknown`` whose shortlist holds the mechanism is not attributed to it: its confidence is the
# probability that the truth is one of the shortlist, and the shortlist may put the mechanism last. Yet a gate
# watching for retries passes silently where the evidence could not tell a retry from a second run, so
# ``possible:NAME`` counts both: the clusters named NAME and the ``unknown`` ones with NAME among their candidates.
NAMED_METRICS = ("mechanism", "possible")


def counted(metric: str, n: int) -> str:
    """A metric's count in words, singular for one.

    >>> counted("rows", 1), counted("delete", 2), counted("incidents", 0)
    ('1 row in near-duplicate clusters', '2 rows cleanup.sql would delete', '0 incidents')
    """
    head, tail = METRICS[metric]
    return " ".join(filter(None, (count(n, head), tail)))


_GATE = re.compile(r"^\s*(?P<metric>[a-z_]+)(?::(?P<argument>[a-z_]+))?\s*(?P<op>>=|>)\s*(?P<n>\d{1,12})\s*$")
GATE_SYNTAX = ("METRIC>N or METRIC>=N, METRIC one of clusters, rows, delete, divergent, incidents, far, "
               "mechanism:NAME, possible:NAME (e.g. --fail-on clusters>0 --fail-on mechanism:retry>5 --fail-on far>0)")


@dataclass(frozen=True)
class Gate:
    """One ``--fail-on`` threshold: fail when the metric's value is above it (``>``) or reaches it (``>=``)."""

    metric: str
    argument: str | None
    op: str
    threshold: int

    @property
    def text(self) -> str:
        name = f"{self.metric}:{self.argument}" if self.argument else self.metric
        return f"{name}{self.op}{self.threshold}"

    def trips(self, value: int) -> bool:
        return value > self.threshold if self.op == ">" else value >= self.threshold


def parse_gate(text: str) -> Gate:
    """Read one ``--fail-on`` value.

    >>> parse_gate("mechanism:retry>5").text
    'mechanism:retry>5'
    >>> parse_gate("clusters >= 1").trips(1)
    True
    """
    match = _GATE.match(text or "")
    if not match:
        raise UsageError(f"bad --fail-on {text!r}: write {GATE_SYNTAX}")
    metric, argument = match["metric"], match["argument"]
    if metric not in METRICS:
        raise UsageError(f"bad --fail-on {text!r}: unknown metric {metric!r}; write {GATE_SYNTAX}")
    if (metric in NAMED_METRICS) != (argument is not None):
        raise UsageError(f"bad --fail-on {text!r}: only mechanism and possible take a name, and need one "
                         "(mechanism:retry>0, possible:retry>0)")
    # every shortlist is an unknown's, so possible:unknown would count nothing
    names = MECHANISMS if metric == "mechanism" else tuple(m for m in MECHANISMS if m != "unknown")
    if argument is not None and argument not in names:
        raise UsageError(f"bad --fail-on {text!r}: unknown mechanism {argument!r}; one of {', '.join(names)}")
    return Gate(metric, argument, match["op"], int(match["n"]))


def parse_gates(texts: list[str] | tuple[str, ...]) -> tuple[Gate, ...]:
    return tuple(parse_gate(t) for t in texts)


# --- baseline -------------------------------------------------------------------------------------------

def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def row_identity(table: dict[str, Any], row: dict[str, Any]) -> str:
    """A row's identity across scans: its primary key; without one, its timestamp (row ids such as ctid
    change when a table is rewritten, timestamps do not)."""
    if table.get("primary_key"):
        return _canonical(row.get("pk"))
    return _canonical(row.get("ts"))


def cluster_identity(table: dict[str, Any], cluster: dict[str, Any]) -> tuple[str, str, frozenset[str]]:
    """(table, key, the identities of its rows): how a cluster is recognised in a later scan."""
    return (table["table"], _canonical(cluster.get("key")),
            frozenset(row_identity(table, r) for r in cluster.get("rows", [])))


@dataclass(frozen=True)
class Baseline:
    """The clusters (and far-duplicate keys) of an accepted earlier findings file."""

    path: str
    clusters: dict[tuple[str, str], list[frozenset[str]]]
    far_keys: dict[str, set[str]]
    far_unlisted: dict[str, int]

    def knows(self, table: dict[str, Any], cluster: dict[str, Any]) -> bool:
        """A cluster is known when the baseline has one with the same table and key holding every one of its
        rows: a row written since (a new copy) makes it new, a row cleaned up since does not."""
        name, key, rows = cluster_identity(table, cluster)
        return any(rows <= accepted for accepted in self.clusters.get((name, key), []))


def load_baseline(path: str) -> Baseline:
    """Read an accepted findings.json (validated like any findings file)."""
    from .findings import read_findings

    doc = read_findings(path)
    clusters: dict[tuple[str, str], list[frozenset[str]]] = {}
    far_keys: dict[str, set[str]] = {}
    far_unlisted: dict[str, int] = {}
    for table in doc["tables"]:
        for cluster in table.get("clusters", []):
            name, key, rows = cluster_identity(table, cluster)
            clusters.setdefault((name, key), []).append(rows)
        listed = table.get("far_duplicate_keys", [])
        far_keys.setdefault(table["table"], set()).update(_canonical(f.get("key")) for f in listed)
        far_unlisted[table["table"]] = far_unlisted.get(table["table"], 0) + max(
            0, int(table.get("far_duplicates", 0) or 0) - len(listed))
    return Baseline(str(path), clusters, far_keys, far_unlisted)


# --- evaluation -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableVerdict:
    table: str
    counts: dict[str, int]
    mechanisms: dict[str, int]
    new_clusters: Sequence[dict[str, Any]]  # all of a table's clusters without a baseline: no copy
    known_clusters: int
    failed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GateOutcome:
    gate: str
    value: int
    failed: bool


@dataclass(frozen=True)
class Verdict:
    """What the gates say about a scan: the exit code, and why, per gate and per table."""

    exit_code: int
    gates: tuple[GateOutcome, ...]
    tables: tuple[TableVerdict, ...]
    baseline: str | None = None
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.exit_code != 0


def _table_counts(table: dict[str, Any], clusters: list[dict[str, Any]], baseline: Baseline | None
                  ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    mechanisms: dict[str, int] = {}
    possible: dict[str, int] = {}  # named, or on an unknown's shortlist (NAMED_METRICS)
    counts = dict.fromkeys(("clusters", "rows", "delete", "divergent"), 0)
    incidents = set()
    for c in clusters:  # one pass: --out's clusters are built each time they are read
        mechanisms[c.get("mechanism", "unknown")] = mechanisms.get(c.get("mechanism", "unknown"), 0) + 1
        for name in _possible(c):
            possible[name] = possible.get(name, 0) + 1
        rows = len(c.get("rows", []))
        counts["clusters"] += 1
        counts["rows"] += rows
        # as rows_to_delete: a cluster holding a row with a NULL identity is left out of cleanup.sql
        # (a view: nothing, as rows_to_delete; the summary counted its identical copies, stranger21)
        counts["delete"] += rows - 1 if c.get("payload") == "identical" and not table.get("view") and not unnamed(
            r.get("pk") for r in c.get("rows", [])) else 0
        counts["divergent"] += c.get("payload") == "divergent"
        if c.get("incident"):
            incidents.add(c.get("incident"))
    far = int(table.get("far_duplicates", 0) or 0)
    if baseline is not None:
        listed = table.get("far_duplicate_keys", [])
        known = baseline.far_keys.get(table["table"], set())
        unlisted = max(0, far - len(listed))
        far = sum(1 for f in listed if _canonical(f.get("key")) not in known) + max(
            0, unlisted - baseline.far_unlisted.get(table["table"], 0))
    return {**counts, "incidents": len(incidents), "far": far}, mechanisms, possible


def _possible(cluster: dict[str, Any]) -> set[str]:
    """The mechanisms a cluster may be: its own, or (``unknown``) its shortlist's, from findings.json's
    ``evidence.candidates``.

    >>> sorted(_possible({"mechanism": "unknown", "evidence": {"candidates": [{"mechanism": "worker_race"},
    ...                                                                       {"mechanism": "retry"}]}}))
    ['retry', 'worker_race']
    >>> _possible({"mechanism": "retry"}), _possible({"mechanism": "unknown"})
    ({'retry'}, set())
    """
    name = cluster.get("mechanism", "unknown")
    if name != "unknown":
        return {name}
    shortlist = (cluster.get("evidence") or {}).get("candidates") or []
    return {str(c.get("mechanism")) for c in shortlist if isinstance(c, dict) and c.get("mechanism")}


def _value(gate: Gate, counts: dict[str, int], mechanisms: dict[str, int], possible: dict[str, int]) -> int:
    if gate.metric in NAMED_METRICS:
        return (mechanisms if gate.metric == "mechanism" else possible).get(gate.argument or "", 0)
    return counts[gate.metric]


def evaluate(doc: dict[str, Any], gates: tuple[Gate, ...] = (), baseline: Baseline | None = None) -> Verdict:
    """Apply the gates to a findings document.

    With neither gates nor a baseline the contract of design.md holds: exit 1 when any near-duplicate
    cluster was found, else 0. With a baseline, only clusters it does not know count, and without explicit
    gates the gate is ``clusters>0``. Gates compare totals over all tables; a table fails (in JUnit) when it
    adds to a gate that tripped.
    """
    effective = gates or ((parse_gate("clusters>0"),) if baseline is not None else ())
    per_table = []
    for table in doc["tables"]:
        clusters = table.get("clusters", [])
        new = clusters if baseline is None else [c for c in clusters if not baseline.knows(table, c)]
        counts, mechanisms, possible = _table_counts(table, new, baseline)
        per_table.append((table["table"], counts, mechanisms, new, len(clusters) - len(new), possible))
    totals: dict[str, int] = {m: sum(t[1][m] for t in per_table) for m in METRICS if m not in NAMED_METRICS}
    mechanism_totals: dict[str, int] = {}
    possible_totals: dict[str, int] = {}
    for t in per_table:
        for name, n in t[2].items():
            mechanism_totals[name] = mechanism_totals.get(name, 0) + n
        for name, n in t[5].items():
            possible_totals[name] = possible_totals.get(name, 0) + n
    values = [_value(g, totals, mechanism_totals, possible_totals) for g in effective]
    outcomes = tuple(GateOutcome(g.text, v, g.trips(v)) for g, v in zip(effective, values, strict=True))
    tripped = [g for g, o in zip(effective, outcomes, strict=True) if o.failed]
    tables = []
    for name, counts, mechanisms, new, known, possible in per_table:
        if effective:
            reasons = tuple(f"{g.text}: {_value(g, counts, mechanisms, possible)} here" for g in tripped
                            if _value(g, counts, mechanisms, possible) > 0)
        else:
            reasons = (f"clusters>0: {counts['clusters']} here",) if counts["clusters"] else ()
        tables.append(TableVerdict(name, counts, mechanisms, new, known, bool(reasons), reasons))
    failed = bool(tripped) if effective else totals["clusters"] > 0
    return Verdict(1 if failed else 0, outcomes, tuple(tables), baseline.path if baseline else None,
                   {**totals, **{f"mechanism:{k}": v for k, v in sorted(mechanism_totals.items())},
                    **{g.text.split(g.op)[0]: v for g, v in zip(effective, values, strict=True)
                       if g.metric == "possible"}})


# --- short outputs --------------------------------------------------------------------------------------

def since_notes(table: dict[str, Any]) -> list[str]:
    """The notes of a findings table that say how its --since bound was read (the zone of a column without one)
    and what the scan lacked to read only the recent rows: each of them names --since (detect.column_since,
    connect.since_advice), and no other note does.

    >>> since_notes({"notes": ["--since on a column without time zone: ...", "a view: no row id"]})
    ['--since on a column without time zone: ...']
    """
    return [n for n in table.get("notes") or () if "--since" in n]


def summary_dict(doc: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """A small JSON for pipelines: the verdict, the gates, and per table the counts (no rows)."""
    return {
        "dupfinder_version": doc.get("dupfinder_version"),
        "scanned_at": doc.get("scanned_at"),
        "database": doc.get("database"),
        **({"standby": doc["standby"]} if doc.get("standby") else {}),  # how far the rows checked reach
        "exit_code": verdict.exit_code,
        "verdict": "fail" if verdict.failed else "pass",
        # which tables made it fail, at the top: among 750 tenant tables the six hit ones were flags deep inside
        "failed_tables": [t.table for t in verdict.tables if t.failed],
        "baseline": verdict.baseline,
        "gates": [{"gate": o.gate, "value": o.value, "failed": o.failed} for o in verdict.gates],
        "totals": verdict.totals,
        "tables": [
            {"table": t.table, "rows_scanned": src.get("rows_scanned"), "clusters_found": len(src.get("clusters", [])),
             **({"known_clusters": t.known_clusters} if verdict.baseline else {}),
             **t.counts, "mechanisms": t.mechanisms, "failed": t.failed, "reasons": list(t.reasons),
             **({"warnings": list(src["warnings"])} if src.get("warnings") else {}),
             # a --since check's bound as the column read it and how it was read (which zone, which index is
             # missing): without them a passing check did not say what "since" it checked
             **({"since": src["since"], "since_notes": since_notes(src)} if src.get("since") else {})}
            for t, src in zip(verdict.tables, doc["tables"], strict=True)
        ],
    }


def junit_xml(doc: dict[str, Any], verdict: Verdict, max_listed: int = 20) -> str:
    """JUnit XML as CI systems read it (Jenkins, GitLab, GitHub test reporters): one test suite, one test
    case per table, a ``<failure>`` naming the gates the table tripped and its first clusters."""
    import xml.etree.ElementTree as ET

    failures = sum(1 for t in verdict.tables if t.failed)
    stamp = str(doc.get("scanned_at") or "")[:19]
    seconds = [float(src.get("scan_seconds") or 0) for src in doc["tables"]]  # 0 for findings of older versions
    root = ET.Element("testsuites", name="dupfinder", tests=str(len(verdict.tables)), failures=str(failures),
                      errors="0", time=f"{sum(seconds):.3f}")
    suite = ET.SubElement(root, "testsuite", name="dupfinder scan", tests=str(len(verdict.tables)),
                          failures=str(failures), errors="0", skipped="0", time=f"{sum(seconds):.3f}",
                          timestamp=stamp)
    properties = ET.SubElement(suite, "properties")
    for name, value in (("database", doc.get("database")), ("dupfinder_version", doc.get("dupfinder_version")),
                        ("baseline", verdict.baseline or ""),
                        ("gates", ", ".join(o.gate for o in verdict.gates) or "clusters>0 (default)")):
        ET.SubElement(properties, "property", name=name, value=_xml_text(str(value or "")))
    for t, src, took in zip(verdict.tables, doc["tables"], seconds, strict=True):
        classname = junit_classname(src)
        case = ET.SubElement(suite, "testcase", classname=_xml_text(classname),
                             name=_xml_text(f"{classname.removeprefix('dupfinder.')}: no "
                                            f"{'new ' if verdict.baseline else ''}duplicates"),
                             time=f"{took:.3f}")
        counts = ", ".join(counted(k, v) for k, v in t.counts.items())
        if t.failed:
            lines = [f"{'new ' if verdict.baseline else ''}cluster key={_canonical(c.get('key'))} "
                     f"rows={len(c.get('rows', []))} mechanism={c.get('mechanism')} "
                     f"first={(c.get('rows') or [{}])[0].get('ts')}" for c in t.new_clusters[:max_listed]]
            if len(t.new_clusters) > max_listed:
                lines.append(f"... and {len(t.new_clusters) - max_listed} more in findings.json")
            failure = ET.SubElement(case, "failure", type="dupfinder.duplicates",
                                    message=_xml_text("; ".join(t.reasons)))
            failure.text = _xml_text("\n".join(lines))
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(f"{src.get('rows_scanned', 0)} rows scanned; {counts}"
                             + (f"; {t.known_clusters} accepted in the baseline" if verdict.baseline else ""))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_classname(table: dict[str, Any]) -> str:
    """A table's JUnit classname: ``dupfinder.`` and its schema and name as dotted parts, a part holding a dot or
    a double quote (or empty) double-quoted with its quotes doubled, as SQL quotes a name. ``dupfinder.a.b.c``
    named both schema ``a.b``'s table ``c`` and schema ``a``'s table ``b.c``; a plain name reads as before.

    >>> junit_classname({"table": "a.b.c", "schema": "a.b", "name": "c"})
    'dupfinder."a.b".c'
    >>> junit_classname({"table": "a.b.c", "schema": "a", "name": "b.c"})
    'dupfinder.a."b.c"'
    >>> junit_classname({"table": "orders", "schema": "public", "name": "orders"})
    'dupfinder.orders'
    """
    schema, name, shown = table.get("schema"), table.get("name"), table["table"]
    if name and schema and shown == f"{schema}.{name}":
        parts = [schema, name]
    else:  # named without its schema (the one it was found in is not part of what was asked for)
        parts = [name] if name and shown == name else [shown]
    return "dupfinder." + ".".join(f'"{p.replace(chr(34), chr(34) * 2)}"' if not p or "." in p or '"' in p else p
                                   for p in parts)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry at all (values from the database may hold them)."""
    return _XML_BAD.sub("\ufffd", text)
