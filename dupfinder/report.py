"""The HTML report: precomputed context rendered by autoescaped jinja2 templates in reports/."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from . import charts
from .durations import format_seconds
from .sqltemplates import resource_dir, template_cache
from .words import count, noun

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
        bytecode_cache=template_cache(),  # compiled once per version, not in every process
        loader=jinja2.FileSystemLoader(str(resource_dir("reports", "reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["noun"] = noun  # {{ n }} {{ n|noun("cluster") }}: "1 cluster", "2 clusters"
    return env


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
_WHOLE = re.compile(r"\d")  # a token with a digit (an id, a date, an amount) is never broken across lines
_OPTION = re.compile(r"^\W*--\w")  # a command-line option ("(--writer"): broken after its dashes it reads as prose


def _token(token: str) -> str:
    if _URL.match(token) or len(token) > 24:  # a URL or a long name: may break anywhere rather than overflow
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
    return Markup(re.sub(r"\S+", lambda m: _token(m.group(0)), text))


def inline_markdown(text: str) -> Markup:
    """Escape ``text``, then render `code spans` as <code>: the only markup a recommendation may carry.

    >>> inline_markdown("run `flock -n <lock>` & <b>wait</b>")
    Markup('run <code>flock -n &lt;lock&gt;</code> &amp; &lt;b&gt;wait&lt;/b&gt;')
    """
    parts = _CODE.split(text)  # odd positions are the insides of code spans
    return Markup("".join(f"<code>{escape(p)}</code>" if i % 2 else prose(p) for i, p in enumerate(parts)))


def headline(verdict: dict[str, Any], table_names: list[str]) -> str:
    """The verdict in one line, for the page's <h1> and title.

    >>> headline({"clean": True, "tables": 2, "far": 0}, ["a", "b"])
    'No duplicates found in 2 tables'
    >>> headline({"clean": True, "tables": 1, "far": 3}, ["ledger"])
    'No near-duplicates in ledger; 3 keys written again later block a UNIQUE constraint'
    >>> headline({"clean": False, "tables": 3, "tables_affected": 3, "clusters": 206, "rows_affected": 412,
    ...           "incidents": 9, "keys": 206, "most_rows_per_key": 2}, ["a", "b", "c"])
    '3 tables: 206 keys written twice (412 rows) in 9 incidents'
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
    return (f"{where}: {count(verdict['keys'], 'key')} written {times} "
            f"({count(verdict['rows_affected'], 'row')}) in {count(verdict['incidents'], 'incident')}")


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
    return "UTC" if table.get("ts_timezone_aware", True) else "as stored, no time zone"


