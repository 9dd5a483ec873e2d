"""findings.schema.json: every scan's findings validate; `dupfinder cleanup` refuses anything else in one line."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from helpers import events_table
from jsonschema import Draft202012Validator
from sqlrun import scan_doc

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.errors import BadFindings
from dupfinder.findings import findings_schema, read_findings, validate_findings


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(findings_schema())


def test_scan_findings_validate(tmp_path, db_url):
    events_table(db_url, [(1, 7, 0.0, "a"), (2, 7, 0.3, "b"), (3, 8, 0.0)])
    outputs = api.write_outputs(api.scan(ScanOptions(url=db_url, tables=(
        table_spec(table="events", keys=["account", "day"], ts="ts"),))), tmp_path / "out")
    validate_findings(outputs.findings)
    assert read_findings(tmp_path / "out" / "findings.json")["tables"][0]["clusters"]


def test_small_scan_validates(sqlite_url):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    validate_findings(json.loads(json.dumps(scan_doc(sqlite_url))))


def _good(tmp_path, sqlite_url) -> dict:
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.3), (3, 8, 0.0)])
    return json.loads(json.dumps(scan_doc(sqlite_url)))


def _set(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


BROKEN = [
    (("tables",), "nope", "$.tables", "is not of type 'array'"),
    (("scanned_at",), KeyError, "$", "'scanned_at' is a required property"),
    (("scanned_at",), "2026-11-03\nDROP TABLE victim; --", "$.scanned_at", "does not match"),
    (("dupfinder_version",), "1.0\n; DROP TABLE victim", "$.dupfinder_version", "does not match"),
    (("tables", 0, "table"), 5, "$.tables[0].table", "is not of type 'string'"),
    (("tables", 0, "keys"), [], "$.tables[0].keys", "should be non-empty"),
    (("tables", 0, "keep"), "whatever", "$.tables[0].keep", "is not one of"),
    (("tables", 0, "clusters", 0, "payload"), "same", "$.tables[0].clusters[0].payload", "is not one of"),
    (("tables", 0, "clusters", 0, "rows", 1, "survivor"), True, "$.tables[0].clusters[0].rows", "exactly one row"),
    (("tables", 0, "clusters", 0, "rows", 0, "survivor"), False, "$.tables[0].clusters[0].rows", "exactly one row"),
    (("tables", 0, "clusters", 0, "rows", 0, "pk"), {}, "$.tables[0].clusters[0].rows[0].pk", "should be non-empty"),
    (("tables", 0, "clusters", 0, "rows", 0, "hash"), "x'; DROP", "$.tables[0].clusters[0].rows[0].hash",
     "does not match"),
    (("tables", 0, "referenced_by"), [{"table": "c", "columns": ["a"], "referred_columns": ["id"],
                                       "ondelete": "CASCADE'; DROP TABLE victim; --"}],
     "$.tables[0].referenced_by[0].ondelete", "is not one of"),
]


@pytest.mark.parametrize(("path", "value", "where", "message"), BROKEN, ids=[b[2] + ":" + b[3] for b in BROKEN])
def test_broken_findings_give_one_line_naming_the_field(tmp_path, sqlite_url, path, value, where, message):
    doc = _set(_good(tmp_path, sqlite_url), path, value)
    file = tmp_path / "findings.json"
    file.write_text(json.dumps(doc))
    with pytest.raises(BadFindings) as err:
        read_findings(file)
    text = str(err.value)
    assert "\n" not in text and f"at {where}:" in text and message in text, text
    result = CliRunner().invoke(main, ["cleanup", str(file), "-o", str(tmp_path / "cleanup.sql")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and "unexpected" not in result.output
    assert not (tmp_path / "cleanup.sql").exists()


@pytest.mark.parametrize("content", ["[]", '{"tables": [1]}', "null", '"text"', "{", "\xff"])
def test_wrong_shapes_are_bad_findings_not_unexpected(tmp_path, content):
    file = tmp_path / "findings.json"
    file.write_bytes(content.encode("latin-1"))
    result = CliRunner().invoke(main, ["cleanup", str(file)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output


def test_extra_fields_are_allowed(tmp_path, sqlite_url):
    doc = _good(tmp_path, sqlite_url)
    doc["something_new"] = {"any": 1}
    doc["tables"][0]["another"] = [1, 2]
    doc["tables"][0]["clusters"][0]["rows"][0]["extra"] = None
    validate_findings(doc)
