"""CI gates: --fail-on thresholds, --baseline of accepted findings, --format summary and junit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, events_table
from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.cli import main
from dupfinder.errors import UsageError
from dupfinder.gates import parse_gate

XSD = Path(__file__).with_name("junit.xsd")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    from dupfinder.sample_data import build_demo_database

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    build_demo_database(url)
    return url


def scan_demo(url, *extra):
    return run("scan", url, "--table", "recon_summary", "--key", "account_id", "--key", "window_id", "--ts",
               "created_at", *extra)


@pytest.mark.parametrize(("gates", "code"), [
    ([], 1),                                      # design.md: clusters found -> 1
    (["--fail-on", "clusters>20"], 0),            # 17 clusters: under the threshold
    (["--fail-on", "clusters>16"], 1),
    (["--fail-on", "clusters>=17"], 1),
    (["--fail-on", "mechanism:retry>0"], 0),      # all 17 are multi_host
    (["--fail-on", "mechanism:multi_host>16"], 1),
    (["--fail-on", "far>0"], 1),                  # the sample holds one far-duplicate key
    (["--fail-on", "far>1"], 0),
    (["--fail-on", "rows>34"], 0),
    (["--fail-on", "rows>33"], 1),
    (["--fail-on", "divergent>0"], 1),
    (["--fail-on", "delete>16"], 0),
    (["--fail-on", "incidents>0"], 1),
    (["--fail-on", "clusters>20", "--fail-on", "far>0"], 1),   # any tripped gate fails the run
])
def test_fail_on_thresholds(demo_url, gates, code):
    result = scan_demo(demo_url, *gates)
    assert result.exit_code == code, result.output
    if gates:
        assert f"gate {gates[1]}:" in result.output


def test_exit_codes_without_gates_are_unchanged(sqlite_url):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 8, 0.1)])
    clean = run("scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts")
    assert clean.exit_code == 0 and "\ngate " not in clean.output
    for fmt in ("summary", "junit"):
        assert run("scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts", "--format",
                   fmt).exit_code == 0


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=30), st.from_regex(r"\A[a-z_:]{0,25}(>|>=|<|=)?-?\d{0,15}\Z")))
def test_any_fail_on_text_parses_or_is_a_usage_error(text):
    try:
        gate = parse_gate(text)
    except UsageError as err:
        assert "--fail-on" in str(err)
        return
    assert parse_gate(gate.text) == gate


def test_summary_is_small_and_says_why(demo_url):
    full = scan_demo(demo_url, "--format", "json")
    result = scan_demo(demo_url, "--format", "summary", "--fail-on", "mechanism:multi_host>3")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert len(result.output) * 20 < len(full.output)  # no rows, no clusters: a few hundred bytes
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    assert doc["gates"] == [{"gate": "mechanism:multi_host>3", "value": 17, "failed": True}]
    table = doc["tables"][0]
    assert table["table"] == "recon_summary" and table["clusters"] == 17 and table["far"] == 1
    assert table["mechanisms"] == {"multi_host": 17} and table["failed"]
    assert doc["database"].startswith("sqlite:///")


def _validate_junit(text: str):
    import junitparser
    import xmlschema

    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(text)
    return junitparser.JUnitXml.fromstring(text)


def test_junit_is_valid_and_has_one_case_per_table(demo_url, tmp_path):
    from dupfinder.sample_data import demo_specs

    config = tmp_path / "all.toml"
    config.write_text("\n".join(
        f'[[table]]\nname = "{s.table}"\nkeys = {json.dumps(list(s.keys))}\nts = "{s.ts}"\nwindow = "{s.window}s"\n'
        for s in demo_specs()))
    result = run("scan", demo_url, "--config", str(config), "--format", "junit", "--fail-on", "clusters>0")
    assert result.exit_code == 1, result.output
    xml = _validate_junit(result.output)
    suites = list(xml)
    cases = [case for suite in suites for case in suite]
    assert sorted(c.classname for c in cases) == sorted(f"dupfinder.{s.table}" for s in demo_specs())
    failed = [c for c in cases if not c.is_passed]
    assert failed and all("clusters>0" in c.result[0].message for c in failed)
    assert "key=" in failed[0].result[0].text
    assert suites[0].failures == len(failed) and suites[0].tests == len(cases)
    # each case carries its table's scan time (it was always 0.000), the suite their sum
    assert all(c.time > 0 for c in cases)
    assert suites[0].time == pytest.approx(sum(c.time for c in cases), abs=0.002 * len(cases))


def test_junit_counts_read_as_english_for_one_and_for_many(demo_url):
    """A stranger's CI log said "1 incidents, 1 near-duplicate clusters"."""
    from dupfinder.sample_data import demo_specs

    one = {"near-duplicate cluster", "row in near-duplicate clusters", "row cleanup.sql would delete",
           "divergent cluster", "incident", "far-duplicate key", "cluster attributed to a mechanism"}
    many = {"near-duplicate clusters", "rows in near-duplicate clusters", "rows cleanup.sql would delete",
            "divergent clusters", "incidents", "far-duplicate keys", "clusters attributed to a mechanism"}

    counted = []
    for spec in demo_specs():
        result = run("scan", demo_url, "--table", spec.table, *[a for k in spec.keys for a in ("--key", k)],
                     "--ts", spec.ts, "--window", f"{spec.window}s", "--format", "junit")
        (case,) = [case for suite in _validate_junit(result.output) for case in suite]
        counted += [item.split(" ", 1) for item in case.system_out.split("rows scanned; ", 1)[1].split(", ")]
    assert {n for n, _ in counted} >= {"1", "0"}, counted
    for n, phrase in counted:
        assert phrase in (one if n == "1" else many), (n, phrase)


