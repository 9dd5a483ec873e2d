"""The HTML report: precomputed context rendered by autoescaped jinja2 templates in reports/."""

from __future__ import annotations

from typing import Any

import jinja2

from .sqltemplates import resource_dir


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("reports", "reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(findings: dict[str, Any], sql: dict[str, str]) -> str:
    """Render report.html from a findings document and the SQL files written beside it."""
    return environment().get_template("base.html.j2").render(doc=findings, sql=sql)