def _incident_context(table: dict[str, Any], incident: dict[str, Any], rank: int,
                      by_incident: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    members = by_incident.get(incident["id"], [])
    # a cluster of 100,000 rows is drawn from every k-th of its rows (the timeline shows 600 marks at most)
    ordered = sorted(members, key=lambda c: c["rows"][0]["ts"])
    writes = [c["rows"][::-(-len(c["rows"]) // TIMELINE_ROWS)] for c in ordered]
    chart, thinned = charts.timeline(writes, f"Duplicate writes of {incident['id']} in {table['table']}, "
                                             "one lane per writer", _zone(table),
                                     point=lambda r: (_ts_us(r["ts"]), writer_label(r["writer"])))
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
        "evidence": prose(members[0]["explanation"]) if members else "",
        "timeline": chart, "thinned": thinned,
    }


def _cluster_context(table: dict[str, Any], cluster: dict[str, Any], index: int) -> dict[str, Any]:
    roles = sorted({role for r in cluster["rows"] for role in r["writer"]})
    writer_columns = {w["column"] for w in table.get("writer_columns", [])}
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
        "headers": [{"name": name, "long": len(name) > LABEL_CHARS, "differs": name in cluster["differing_columns"],
                     "writer": name in roles} for name in roles + columns],
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


def _sql_context(name: str, text: str, linked: bool) -> dict[str, Any]:
    lines = text.splitlines()
    summary = [{"text": prose(p["text"]), "sub": p["sub"]} for p in sql_summary(text)
               if p["text"] != f"dupfinder {name}"]  # the heading already names the file
    return {"name": name, "summary": summary, "text": "\n".join(lines[:SQL_LINES_SHOWN]),
            "truncated": max(0, len(lines) - SQL_LINES_SHOWN), "linked": linked}


def report_context(findings: dict[str, Any], sql: dict[str, str], linked: bool = True) -> dict[str, Any]:
    """Everything the templates show, computed here so the templates hold no logic."""
    tables = findings["tables"]
    clusters = [c for t in tables for c in t["clusters"]]
    per_key: Counter = Counter()  # rows in clusters per (table, key): a key can have clusters on several days
    for t in tables:
        for c in t["clusters"]:
            per_key[(t["table"], tuple(sorted((k, str(v)) for k, v in c["key"].items())))] += len(c["rows"])
    incidents = sum(len(t["incidents"]) for t in tables)
    days = Counter(c["rows"][0]["ts"][:10] for c in clusters)
    gaps = [g for c in clusters for g in c.get("gaps_seconds", [])]
    windows: dict[float, list[str]] = {}
    for t in tables:
        if t["clusters"]:
            windows.setdefault(t["window_seconds"], []).append(t["table"])
    table_ctx, ranking = [], []
    for n, t in enumerate(tables, start=1):
        by_incident: dict[str, list[dict[str, Any]]] = {}
        for c in t["clusters"]:
            by_incident.setdefault(c["incident"], []).append(c)
        ordered = sorted(t["incidents"], key=impact)
        rank = {i["id"]: r for r, i in enumerate(ordered)}
        ranking += [(impact(i), t["table"], n, i) for i in ordered]
        # clusters follow their incident's rank, then time: the biggest incident's clusters come first
        shown = sorted(t["clusters"], key=lambda c: (rank.get(c["incident"], len(rank)), c["rows"][0]["ts"]))
        shown = shown[:CLUSTERS_SHOWN]
        table_ctx.append({
            "name": t["table"], "anchor": n, "key_columns": t["keys"], "ts": t["ts_column"],
            "window": format_seconds(t["window_seconds"]), "rows_scanned": f"{t['rows_scanned']:,}",
            "rows_null_key": f"{t['rows_null_key']:,}", "rows_null_ts": f"{t['rows_null_ts']:,}",
            "far": _far_context(t, n), "clusters_total": count(len(t["clusters"]), "cluster"),
            "time_range": t.get("time_range", {}), "since": t.get("since"),
            "writer_columns": [f"{w['role']} = {w['column']} ({how_found(w['reason'])})"
                               for w in t.get("writer_columns", [])],
            "signals": t.get("signals", {}), "evidence_read": evidence_read(t.get("signals", {})),
            "notes": [prose(note) for note in t.get("notes", [])],
            "incidents": [_incident_context(t, i, r + 1, by_incident) for r, i in enumerate(ordered[:INCIDENTS_SHOWN])],
            "more_incidents": max(0, len(t["incidents"]) - INCIDENTS_SHOWN),
            "clusters": [_cluster_context(t, c, i) for i, c in enumerate(shown)],
            "more_clusters": len(t["clusters"]) - len(shown),
        })
    verdict = {
        "clean": not clusters, "clusters": len(clusters), "incidents": incidents, "tables": len(tables),
        "tables_affected": sum(1 for t in tables if t["clusters"]),
        "rows_affected": sum(t.get("rows_in_clusters", 0) for t in tables),
        "rows_to_delete": sum(t.get("rows_to_delete", 0) for t in tables),
        "divergent": sum(t.get("divergent_clusters", 0) for t in tables),
        "far": sum(t["far_duplicates"] for t in tables),
        "keys": len(per_key), "most_rows_per_key": max(per_key.values(), default=0),
    }
    overview = [{"table": name, "anchor": n, "id": i["id"], "mechanism": i["mechanism"],
                 "rows": f"{i['rows']:,}", "clusters": f"{i['clusters']:,}", "start": i["start"],
                 "summary": prose(i["summary"])}
                for _, name, n, i in sorted(ranking, key=lambda r: r[0])]
    zones = {_zone(t) for t in tables if t["clusters"]}
    return {
        "version": findings.get("dupfinder_version", "?"), "database": findings["database"],
        "scanned_at": findings["scanned_at"],
        "headline": headline(verdict, [t["table"] for t in tables]),
        "verdict": {k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
                    for k, v in verdict.items()},
        "overview": overview,
        "tables": table_ctx,
        "charts": {"gaps": charts.gap_histogram(gaps, windows),
                   "per_day": charts.per_day(dict(days), zones.pop() if len(zones) == 1 else "as stored")},
        "sql": [_sql_context(name, text, linked) for name, text in sql.items()],
    }


def render_report(findings: dict[str, Any], sql: dict[str, str], linked: bool = True) -> str:
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


def how_found(reason: str) -> str:
    """A writer column's reason, short enough for the parameters table (findings.json keeps the whole text).

    >>> how_found("given with --writer"), how_found("inferred: the name is the role word 'pid', type INTEGER")
    ('given', 'inferred from its name and type')
    """
    if reason.startswith("given"):
        return "given"
    if "from the data" in reason:
        return "inferred from the data"
    return "inferred from its name and type"
