"""The HTML report: precomputed context rendered by autoescaped jinja2 templates in reports/."""

from __future__ import annotations

import bisect
import heapq
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from . import charts
from .durations import format_seconds
from .findings import standby_note
from .sqltemplates import resource_dir, spelled_out, template_cache
from .totals import described
from .values import since_shown
from .words import count, noun, percent

CLUSTERS_SHOWN = 100      # per table; the rest are counted and left to findings.json
SQL_LINES_SHOWN = 400
INCIDENTS_SHOWN = 30     # per table
FAR_KEYS_SHOWN = 50      # per table
TIMELINE_ROWS = 600      # rows of one cluster read for an incident's timeline
ROWS_SHOWN = 40          # per cluster: the first rows and the survivor; the rest are counted, left to findings.json
NO_WRITER = "writer not recorded"
LABEL_CHARS = 14         # a column name longer than this goes above its value in the phone layout

_CODE = re.compile(r"`([^`\n]+)`")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        bytecode_cache=template_cache(__file__),  # compiled once, not in every process
        loader=jinja2.FileSystemLoader(str(resource_dir("reports", "reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters["percent"] = percent  # {{ p|percent }}: "99.7%", never a rounded-up "100%"
    env.filters["noun"] = noun  # {{ n }} {{ n|noun("cluster") }}: "1 cluster", "2 clusters"
    env.filters["id_class"] = id_class  # <span class="{{ key|id_class }}">: a long key may break, a short one not
    return env


def _shown(value: Any) -> Any:
    r"""Every plain text the page prints has its line breaks, control and invisible characters spelled out
    (``\u000a``): HTML folds a line break into a space, so ``a\nb`` beside ``a b`` looked the same in a
    divergent column, and a table name's line break vanished. Markup (prose, charts, the SQL files, whose
    writers spell them out already) is left as it is.

    >>> _shown("multi\nline"), _shown(Markup("<b>x</b>")), _shown(3)
    ('multi\\u000aline', Markup('<b>x</b>'), 3)
    """
    return spelled_out(value) if isinstance(value, str) and not isinstance(value, Markup) else value


LONG_TOKEN = 24  # characters: a longer id or name may break anywhere rather than overflow a phone's line
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
_WHOLE = re.compile(r"\d")  # a token with a digit (an id, a date, an amount) is never broken across lines
_OPTION = re.compile(r"^\W*--\w")  # a command-line option ("(--writer"): broken after its dashes it reads as prose


def id_class(text: str) -> str:
    """The class of an id, key or name shown whole: kept on one line, unless it is too long for a phone's line,
    where it may break anywhere rather than push the page sideways (a 90-character customer reference did).

    >>> id_class("INV-2026-00001"), id_class("customer_ref=Internationale-Handelsgesellschaft-REF-000123")
    ('id', 'breakable')
    """
    return "breakable" if len(text) > LONG_TOKEN else "id"


def _token(token: str) -> str:
    if _URL.match(token) or id_class(token) == "breakable":  # a URL or a long name: may break anywhere
        return f'<span class="breakable">{escape(token)}</span>'
    if (_WHOLE.search(token) or _OPTION.match(token)) and len(token) > 1:
        return f'<span class="nowrap">{escape(token)}</span>'
    return str(escape(token))


def prose(text: str) -> Markup:
    """Escape free text for the page; tokens with digits (ids, dates, amounts) and command-line options are kept
    on one line, URLs may break anywhere.

    >>> prose("host batch-02 wrote <b> on 2026-11-03")
    Markup('host <span class="nowrap">batch-02</span> wrote &lt;b&gt; on <span class="nowrap">2026-11-03</span>')
    >>> prose("a host column (--writer host=COLUMN)")
    Markup('a host column <span class="nowrap">(--writer</span> host=COLUMN)')
    """
    return Markup(re.sub(r"\S+", lambda m: _token(m.group(0)), spelled_out(text)))


def inline_markdown(text: str) -> Markup:
    """Escape ``text``, then render `code spans` as <code>: the only markup a recommendation may carry.

    >>> inline_markdown("run `flock -n <lock>` & <b>wait</b>")
    Markup('run <code>flock -n &lt;lock&gt;</code> &amp; &lt;b&gt;wait&lt;/b&gt;')
    """
    parts = _CODE.split(text)  # odd positions are the insides of code spans
    return Markup("".join(f"<code>{escape(spelled_out(p))}</code>" if i % 2 else prose(p) for i, p in enumerate(parts)))


def headline(verdict: dict[str, Any], table_names: list[str]) -> str:
    """The verdict in one line, for the page's <h1> and title.

    >>> headline({"clean": True, "tables": 2, "far": 0}, ["a", "b"])
    'No duplicates found in 2 tables'
    >>> headline({"clean": True, "tables": 1, "far": 3}, ["ledger"])
    'No near-duplicates in ledger; 3 keys written again later block a UNIQUE constraint'
    >>> headline({"clean": False, "tables": 3, "tables_affected": 3, "clusters": 206, "rows_affected": 412,
    ...           "incidents": 9, "keys": 206, "most_rows_per_key": 2}, ["a", "b", "c"])
    '3 tables: 206 keys written twice (412 rows) in 9 incidents'
    >>> headline({"clean": False, "tables": 1, "tables_affected": 1, "clusters": 2, "rows_affected": 5,
    ...           "incidents": 1, "keys": 2, "most_rows_per_key": 3, "far": 1}, ["ledger"])
    'ledger: 2 keys written more than once (5 rows) in 1 incident; 1 key written again later (far duplicates)'
    """
    if verdict["clean"]:
        where = table_names[0] if len(table_names) == 1 else count(verdict["tables"], "table")
        if verdict["far"]:
            return (f"No near-duplicates in {where}; {count(verdict['far'], 'key')} written again later "
                    f"{'blocks' if verdict['far'] == 1 else 'block'} a UNIQUE constraint")
        return f"No duplicates found in {where}"
    affected, total = verdict["tables_affected"], verdict["tables"]
    if total == 1:
        where = table_names[0]
    elif affected == total:
        where = count(total, "table")
    else:
        where = f"{affected:,} of {count(total, 'table')}"
    times = "twice" if verdict["most_rows_per_key"] == 2 else "more than once"
    # keys written again later are counted too (a key may be in both): a heading of the near copies alone read as
    # every repeated key
    later = f"; {count(verdict['far'], 'key')} written again later (far duplicates)" if verdict.get("far") else ""
    return (f"{where}: {count(verdict['keys'], 'key')} written {times} "
            f"({count(verdict['rows_affected'], 'row')}) in {count(verdict['incidents'], 'incident')}{later}")


def _ts_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _value(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value) if str(value) != "" else '""'


def _parts(key: dict[str, Any]) -> list[str]:
    return [f"{k}={_value(v)}" for k, v in key.items()]


def writer_label(writer: dict[str, Any]) -> str:
    """Who wrote a row, for people; never empty.

    >>> writer_label({"host": "a", "process": 7}), writer_label({}), writer_label({"host": ""})
    ('host=a / process=7', 'writer not recorded', 'host=""')
    """
    return " / ".join(f"{k}={_value(v)}" for k, v in writer.items()) or NO_WRITER


def impact(incident: dict[str, Any]) -> tuple:
    """Sort key: most rows first, then most clusters, then the earlier one."""
    return (-incident["rows"], -incident["clusters"], incident["start"])


def _zone(table: dict[str, Any]) -> str:
    """How the times shown read: a MySQL/MariaDB TIMESTAMP has no zone in its type but holds instants, which the
    scan reads in UTC."""
    if table.get("ts_timezone_aware", True) or table.get("ts_read_in_utc"):
        return "UTC"
    return "as stored, no time zone"


def _incident_context(table: dict[str, Any], incident: dict[str, Any], rank: int,
                      members: list[tuple[str, int, int]], evidence: str) -> dict[str, Any]:
    """One incident as shown; ``members``: (first timestamp, position, writes drawn) of each of its clusters,
    ``evidence``: the explanation of its first cluster. Only the clusters the timeline keeps are read again."""
    # a cluster of 100,000 rows is drawn from every k-th of its rows (the timeline shows 600 marks at most)
    ordered = sorted(members)
    sizes = [drawn for _, _, drawn in ordered]
    step = charts.thinning(sizes)
    writes = []
    for _, position, _ in ordered[::step]:
        rows = table["clusters"][position]["rows"]
        writes.append(rows[::-(-len(rows) // TIMELINE_ROWS)])
    chart, thinned = charts.timeline(writes, f"Duplicate writes of {incident['id']} in {table['table']}, "
                                             "one lane per writer", _zone(table),
                                     point=lambda r: (_ts_us(r["ts"]), writer_label(r["writer"])),
                                     note=charts.thin_note(step, sizes, sum(len(w) for w in writes)))
    gaps = incident.get("gap_seconds", {})
    writers = [writer_label(w).split(" / ") for w in incident["writers"] if w] or [[NO_WRITER]]
    return {
        "id": incident["id"], "rank": rank, "mechanism": incident["mechanism"], "summary": prose(incident["summary"]),
        "confidence": incident.get("confidence", 0), "start": incident["start"], "end": incident["end"],
        "candidates": [c["mechanism"] for c in incident.get("candidates") or []],
        "clusters": f"{incident['clusters']:,}", "rows": f"{incident['rows']:,}",
        "writers": writers, "writers_recorded": writers != [[NO_WRITER]],
        "gaps": {k: format_seconds(v) for k, v in gaps.items()},
        "offset_shape": incident.get("offset_shape"), "coverage": incident.get("coverage"),
        "recurring": incident.get("recurring"),
        "recommendations": [inline_markdown(r) for r in incident.get("recommendations", [])],
        "evidence": prose(evidence) if members else "",
        "timeline": chart, "thinned": thinned,
    }


def _cluster_context(table: dict[str, Any], cluster: dict[str, Any], index: int) -> dict[str, Any]:
    roles = sorted({role for r in cluster["rows"] for role in r["writer"]})
    # a writer column is shown under its role's name, but `differing_columns` names the column itself
    # (an untrusted one keeps the cluster divergent): without this map its difference was never highlighted
    column_of = {w["role"]: w["column"] for w in table.get("writer_columns", [])}
    writer_columns = set(column_of.values())
    skip = (set(table.get("primary_key", [])) | set(table.get("id_columns") or []) | {table["ts_column"]}
            | writer_columns)
    columns = [c["name"] for c in table.get("columns", []) if c["name"] not in skip] or list(
        cluster["rows"][0].get("values", {}))
    return {
        "key": _parts(cluster["key"]),
        "open": index < 3, "mechanism": cluster["mechanism"], "confidence": cluster["confidence"],
        "incident": cluster.get("incident"),
        "explanation": prose(cluster["explanation"]), "payload": cluster["payload"],
        "span": format_seconds(cluster["span_seconds"]),
        "headers": [{"name": name, "long": len(name) > LABEL_CHARS,
                     "differs": column_of.get(name, name) in cluster["differing_columns"] if name in roles
                     else name in cluster["differing_columns"],
                     # writer values and the key's values are ids: they never wrap (INV-2026-00001 broke at "-")
                     "ident": name in roles or name in cluster["key"]} for name in roles + columns],
        "rows": [{"pk": ", ".join(f"{k}={_value(v)}" for k, v in r["pk"].items()), "ts": r["ts"],
                  # a divergent cluster keeps every row until a person decides: no row is marked kept
                  "survivor": r["survivor"] and cluster["payload"] != "divergent",
                  "cells": [_value(r["writer"].get(role)) for role in roles]
                           + [_value(r.get("values", {}).get(c)) for c in columns]}
                 for r in _shown_rows(cluster["rows"])],
        "rows_total": len(cluster["rows"]), "more_rows": max(0, len(cluster["rows"]) - ROWS_SHOWN),
    }


def _shown_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ROWS_SHOWN rows of a cluster, in order: the first ones, and the survivor wherever it is."""
    if len(rows) <= ROWS_SHOWN:
        return rows
    shown = rows[:ROWS_SHOWN - 1]
    survivor = next((r for r in rows if r["survivor"]), None)
    return [*shown, survivor if survivor is not None and survivor not in shown else rows[ROWS_SHOWN - 1]]


def _far_context(table: dict[str, Any], anchor: int) -> dict[str, Any]:
    listed = table.get("far_duplicate_keys", [])
    return {
        "anchor": f"far-{anchor}", "total": table["far_duplicates"], "total_text": f"{table['far_duplicates']:,}",
        "in_findings": len(listed),
        "listed": [{"key": _parts(f["key"]), "rows": f"{f['rows']:,}",
                  "first": f.get("first_ts", ""), "last": f.get("last_ts", ""),
                  "gap": format_seconds(f["max_gap_seconds"]) if f.get("max_gap_seconds") is not None else ""}
                 for f in listed[:FAR_KEYS_SHOWN]],
    }


_TERMINATORS = (".", ":", ";", "!", "?")


def sql_summary(text: str) -> list[dict[str, Any]]:
    """The header comment of a SQL file as points, each wrapped sentence joined back into one.

    A comment line continues the previous one when that one was wrapped (long, no closing punctuation)
    and this one starts in lower case or with a parenthesis; indented lines are sub-points.

    >>> sql_summary("-- title\\n-- deletes 4 rows that duplicate an earlier row exactly; every deleted row "
    ...             "is first copied\\n-- into a backup table.\\n--   t: 4 rows\\n\\nSELECT 1;")
    [{'text': 'title', 'sub': False}, {'text': 'deletes 4 rows that duplicate an earlier row exactly; every \
deleted row is first copied into a backup table.', 'sub': False}, {'text': 't: 4 rows', 'sub': True}]
    """
    points: list[dict[str, Any]] = []
    previous = ""
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        stripped = body.strip()
        if not stripped or set(stripped) <= {"-", "="}:
            previous = ""
            continue
        sub = body.startswith("   ")
        wrapped = len(previous) >= 60 and not previous.rstrip().endswith(_TERMINATORS)
        if points and not sub and wrapped and (stripped[0].islower() or stripped[0] == "("):
            points[-1]["text"] += " " + stripped
        else:  # a wide run of spaces separates two points on one line (two commands side by side)
            points += [{"text": part, "sub": sub} for part in re.split(r"\s{3,}", stripped)]
        previous = body
    return points[:30]


class SqlShown:
    """What the report shows of a SQL file: its first SQL_LINES_SHOWN lines and how many lines it has (as
    ``str.splitlines`` counts them), taken while the file is written so that its text is never held whole."""

    def __init__(self, keep: int = SQL_LINES_SHOWN) -> None:
        self.keep = keep
        self.lines: list[str] = []
        self.count = 0
        self._tail = ""  # the last line read, which the next piece may continue

    @classmethod
    def of(cls, text: str) -> SqlShown:
        shown = cls()
        shown.feed(text)
        shown.close()
        return shown

    @classmethod
    def write(cls, path: Path, pieces: Iterable[str], chunk: int = 1 << 16) -> SqlShown:
        """Write ``pieces`` to ``path`` (UTF-8) in chunks of about ``chunk`` characters; what the report shows."""
        shown, buffer, size = cls(), [], 0
        with open(path, "w", encoding="utf-8") as out:
            for piece in pieces:
                buffer.append(piece)
                size += len(piece)
                if size >= chunk:
                    text, buffer, size = "".join(buffer), [], 0
                    out.write(text)
                    shown.feed(text)
            text = "".join(buffer)
            out.write(text)
            shown.feed(text)
        shown.close()
        return shown

    def feed(self, text: str) -> None:
        lines = (self._tail + text).splitlines(keepends=True)
        last = lines[-1] if lines else ""
        # unterminated, or ended by a "\r" that a "\n" may follow: the line may go on in the next piece
        self._tail = last if last and (last.endswith("\r") or last.splitlines()[0] == last) else ""
        if self._tail:
            lines.pop()
        self._count(lines)

    def close(self) -> None:
        if self._tail:
            self._count([self._tail])
            self._tail = ""

    def _count(self, lines: list[str]) -> None:
        room = self.keep - len(self.lines)
        if room > 0:
            self.lines += [line.splitlines()[0] for line in lines[:room]]
        self.count += len(lines)


def _sql_context(name: str, sql: str | SqlShown, linked: bool) -> dict[str, Any]:
    shown = SqlShown.of(sql) if isinstance(sql, str) else sql
    text = "\n".join(shown.lines)
    summary = [{"text": prose(p["text"]), "sub": p["sub"]} for p in sql_summary(text)
               if p["text"] != f"dupfinder {name}"]  # the heading already names the file
    return {"name": name, "summary": summary, "text": text,
            "truncated": max(0, shown.count - SQL_LINES_SHOWN), "linked": linked}


class _Tally:
    """What the report counts over every cluster of every table, in one pass, keeping counts only."""

    def __init__(self) -> None:
        self.clusters = 0
        self.key_rows: Counter = Counter()  # rows in clusters per (table, key), by the pair's hash
        self.days: Counter = Counter()
        self.gaps = charts.GapTally()


def _table_report(t: dict[str, Any], n: int, tally: _Tally) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One table's part of the report and its incidents in order of impact, reading its clusters once (and the
    few it shows again, by position)."""
    incidents = t["incidents"]
    # clusters are shown in their incident's rank: the first CLUSTERS_SHOWN come from that many incidents at
    # most, so only those are ranked (all of them when a ranked incident turns out to have no cluster)
    ordered = heapq.nsmallest(max(INCIDENTS_SHOWN, CLUSTERS_SHOWN), incidents, key=impact)
    rank = {i["id"]: r for r, i in enumerate(ordered)}
    drawn = {i["id"]: [] for i in ordered[:INCIDENTS_SHOWN]}  # (first ts, position, writes drawn) per cluster
    evidence: dict[str, str] = {}
    shown: list[tuple[int, str, int]] = []  # (rank, first ts, position) of the clusters shown, in order
    ranked = 0
    for position, c in enumerate(t["clusters"]):
        rows, incident = c["rows"], c["incident"]
        first = rows[0]["ts"]
        tally.clusters += 1
        # a hash, not the key itself: two keys would be counted as one only if their 64-bit hashes collided
        tally.key_rows[hash((t["table"], tuple(sorted((k, str(v)) for k, v in c["key"].items()))))] += len(rows)
        tally.days[first[:10]] += 1
        tally.gaps.add(c.get("gaps_seconds", []))
        ranked += incident in rank
        entry = (rank.get(incident, len(incidents)), first, position)
        if len(shown) < CLUSTERS_SHOWN or entry < shown[-1]:
            bisect.insort(shown, entry)
            del shown[CLUSTERS_SHOWN:]
        if incident in drawn:
            drawn[incident].append((first, position, len(range(0, len(rows), -(-len(rows) // TIMELINE_ROWS)))))
            evidence.setdefault(incident, c["explanation"])
    if ranked < min(CLUSTERS_SHOWN, len(t["clusters"])) and len(ordered) < len(incidents):
        rank = {i["id"]: r for r, i in enumerate(sorted(incidents, key=impact))}
        shown = sorted((rank.get(c["incident"], len(rank)), c["rows"][0]["ts"], position)
                       for position, c in enumerate(t["clusters"]))[:CLUSTERS_SHOWN]
    top = ordered[:INCIDENTS_SHOWN]
    return {
        "name": t["table"], "anchor": n, "key_columns": t["keys"], "ts": t["ts_column"],
        "window": format_seconds(t["window_seconds"]), "rows_scanned": f"{t['rows_scanned']:,}",
        "rows_null_key": f"{t['rows_null_key']:,}", "rows_null_ts": f"{t['rows_null_ts']:,}",
        "far": _far_context(t, n), "clusters_total": count(len(t["clusters"]), "cluster"),
        "totals": described(t.get("extra_copy_totals") or []),
        "time_range": t.get("time_range", {}), "since": since_shown(t), "where": t.get("where"),
        "writer_columns": [f"{w['role']} = {w['column']} ({how_found(w['reason'], w.get('trusted', True))})"
                           for w in t.get("writer_columns", [])],
        "signals": t.get("signals", {}), "evidence_read": evidence_read(t.get("signals", {})),
        "notes": [prose(note) for note in t.get("notes", [])],
        "warnings": [prose(warning) for warning in t.get("warnings", [])],
        # an incident of several pairs of writers says its own evidence (incidents.merged_evidence)
        "incidents": [_incident_context(t, i, r + 1, drawn[i["id"]], i.get("evidence") or evidence.get(i["id"], ""))
                      for r, i in enumerate(top)],
        "more_incidents": max(0, len(incidents) - INCIDENTS_SHOWN),
        "clusters": [_cluster_context(t, t["clusters"][position], i) for i, (_, _, position) in enumerate(shown)],
        "more_clusters": len(t["clusters"]) - len(shown),
    }, top


def report_context(findings: dict[str, Any], sql: dict[str, str | SqlShown], linked: bool = True) -> dict[str, Any]:
    """Everything the templates show, computed here so the templates hold no logic. Each table's clusters are
    read once, one at a time, and only the ones shown are read again: a findings document whose clusters are
    built as they are read (``findings.OnDemand``) is never held whole."""
    tables = findings["tables"]
    tally = _Tally()
    windows: dict[float, list[str]] = {}
    for t in tables:
        if t["clusters"]:
            windows.setdefault(t["window_seconds"], []).append(t["table"])
    table_ctx, ranking = [], []
    for n, t in enumerate(tables, start=1):
        context, top = _table_report(t, n, tally)
        table_ctx.append((0 if t["clusters"] else 1 if t["far_duplicates"] else 2, n, context))
        ranking += [(impact(i), t["table"], n, i) for i in top]
    # the tables holding clusters first, then those with far duplicates only, then the clean ones, each in the
    # config's order (anchors keep it): six hit tenants were sections among 750, most of them clean
    table_ctx = [context for *_, context in sorted(table_ctx, key=lambda entry: entry[:2])]
    verdict = {
        "clean": not tally.clusters, "clusters": tally.clusters, "incidents": sum(len(t["incidents"]) for t in tables),
        "tables": len(tables),
        "tables_affected": sum(1 for t in tables if t["clusters"]),
        "rows_affected": sum(t.get("rows_in_clusters", 0) for t in tables),
        "rows_to_delete": sum(t.get("rows_to_delete", 0) for t in tables),
        "divergent": sum(t.get("divergent_clusters", 0) for t in tables),
        "far": sum(t["far_duplicates"] for t in tables),
        "keys": len(tally.key_rows), "most_rows_per_key": max(tally.key_rows.values(), default=0),
    }
    # the incidents of all tables by impact, as many as one table shows (each is in its table's first ones)
    overview = [{"table": name, "anchor": n, "id": i["id"], "mechanism": i["mechanism"],
                 "rows": f"{i['rows']:,}", "clusters": f"{i['clusters']:,}", "start": i["start"],
                 "summary": prose(i["summary"])}
                for _, name, n, i in sorted(ranking, key=lambda r: r[0])[:INCIDENTS_SHOWN]]
    zones = {_zone(t) for t in tables if t["clusters"]}
    return {
        "version": findings.get("dupfinder_version", "?"), "database": findings["database"],
        "scanned_at": findings["scanned_at"], "standby": standby_note(findings),
        "headline": headline(verdict, [t["table"] for t in tables]),
        "verdict": {k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
                    for k, v in verdict.items()},
        "overview": overview, "more_overview": max(0, verdict["incidents"] - len(overview)),
        "tables": table_ctx,
        "charts": {"gaps": charts.gap_histogram(tally.gaps, windows),
                   "per_day": charts.per_day(dict(tally.days), zones.pop() if len(zones) == 1 else "as stored")},
        "sql": [_sql_context(name, text, linked) for name, text in sql.items()],
    }


def render_report(findings: dict[str, Any], sql: dict[str, str | SqlShown], linked: bool = True) -> str:
    """Render report.html from a findings document and the SQL files written beside it."""
    return environment().get_template("base.html.j2").render(**report_context(findings, sql, linked))


# signals that are internal bookkeeping (the model's provenance, statement counts) or shown elsewhere
_SIGNALS_NOT_SHOWN = {"timestamp_precision_warning", "whole_second_timestamps_share", "writer_roles", "model",
                      "coverage_statements"}


def evidence_read(signals: dict[str, Any]) -> list[str]:
    """The table's evidence line in words: one entry per signal that says something, no Python reprs.

    >>> evidence_read({"xmin": "usable", "writer_roles_from_data": [], "model": "tuning set",
    ...                "writer_roles_from_data_x": [{"role": "run", "column": "emitted_by", "reason": "r"}]})
    ['xmin: usable', 'writer roles from data x: run = emitted_by']
    """
    shown = []
    for name, value in signals.items():
        if name in _SIGNALS_NOT_SHOWN or value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(f"{v.get('role')} = {v.get('column')}" if isinstance(v, dict) and "role" in v
                              else str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        shown.append(f"{name.replace('_', ' ')}: {value}")
    return shown


def how_found(reason: str, trusted: bool = True) -> str:
    """A writer column's reason, short enough for the parameters table (findings.json keeps the whole text).
    An untrusted one says so: it is why clusters whose copies differ only in it are divergent.

    >>> how_found("given with --writer"), how_found("inferred: the name is the role word 'pid', type INTEGER")
    ('given', 'inferred from its name and type')
    >>> how_found("inferred: the name is the role word 'host', type TEXT; not confirmed by the data", False)
    'inferred from its name and type; not confirmed by the data, so compared like business data'
    """
    if reason.startswith("given"):
        return "given"
    found = "inferred from the data" if "from the data" in reason else "inferred from its name and type"
    return found if trusted else f"{found}; not confirmed by the data, so compared like business data"
