"""Scoring attribution against labels (dupfinder.evaluate and ``dupfinder evaluate``): figures checked against
hand computations on a real SQLite scan and on a miscalibrated toy document; bad label files refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import events_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dupfinder import api
from dupfinder.cli import main
from dupfinder.config import ScanOptions, table_spec
from dupfinder.evaluate import evaluate
from dupfinder.findings import findings_dict


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def scanned(sqlite_url, tmp_path):
    """A real scan: account 1 written by hosts a and b, account 2 twice by host a 0.2 s apart, account 4 by
    a and b, account 5 again 860 s later (a far duplicate, no cluster), account 3 once."""
    events_table(sqlite_url, [(1, 1, 0.0, "a"), (2, 1, 0.3, "b"), (3, 2, 10.0, "a"), (4, 2, 10.2, "a"),
                              (5, 3, 20.0, "a"), (6, 4, 30.0, "a"), (7, 4, 30.4, "b"), (8, 5, 40.0, "a"),
                              (9, 5, 900.0, "a")])
    spec = table_spec(table="events", keys=["account"], ts="ts", writers=["host=host"])
    doc = findings_dict(api.scan(ScanOptions(url=sqlite_url, tables=(spec,))))
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return doc, path


def test_a_real_scan_scored_by_hand(scanned, tmp_path):
    doc, path = scanned
    answers = {c["key"]["account"]: (c["mechanism"], c["confidence"]) for c in doc["tables"][0]["clusters"]}
    assert sorted(answers) == [1, 2, 4]
    assert answers[1][0] == answers[4][0] == "multi_host" and answers[2][0] == "worker_race"
    # labels: account 1 right, account 2 labelled retry (answered worker_race: wrong), account 5 labelled but
    # never a cluster (missed), account 4 found but not labelled (extra); keys as CSV text
    labels = tmp_path / "labels.csv"
    labels.write_text("table,key.account,mechanism\nevents,1,multi_host\nevents,2,retry\nevents,5,retry\n",
                      encoding="utf-8")
    result = api.evaluate(path, labels)
    assert (result.found, result.labelled, result.matched, result.missed, result.extra) == (3, 3, 2, 1, 1)
    assert (result.right, result.accuracy) == (1, 0.5)
    c1, c2 = answers[1][1], answers[2][1]
    assert result.ece == pytest.approx(abs((c1 + c2) / 2 - 0.5) if int(c1 * 10) == int(c2 * 10)
                                       else (abs(c1 - 1) + abs(c2 - 0)) / 2)
    assert result.confusion.to_dict(orient="index") == {"multi_host": {"multi_host": 1, "worker_race": 0},
                                                        "retry": {"multi_host": 0, "worker_race": 1}}
    per = result.per_mechanism
    assert per.loc["multi_host", "accuracy"] == 1.0 and per.loc["retry", "accuracy"] == 0.0
    assert result.reliability["count"].sum() == 2

    out = run("evaluate", str(path), str(labels), "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["clusters"] == {"found": 3, "labelled": 3, "matched": 2, "missed": 1, "extra": 1}
    assert data["accuracy"] == 0.5 and data["bins"] == 10 and len(data["reliability"]) == 10
    text = run("evaluate", str(path), str(labels))
    assert text.exit_code == 0  # a report, not a gate: half wrong still exits 0
    assert "3 found, 3 labelled, 2 matched, 1 missed, 1 extra" in text.output
    assert "accuracy: 0.500 (1 of 2 matched clusters right)" in text.output


def test_the_labelled_generator_scored_against_its_ground_truth(tmp_path):
    """The seeded generator's truth as a JSON-lines file (keys as objects): every labelled cluster found, and
    accuracy equals the share of clusters whose answer is the label, counted directly."""
    from dupfinder.sample_data import labelled

    lab = labelled.generate(11, with_xmin=False)
    url = f"sqlite:///{tmp_path}/lab.db"
    labelled.write(url, lab)
    spec = table_spec(table=lab.table, keys=list(lab.keys), ts=lab.ts, window=lab.window,
                      writers=[f"{r}={c}" for r, c in lab.writers.items()])
    doc = findings_dict(api.scan(ScanOptions(url=url, tables=(spec,))))
    labels = tmp_path / "truth.jsonl"
    labels.write_text("".join(json.dumps({"table": lab.table, "key": dict(zip(lab.keys, key, strict=True)),
                                          "mechanism": truth["mechanism"]}) + "\n"
                              for key, truth in lab.clusters.items()), encoding="utf-8")
    result = evaluate(doc, labels)
    answered = {tuple(c["key"][k] for k in lab.keys): c["mechanism"] for c in doc["tables"][0]["clusters"]}
    right = sum(answered.get(key) == truth["mechanism"] for key, truth in lab.clusters.items())
    assert result.labelled == len(lab.clusters) == result.matched and result.missed == 0
    assert result.extra == len(set(answered) - set(lab.clusters))
    assert result.right == right and result.accuracy == pytest.approx(right / len(lab.clusters))
    assert int(result.confusion.to_numpy().sum()) == result.matched


def toy(cluster_specs):
    """A findings document of one table, one cluster per (confidence, answer, shortlist)."""
    clusters = [{"key": {"n": n}, "mechanism": answer, "confidence": conf,
                 **({"candidates": [{"mechanism": m, "confidence": 0.4} for m in shortlist]} if shortlist else {})}
                for n, (conf, answer, shortlist) in enumerate(cluster_specs)]
    return {"tables": [{"table": "t", "clusters": clusters}]}


def test_a_miscalibrated_document_gives_the_hand_computed_ece():
    # 10 answers at 0.95, 5 right; 4 at 0.25, 3 right; an unknown at 0.65 with the truth in its shortlist;
    # an unknown at 0.05 without it. Truth is retry everywhere.
    specs = ([(0.95, "retry", None)] * 5 + [(0.95, "multi_host", None)] * 5 + [(0.25, "retry", None)] * 3
             + [(0.25, "worker_race", None)] + [(0.65, "unknown", ["retry", "multi_host"])]
             + [(0.05, "unknown", ["multi_host", "duplicate_run"])])
    labels = pd.DataFrame({"table": "t", "key": [json.dumps({"n": n}) for n in range(len(specs))],
                           "mechanism": "retry"})
    strict = evaluate(toy(specs), labels)
    # bins: 9 -> |0.95 - 0.5| * 10, 2 -> |0.25 - 0.75| * 4, 6 -> |0.65 - 1| * 1 (the unknown claims its
    # shortlist, which holds the truth: right for the calibration, with or without --abstentions-right),
    # 0 -> |0.05 - 0| * 1; over 16
    assert strict.ece == pytest.approx((4.5 + 2.0 + 0.35 + 0.05) / 16)  # 0.43125
    assert (strict.right, strict.accuracy) == (8, 0.5)
    assert (strict.abstained, strict.honest_abstentions, strict.abstentions_counted_right) == (2, 1, 0)
    lenient = evaluate(toy(specs), labels, abstentions_right=True)
    assert lenient.ece == pytest.approx((4.5 + 2.0 + 0.35 + 0.05) / 16)  # 0.43125
    assert (lenient.right, lenient.accuracy) == (9, 9 / 16)
    assert lenient.abstentions_counted_right == 1
    rel = strict.reliability.set_index("bin")
    assert rel.loc[9, "count"] == 10 and rel.loc[9, "accuracy"] == 0.5
    assert rel.loc[9, "mean_confidence"] == pytest.approx(0.95)
    assert rel.loc[2, "count"] == 4 and rel.loc[2, "accuracy"] == 0.75
    assert rel["count"].sum() == 16 and rel.loc[[1, 3, 4, 5, 7, 8], "count"].eq(0).all()
    five = evaluate(toy(specs), labels, bins=5)  # bins 0.2 wide: 0.25 and 0.05 apart; 0.65 in bin 3; 0.95 in 4
    assert five.ece == pytest.approx((4.5 + 2.0 + 0.35 + 0.05) / 16)
    assert rel.loc[6, "accuracy"] == 1.0  # the honest abstention, right in the reliability table too
    # a mapping mode -> mechanisms the mode cannot reveal: honest abstentions right only there
    by_mode = labels.assign(mode="none")
    assert evaluate(toy(specs), by_mode, abstentions_right={"none": {"retry"}}).right == 9
    assert evaluate(toy(specs), by_mode, abstentions_right={"none": {"multi_host"}}).right == 8


def test_one_key_in_two_clusters_is_one_label_scored_twice():
    doc = toy([(0.9, "retry", None), (0.9, "multi_host", None)])
    for c in doc["tables"][0]["clusters"]:
        c["key"] = {"n": 7}  # the key written twice, and twice again minutes later: two clusters
    result = evaluate(doc, pd.DataFrame({"table": ["t"], "key.n": ["7"], "mechanism": ["retry"]}))
    assert (result.found, result.labelled, result.matched, result.missed, result.extra) == (2, 1, 2, 0, 0)
    assert (result.right, result.accuracy) == (1, 0.5)


def test_cli_abstentions_flag_and_jsonl_labels(scanned, tmp_path):
    doc, path = scanned
    first = doc["tables"][0]["clusters"][0]
    assert first["key"] == {"account": 1}
    first.update(mechanism="unknown", candidates=[{"mechanism": "multi_host", "confidence": 0.5},
                                                  {"mechanism": "retry", "confidence": 0.3}])
    path.write_text(json.dumps(doc))
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"table": "events", "key": {"account": 1}, "mechanism": "multi_host"}\n\n'
                      '{"table": "events", "key": {"account": "2"}, "mechanism": "worker_race", "mode": "explicit"}\n')
    strict = json.loads(run("evaluate", str(path), str(labels), "--format", "json").output)
    assert (strict["right"], strict["honest_abstentions"], strict["abstentions_counted_right"]) == (1, 1, 0)
    both = json.loads(run("evaluate", str(path), str(labels), "--format", "json", "--abstentions-right").output)
    assert (both["right"], both["honest_abstentions"], both["abstentions_counted_right"]) == (2, 1, 1)


BAD_LABELS = {
    "missing mechanism column": "table,key.n\nt,0\n",
    "no key": "table,mechanism\nt,retry\n",
    "empty": "",
    "header only": "table,key.n,mechanism\n",
    "blank mechanism": "table,key.n,mechanism\nt,0,\n",
    "too many cells": "table,key.n,mechanism\nt,0,retry,extra\n",
    "key not an object": 'table,key,mechanism\nt,"[1, 2]",retry\n',
    "key not JSON": "table,key,mechanism\nt,{n:0},retry\n",
    "labelled twice": "table,key.n,mechanism\nt,0,retry\nt,0,multi_host\n",
    "bad JSON line": '{"table": "t", "key": {"n": 0}, "mechanism": "retry"}\n{"table": \n',
    "JSON line not an object": '{"table": "t", "key": {"n": 0}, "mechanism": "retry"}\n[1]\n',
    "both key forms": '{"table": "t", "key": {"n": 0}, "key.n": 0, "mechanism": "retry"}\n',
}


@pytest.fixture
def toy_findings(tmp_path):
    path = tmp_path / "findings.json"
    path.write_text(json.dumps({"dupfinder_version": "0", "scanned_at": "2026-11-03T00:00:00+00:00",
                                "database": "sqlite://", "tables": []}))
    return path


def assert_one_error_line(result) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("content", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_bad_label_files_give_one_error_line(tmp_path, toy_findings, content):
    labels = tmp_path / "labels.csv"
    labels.write_text(content, encoding="utf-8")
    assert_one_error_line(run("evaluate", str(toy_findings), str(labels)))


def test_unreadable_inputs_give_one_error_line(tmp_path, toy_findings):
    assert_one_error_line(run("evaluate", str(toy_findings), str(tmp_path / "absent.csv")))
    binary = tmp_path / "labels.csv"
    binary.write_bytes(b"\xff\xfe\x00table")
    assert_one_error_line(run("evaluate", str(toy_findings), str(binary)))
    good = tmp_path / "good.csv"
    good.write_text("table,key.n,mechanism\nt,0,retry\n")
    assert_one_error_line(run("evaluate", str(tmp_path / "absent.json"), str(good)))
    not_findings = tmp_path / "not.json"
    not_findings.write_text('{"tables": 3}')
    assert_one_error_line(run("evaluate", str(not_findings), str(good)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300),
                         st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), max_size=6).map(
                             lambda rows: "\n".join(",".join(r) for r in [["table", "key.n", "mechanism"], *rows])
                             .encode("utf-8", "surrogatepass")),
                         st.lists(st.recursive(st.none() | st.integers() | st.text(max_size=8),
                                               lambda c: st.lists(c, max_size=3)
                                               | st.dictionaries(st.sampled_from(["table", "key", "mechanism",
                                                                                  "key.n", "mode"]), c, max_size=4)),
                                  max_size=4).map(lambda xs: "\n".join(json.dumps(x) for x in xs).encode())))
def test_hostile_label_files_exit_0_or_one_error_line(tmp_path, toy_findings, content):
    labels = tmp_path / "hostile.csv"
    labels.write_bytes(content)
    result = run("evaluate", str(toy_findings), str(labels))
    if result.exit_code == 0:
        assert result.stdout.startswith("clusters: 0 found")
    else:
        assert_one_error_line(result)