def test_the_junit_schema_rejects_what_ci_systems_reject():
    """The XSD is not vacuous: a test case without a name, or a count that is not a number, fails."""
    import xmlschema

    schema = xmlschema.XMLSchema(str(XSD))
    good = '<testsuites><testsuite name="s" tests="1"><testcase name="t"/></testsuite></testsuites>'
    schema.validate(good)
    for bad in ('<testsuites><testsuite name="s" tests="1"><testcase classname="t"/></testsuite></testsuites>',
                '<testsuites><testsuite name="s" tests="one"><testcase name="t"/></testsuite></testsuites>',
                '<testsuites><testsuite tests="1"/></testsuites>',
                '<testsuites><testsuite name="s" tests="1"><testcase name="t"><failure/><skipped/></testcase>'
                '</testsuite></testsuites>'):
        assert not schema.is_valid(bad), bad


def test_junit_carries_hostile_values_safely(sqlite_url):
    """Key values with control characters, quotes and markup stay well-formed XML."""
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE odd (id INTEGER PRIMARY KEY, k TEXT, ts DATETIME)")
        hostile = "a\x01<b>&\"]]>\x0b'"
        conn.execute(sa.text("INSERT INTO odd VALUES (1, :k, :t), (2, :k, :u)"),
                     {"k": hostile, "t": at(0), "u": at(0.2)})
    engine.dispose()
    result = run("scan", sqlite_url, "--table", "odd", "--key", "k", "--ts", "ts", "--format", "junit")
    assert result.exit_code == 1
    xml = _validate_junit(result.output)
    assert len([c for s in xml for c in s]) == 1


def _insert(url: str, rows: list[tuple]) -> None:
    engine = sa.create_engine(url)
    table = sa.Table("events", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": r[0], "account": r[1], "day": "2026-11-02", "ts": at(r[2]),
                                       "host": r[3], "note": "same"} for r in rows])
    engine.dispose()


def test_baseline_catches_a_new_incident_after_a_real_insert(db_url, tmp_path):
    """Two scans with real inserts in between, on SQLite and PostgreSQL: only what is new fails."""
    events_table(db_url, [(1, 7, 0.0, "a"), (2, 7, 0.4, "b"), (3, 8, 100.0, "a"), (4, 8, 100.3, "b"),
                          (5, 9, 200.0, "a")])
    args = ["scan", db_url, "--table", "events", "--key", "account", "--key", "day", "--ts", "ts"]
    accepted = tmp_path / "accepted"
    first = run(*args, "--out", str(accepted))
    assert first.exit_code == 1  # two clusters: the incident everyone knows about
    baseline = str(accepted / "findings.json")

    same = run(*args, "--baseline", baseline)
    assert same.exit_code == 0, same.output
    assert "2 clusters accepted, 0 new" in same.output

    _insert(db_url, [(6, 9, 200.2, "b")])  # a new double write: account 9 written twice
    caught = run(*args, "--baseline", baseline, "--format", "summary")
    assert caught.exit_code == 1, caught.output
    summary = json.loads(caught.output)
    assert summary["tables"][0]["clusters"] == 1 and summary["tables"][0]["known_clusters"] == 2
    junit = run(*args, "--baseline", baseline, "--format", "junit")
    xml = _validate_junit(junit.output)
    case = next(c for s in xml for c in s)
    assert not case.is_passed and '"account": 9' in case.result[0].text and '"account": 7' not in case.result[0].text

    _insert(db_url, [(7, 7, 0.9, "c")])  # a third copy joins a known cluster: that cluster is new again
    again = run(*args, "--baseline", baseline, "--format", "summary")
    assert json.loads(again.output)["tables"][0]["clusters"] == 2 and again.exit_code == 1
    # thresholds apply to what is new only
    tolerant = run(*args, "--baseline", baseline, "--fail-on", "clusters>2")
    assert tolerant.exit_code == 0, tolerant.output


