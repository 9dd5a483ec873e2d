"""The HTML report: precomputed context rendered by autoescaped jinja2 templates in reports/."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import jinja2

from . import charts
from .durations import format_seconds
from .sqltemplates import resource_dir, template_cache

CLUSTERS_SHOWN = 100      # per table; the rest are counted and left to findings.json
SQL_LINES_SHOWN = 400
INCIDENTS_SHOWN = 30     # per table
INCIDENT_POINTS = 20_000  # writes read for one incident's timeline (it shows at most 600 of them)
ROWS_SHOWN = 40          # per cluster: the first rows and the survivor; the rest are counted, left to findings.json


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        bytecode_cache=template_cache(),  # compiled once per version, not in every process
        loader=jinja2.FileSystemLoader(str(resource_dir("reports", "reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _ts_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _writer_label(writer: dict[str, Any]) -> str:
    return " / ".join(f"{k}={v}" for k, v in writer.items()) or "unknown writer"


def _incident_context(table: dict[str, Any], incident: dict[str, Any],
                      by_incident: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    members = by_incident.get(incident["id"], [])
    rows = sum(len(c["rows"]) for c in members)
    step = max(1, rows // INCIDENT_POINTS)  # thinned before parsing: the timeline draws at most 600 marks anyway
    points = [(_ts_us(r["ts"]), _writer_label(r["writer"])) for c in members for r in c["rows"][::step]]
    gaps = incident.get("gap_seconds", {})
    return {
        "id": incident["id"], "mechanism": incident["mechanism"], "summary": incident["summary"],
        "confidence": incident.get("confidence", 0), "start": incident["start"], "end": incident["end"],
        "clusters": incident["clusters"], "rows": incident["rows"],
        "writers": [_writer_label(w) for w in incident["writers"]],
        "gaps": {k: format_seconds(v) for k, v in gaps.items()},
        "offset_shape": incident.get("offset_shape"), "coverage": incident.get("coverage"),
        "recurring": incident.get("recurring"), "recommendations": incident.get("recommendations", []),
        "evidence": members[0]["explanation"] if members else "",
        "timeline": charts.timeline(points, f"Duplicate writes of {incident['id']}, one lane per writer"),
    }


def _cluster_context(table: dict[str, Any], cluster: dict[str, Any], index: int) -> dict[str, Any]:
    roles = sorted({role for r in cluster["rows"] for role in r["writer"]})
    writer_columns = {w["column"] for w in table.get("writer_columns", [])}
    skip = (set(table.get("primary_key", [])) | set(table.get("id_columns") or []) | {table["ts_column"]}
            | writer_columns)
    columns = [c["name"] for c in table.get("columns", []) if c["name"] not in skip] or list(
        cluster["rows"][0].get("values", {}))
    return {
        "key": ", ".join(f"{k}={v}" for k, v in cluster["key"].items()),
        "open": index < 3, "mechanism": cluster["mechanism"], "confidence": cluster["confidence"],
        "explanation": cluster["explanation"], "payload": cluster["payload"],
        "differing": set(cluster["differing_columns"]), "span": format_seconds(cluster["span_seconds"]),
        "roles": roles, "columns": columns,
        "rows": [{"pk": ", ".join(f"{k}={v}" for k, v in r["pk"].items()), "ts": r["ts"], "survivor": r["survivor"],
                  "writer": [r["writer"].get(role) for role in roles],
                  "cells": [r.get("values", {}).get(c) for c in columns]} for r in _shown_rows(cluster["rows"])],
        "rows_total": len(cluster["rows"]), "more_rows": max(0, len(cluster["rows"]) - ROWS_SHOWN),
    }


def _shown_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most ROWS_SHOWN rows of a cluster, in order: the first ones, and the survivor wherever it is."""
    if len(rows) <= ROWS_SHOWN:
        return rows
    shown = rows[:ROWS_SHOWN - 1]
    survivor = next((r for r in rows if r["survivor"]), None)
    return [*shown, survivor if survivor is not None and survivor not in shown else rows[ROWS_SHOWN - 1]]


def _sql_context(name: str, text: str, linked: bool) -> dict[str, Any]:
    lines = text.splitlines()
    summary = [line[3:] for line in lines[:16] if line.startswith("-- ")]
    return {"name": name, "summary": summary, "text": "\n".join(lines[:SQL_LINES_SHOWN]),
            "truncated": max(0, len(lines) - SQL_LINES_SHOWN), "linked": linked}


def report_context(findings: dict[str, Any], sql: dict[str, str], linked: bool = True) -> dict[str, Any]:
    """Everything the templates show, computed here so the templates hold no logic."""
    tables = findings["tables"]
    clusters = [c for t in tables for c in t["clusters"]]
    incidents = sum(len(t["incidents"]) for t in tables)
    days = Counter(c["rows"][0]["ts"][:10] for c in clusters)
    gaps = [g for c in clusters for g in c.get("gaps_seconds", [])]
    window = max((t["window_seconds"] for t in tables), default=2.0)
    table_ctx = []
    for n, t in enumerate(tables, start=1):
        shown = t["clusters"][:CLUSTERS_SHOWN]
        by_incident: dict[str, list[dict[str, Any]]] = {}
        for c in t["clusters"]:
            by_incident.setdefault(c["incident"], []).append(c)
        table_ctx.append({
            "name": t["table"], "anchor": n, "key_columns": ", ".join(t["keys"]), "ts": t["ts_column"],
            "window": format_seconds(t["window_seconds"]), "rows_scanned": t["rows_scanned"],
            "rows_null_key": t["rows_null_key"], "rows_null_ts": t["rows_null_ts"],
            "far": t["far_duplicates"], "clusters_total": len(t["clusters"]),
            "time_range": t.get("time_range", {}), "since": t.get("since"),
            "writer_columns": [f"{w['role']} = {w['column']} ({w['reason']})" for w in t.get("writer_columns", [])],
            "signals": t.get("signals", {}), "notes": t.get("notes", []),
            "incidents": [_incident_context(t, i, by_incident) for i in t["incidents"][:INCIDENTS_SHOWN]],
            "more_incidents": max(0, len(t["incidents"]) - INCIDENTS_SHOWN),
            "clusters": [_cluster_context(t, c, i) for i, c in enumerate(shown)],
            "more_clusters": len(t["clusters"]) - len(shown),
        })
    return {
        "version": findings.get("dupfinder_version", "?"), "database": findings["database"],
        "scanned_at": findings["scanned_at"],
        "verdict": {
            "clean": not clusters, "clusters": len(clusters), "incidents": incidents, "tables": len(tables),
            "tables_affected": sum(1 for t in tables if t["clusters"]),
            "rows_affected": sum(t.get("rows_in_clusters", 0) for t in tables),
            "rows_to_delete": sum(t.get("rows_to_delete", 0) for t in tables),
            "divergent": sum(t.get("divergent_clusters", 0) for t in tables),
            "far": sum(t["far_duplicates"] for t in tables),
        },
        "tables": table_ctx,
        "charts": {"gaps": charts.gap_histogram(gaps, window), "per_day": charts.per_day(dict(days))},
        "sql": [_sql_context(name, text, linked) for name, text in sql.items()],
    }


def render_report(findings: dict[str, Any], sql: dict[str, str], linked: bool = True) -> str:
    """Render report.html from a findings document and the SQL files written beside it."""
    return environment().get_template("base.html.j2").render(**report_context(findings, sql, linked))
