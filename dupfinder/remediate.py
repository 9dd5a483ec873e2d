"""Cleanup, rollback and migration SQL, generated as plans: these functions return text and run nothing."""

from __future__ import annotations

from typing import Any


def cleanup_sql(findings: dict[str, Any], keep: str | None = None) -> str:
    """Return cleanup.sql for a findings document (placeholder until remediation lands)."""
    lines = ["-- dupfinder cleanup.sql", "-- Remediation SQL is not generated yet by this version: nothing here",
             "-- changes data. Clusters to review are listed in findings.json."]
    for table in findings["tables"]:
        lines.append(f"-- {table['table']}: {len(table['clusters'])} cluster(s)")
    return "\n".join(lines) + "\n"


def rollback_sql(findings: dict[str, Any]) -> str:
    """Return rollback.sql for a findings document (placeholder until remediation lands)."""
    return ("-- dupfinder rollback.sql\n"
            "-- cleanup.sql changes nothing in this version, so there is nothing to roll back.\n")


def migration_sql_for_findings(findings: dict[str, Any]) -> str:
    """Return migration.sql for a findings document (placeholder until remediation lands)."""
    lines = ["-- dupfinder migration.sql", "-- The UNIQUE-constraint migration is not generated yet by this version."]
    for table in findings["tables"]:
        lines.append(f"-- {table['table']}: UNIQUE ({', '.join(table['keys'])}) would be added here")
    return "\n".join(lines) + "\n"