def test_a_baseline_that_is_not_findings_is_one_error_line(sqlite_url, tmp_path):
    events_table(sqlite_url, [(1, 7, 0.0), (2, 7, 0.2)])
    bad = tmp_path / "bad.json"
    for content in ("{", '{"tables": 5}', "[]"):
        bad.write_text(content)
        result = run("scan", sqlite_url, "--table", "events", "--key", "account", "--ts", "ts", "--baseline",
                     str(bad))
        assert result.exit_code == 2 and result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_baseline_on_a_table_without_a_primary_key(sqlite_url, tmp_path):
    """Row ids change when a table is rewritten: rows of a table without a primary key are recognised by their
    timestamp. VACUUM renumbers SQLite's rowids; the accepted cluster stays accepted, a new one does not."""
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE loose (k INTEGER, ts DATETIME, note TEXT)")
        conn.execute(sa.text("INSERT INTO loose VALUES (:k, :ts, 'x')"),
                     [{"k": 0, "ts": at(-5)}, {"k": 1, "ts": at(0)}, {"k": 1, "ts": at(0.3)}, {"k": 2, "ts": at(50)}])
    args = ["scan", sqlite_url, "--table", "loose", "--key", "k", "--ts", "ts"]
    assert run(*args, "--out", str(tmp_path / "a")).exit_code == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM loose WHERE k = 0")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")  # rowids of the remaining rows change
    baseline = str(tmp_path / "a" / "findings.json")
    assert run(*args, "--baseline", baseline).exit_code == 0
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO loose VALUES (2, :ts, 'x')"), {"ts": at(50.2)})
    engine.dispose()
    assert run(*args, "--baseline", baseline).exit_code == 1


def test_summary_names_the_failed_tables_at_its_top(sqlite_url, tmp_path):
    """Among many tables the ones that failed were only a ``failed`` flag inside each table's entry; the text
    format names them on its last line. The summary now lists them first, in the config's order."""
    for name, rows in (("a_clean", [(1, 7, 0.0), (2, 8, 0.1)]), ("b_hit", [(1, 7, 0.0), (2, 7, 0.1)]),
                       ("c_clean", [(1, 7, 0.0)]), ("d_hit", [(1, 7, 0.0), (2, 7, 0.2), (3, 8, 0.0), (4, 8, 0.1)])):
        events_table(sqlite_url, rows, name=name)
    config = tmp_path / "t.toml"
    config.write_text("".join(f'[[table]]\nname = "{n}"\nkeys = ["account"]\nts = "ts"\n'
                              for n in ("d_hit", "a_clean", "b_hit", "c_clean")))
    result = run("scan", sqlite_url, "--config", str(config), "--format", "summary")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["failed_tables"] == ["d_hit", "b_hit"]
    assert list(doc)[:list(doc).index("failed_tables")] == ["dupfinder_version", "scanned_at", "database",
                                                              "exit_code", "verdict"]
    gated = json.loads(run("scan", sqlite_url, "--config", str(config), "--format", "summary",
                           "--fail-on", "clusters>3").output)
    assert gated["verdict"] == "pass" and gated["failed_tables"] == []


def _parts(classname: str) -> list[str]:
    """A JUnit classname read back as its dotted parts, a double-quoted part with its quotes doubled."""
    parts, rest = [], classname
    while rest:
        if rest.startswith('"'):
            end = 1
            while not (rest[end] == '"' and rest[end + 1:end + 2] != '"'):
                end += 2 if rest[end] == '"' else 1
            parts.append(rest[1:end].replace('""', '"'))
            rest = rest[end + 1:]
        else:
            part, _, rest = rest.partition(".")
            parts.append(part)
            rest = "." + rest if rest else ""
        assert not rest or rest.startswith("."), classname
        rest = rest[1:]
    return parts


NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
               min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), NAME), NAME), min_size=1, max_size=4, unique=True))
def test_junit_classnames_name_schema_and_table_unambiguously(tables):
    """Schema ``a.b``'s table ``c`` and schema ``a``'s table ``b.c`` were both ``dupfinder.a.b.c``. Each
    classname, parsed from the XML, now reads back as exactly its schema and name."""
    from dupfinder.gates import evaluate, junit_xml

    doc = {"scanned_at": "2026-11-24T00:00:00+00:00", "database": "sqlite://", "tables": [
        {"table": f"{schema}.{name}" if schema else name, "schema": schema, "name": name, "clusters": [],
         "rows_scanned": 1, "far_duplicates": 0} for schema, name in tables]}
    xml = _validate_junit(junit_xml(doc, evaluate(doc)))
    read = [_parts(case.classname) for suite in xml for case in suite]
    assert read == [["dupfinder", *([schema] if schema else []), name] for schema, name in tables]


def test_junit_tells_a_dotted_schema_from_a_dotted_table_on_postgresql(pg_url, tmp_path):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for schema, table in (("a.b", "c"), ("a", "b.c")):
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.exec_driver_sql(f'CREATE TABLE "{schema}"."{table}" (id int PRIMARY KEY, account int, ts timestamp)')
            conn.exec_driver_sql(f"""INSERT INTO "{schema}"."{table}" VALUES (1, 7, '2026-11-03 02:30:00'), """
                                 "(2, 7, '2026-11-03 02:30:00.3')")
    engine.dispose()
    config = tmp_path / "t.toml"
    config.write_text("[[table]]\nname = '\"a.b\".c'\nkeys = [\"account\"]\nts = \"ts\"\n"
                      "[[table]]\nname = 'a.\"b.c\"'\nkeys = [\"account\"]\nts = \"ts\"\n")
    result = run("scan", pg_url, "--config", str(config), "--format", "junit")
    assert result.exit_code == 1, result.output
    cases = [case for suite in _validate_junit(result.output) for case in suite]
    assert [c.classname for c in cases] == ['dupfinder."a.b".c', 'dupfinder.a."b.c"']
    assert all(not c.is_passed for c in cases)


def test_an_unknown_holding_a_mechanism_counts_for_possible_not_for_mechanism(demo_url):
    """An ``unknown`` whose shortlist holds retry is not attributed to retry: ``mechanism:retry`` keeps counting the
    clusters findings.json names retry (the contract's count), and ``possible:retry`` counts those and the unknown
    ones with retry on their shortlist, so a gate watching for retries does not pass where the evidence could not
    tell a retry from a second run (attr16; docs/ci.md)."""
    from dupfinder.gates import evaluate, parse_gates

    def cluster(mechanism, *shortlist):
        evidence = {"candidates": [{"mechanism": m, "confidence": 0.4} for m in shortlist]} if shortlist else {}
        return {"key": {"k": len(shortlist)}, "mechanism": mechanism, "payload": "identical", "evidence": evidence,
                "rows": [{"pk": {"id": 1}}, {"pk": {"id": 2}}]}

    doc = {"tables": [{"table": "a", "clusters": [cluster("unknown", "worker_race", "retry"),
                                                  cluster("unknown", "duplicate_run", "multi_host")]},
                      {"table": "b", "clusters": [cluster("retry"), cluster("multi_host")]}]}
    verdict = evaluate(doc, parse_gates(["mechanism:retry>1", "possible:retry>1", "possible:multi_host>1"]))
    assert [(o.gate, o.value, o.failed) for o in verdict.gates] == [
        ("mechanism:retry>1", 1, False), ("possible:retry>1", 2, True), ("possible:multi_host>1", 2, True)]
    assert verdict.exit_code == 1 and verdict.totals["possible:retry"] == 2 and verdict.totals["mechanism:retry"] == 1
    assert [t.reasons for t in verdict.tables] == [("possible:retry>1: 1 here", "possible:multi_host>1: 1 here"),
                                                   ("possible:retry>1: 1 here", "possible:multi_host>1: 1 here")]
    for bad in ("possible:unknown>0", "possible>0", "possible:nope>0"):
        with pytest.raises(UsageError, match="--fail-on"):
            parse_gate(bad)
    # on a real scan: the demo's 17 clusters are all multi_host, none unknown
    assert scan_demo(demo_url, "--fail-on", "possible:multi_host>16").exit_code == 1
    assert scan_demo(demo_url, "--fail-on", "possible:retry>0").exit_code == 0


def test_the_gate_knows_every_mechanism_the_model_names():
    """gates keeps its own list of mechanism names (a clean check never imports the model); a mechanism the model
    gains must be a name --fail-on mechanism:NAME and possible:NAME take."""
    from dupfinder import gates
    from dupfinder.attribution import model

    assert gates.MECHANISMS == (*model.MECHANISMS, "unknown")
    for name in model.MECHANISMS:
        assert parse_gate(f"possible:{name}>0").argument == parse_gate(f"mechanism:{name}>0").argument == name
