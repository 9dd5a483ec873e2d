"""Score attribution against labelled truth: which clusters were found, which mechanism was right, how well
the stated confidence matches the share of right answers (expected calibration error, reliability table).

Columnar work, so pandas: the findings' clusters and the labels become two frames joined on table + key
(keys compared as JSON-normalised text), and every figure is a groupby or a crosstab over the joined frame.
Only ``dupfinder evaluate`` imports this module; a scan never does.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import BadLabels
from .textfiles import read_text

BINS = 10  # equal-width confidence bins for the calibration error: [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]

# The joined frame ``score`` reads, one row per labelled or found cluster:
#   truth (str or None: found, not labelled), mechanism (str or None: labelled, not found),
#   confidence (float), candidates (list of mechanism names, the shortlist of an ``unknown``), mode (str).
COLUMNS = ("truth", "mechanism", "confidence", "candidates", "mode")


def key_text(key: Mapping[str, Any]) -> str:
    """The business key as JSON text with sorted column names and every value as text, so a key read from a
    CSV file ("17") equals the key a scan wrote (17).

    >>> key_text({"window_id": "2026-11-03", "account_id": 17})
    '{"account_id": "17", "window_id": "2026-11-03"}'
    >>> key_text({"account_id": "17", "day": "2026-11-03"}) == key_text({"day": "2026-11-03", "account_id": 17})
    True
    >>> key_text({"a": None, "b": True, "c": 2.0, "d": 2.5})
    '{"a": null, "b": "true", "c": "2", "d": "2.5"}'
    """
    return json.dumps({str(k): _scalar_text(v) for k, v in key.items()}, sort_keys=True, ensure_ascii=False)


def _scalar_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def bin_index(confidence: float, bins: int = BINS) -> int:
    """The equal-width bin a confidence falls in; 1.0 belongs to the last bin.

    >>> [bin_index(c) for c in (0.0, 0.05, 0.1, 0.55, 0.99, 1.0)]
    [0, 0, 1, 5, 9, 9]
    """
    return min(bins - 1, int(confidence * bins))


def calibration_error(confidence: Collection[float], right: Collection[bool], bins: int = BINS) -> float:
    """Expected calibration error: over equal-width bins, |mean confidence - share right| weighted by the bin's
    share of answers.

    >>> calibration_error([0.9, 0.9, 0.9, 0.9], [True, True, False, False])  # says 90%, right half the time
    0.4
    >>> calibration_error([0.25, 0.75], [False, True])  # two bins, each off by 0.25
    0.25
    """
    table = reliability(confidence, right, bins)
    used = table[table["count"] > 0]
    total = used["count"].sum()
    return float(((used["mean_confidence"] - used["accuracy"]).abs() * used["count"]).sum() / total)


def reliability(confidence: Collection[float], right: Collection[bool], bins: int = BINS) -> pd.DataFrame:
    """One row per equal-width bin: its edges, the answers in it, their mean confidence and share right."""
    conf = np.asarray(list(confidence), dtype=float)
    frame = pd.DataFrame({"bin": np.minimum(bins - 1, (conf * bins).astype(int)) if len(conf) else [],
                          "confidence": conf, "right": np.asarray(list(right), dtype=bool)})
    grouped = frame.groupby("bin").agg(mean_confidence=("confidence", "mean"), accuracy=("right", "mean"),
                                       count=("right", "size"))
    grouped = grouped.reindex(range(bins))
    grouped["count"] = grouped["count"].fillna(0).astype(int)
    grouped.insert(0, "upper", [(b + 1) / bins for b in range(bins)])
    grouped.insert(0, "lower", [b / bins for b in range(bins)])
    return grouped.reset_index().rename(columns={"index": "bin"})


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` measured. Accuracy counts the clusters both labelled and found; an ``unknown`` whose
    shortlist holds the truth is an honest abstention, right only where ``abstentions_right`` allowed it. The
    calibration (``ece``, ``reliability``) scores what each answer claims: a confidence is the probability that
    the named mechanism, or for an ``unknown`` one of its shortlist, is the truth, so an honest abstention is right
    there whatever ``abstentions_right`` says (the held-out protocol's definition, sample_data/tune.py)."""

    found: int             # clusters in the findings
    labelled: int          # clusters in the labels
    matched: int           # found clusters with a label (two clusters of one key, written again later, each count)
    missed: int            # labelled, not found
    extra: int             # found, not labelled
    right: int
    accuracy: float | None
    abstained: int         # matched clusters answered ``unknown``
    honest_abstentions: int  # ... with the truth in the shortlist
    abstentions_counted_right: int
    ece: float | None
    bins: int
    per_mechanism: pd.DataFrame   # truth -> clusters, right, accuracy, abstained
    confusion: pd.DataFrame       # pd.crosstab: rows the truth, columns the answer
    reliability: pd.DataFrame     # bin, lower, upper, mean_confidence, accuracy, count
    clusters: pd.DataFrame        # the joined frame, with ``matched``, ``right`` and ``honest`` per cluster

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN as null)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

        return {
            "clusters": {"found": self.found, "labelled": self.labelled, "matched": self.matched,
                         "missed": self.missed, "extra": self.extra},
            "right": self.right, "accuracy": _plain(self.accuracy),
            "abstained": self.abstained, "honest_abstentions": self.honest_abstentions,
            "abstentions_counted_right": self.abstentions_counted_right,
            "ece": _plain(self.ece), "bins": self.bins,
            "per_mechanism": rows(self.per_mechanism.reset_index()),
            "confusion": {str(t): {str(m): int(n) for m, n in row.items()}
                          for t, row in self.confusion.to_dict(orient="index").items()},
            "reliability": rows(self.reliability),
        }

    def text(self) -> str:
        """A report for people."""
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        lines = [f"clusters: {self.found} found, {self.labelled} labelled, {self.matched} matched, "
                 f"{self.missed} missed, {self.extra} extra (found, not labelled)",
                 f"accuracy: {pct(self.accuracy)} ({self.right} of {self.matched} matched clusters right)",
                 f"abstentions: {self.abstained} unknown, {self.honest_abstentions} with the truth in the shortlist "
                 f"({self.abstentions_counted_right} counted right)",
                 f"expected calibration error: {pct(self.ece)} ({self.bins} equal-width bins)", "",
                 "per true mechanism:", _frame_text(self.per_mechanism), "",
                 "confusion (rows: truth, columns: answer):", _frame_text(self.confusion), "",
                 "reliability (bins holding an answer):",
                 _frame_text(self.reliability[self.reliability["count"] > 0], index=False)]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _frame_text(frame: pd.DataFrame, index: bool = True) -> str:
    return "  (none)" if frame.empty else frame.to_string(index=index, float_format=lambda x: f"{x:.3f}")


def score(frame: pd.DataFrame, abstentions_right: bool | Mapping[str, Collection[str]] = False,
          bins: int = BINS) -> Evaluation:
    """Score a joined frame (see ``COLUMNS``): one row per labelled or found cluster.

    ``abstentions_right``: False, an honest abstention (``unknown`` with the truth in its shortlist) is wrong;
    True, it is right; a mapping mode -> mechanisms, it is right only where its truth is one the mode cannot
    reveal (e.g. without writer columns, one host or two).
    """
    frame = frame.reindex(columns=[*COLUMNS, *(c for c in frame.columns if c not in COLUMNS)]).copy()
    frame["mode"] = frame["mode"].where(frame["mode"].notna(), "")
    frame["candidates"] = [c if isinstance(c, (list, tuple)) else [] for c in frame["candidates"]]
    frame["labelled"] = frame["truth"].notna()
    frame["found"] = frame["mechanism"].notna()
    frame["matched"] = frame["labelled"] & frame["found"]
    listed = np.array([t in c for t, c in zip(frame["truth"], frame["candidates"], strict=True)], dtype=bool)
    frame["honest"] = frame["matched"] & (frame["mechanism"] == "unknown") & listed
    if isinstance(abstentions_right, Mapping):
        allowed = np.array([t in abstentions_right.get(m, ()) for t, m in zip(frame["truth"], frame["mode"],
                                                                                 strict=True)], dtype=bool)
    else:
        allowed = np.full(len(frame), bool(abstentions_right))
    frame["right"] = frame["matched"] & ((frame["mechanism"] == frame["truth"]) | (frame["honest"] & allowed))
    m = frame[frame["matched"]]
    per = (m.groupby("truth").agg(clusters=("right", "size"), right=("right", "sum"),
                                  abstained=("mechanism", lambda s: int((s == "unknown").sum())))
           if len(m) else pd.DataFrame(columns=["clusters", "right", "abstained"]))
    per["accuracy"] = per["right"] / per["clusters"] if len(m) else []
    confusion = pd.crosstab(m["truth"].rename("truth"), m["mechanism"].rename("answer"))
    claimed = m["right"] | m["honest"]
    table = reliability(m["confidence"].astype(float), claimed, bins)
    return Evaluation(
        found=int(frame["found"].sum()), labelled=_distinct(frame[frame["labelled"]]), matched=len(m),
        missed=_distinct(frame[frame["labelled"] & ~frame["found"]]),
        extra=int((frame["found"] & ~frame["labelled"]).sum()),
        right=int(m["right"].sum()), accuracy=float(m["right"].mean()) if len(m) else None,
        abstained=int((m["mechanism"] == "unknown").sum()), honest_abstentions=int(m["honest"].sum()),
        abstentions_counted_right=int((m["honest"] & m["right"]).sum()),
        ece=calibration_error(m["confidence"].astype(float), claimed, bins) if len(m) else None,
        bins=bins, per_mechanism=per[["clusters", "right", "accuracy", "abstained"]], confusion=confusion,
        reliability=table, clusters=frame,
    )


def _distinct(frame: pd.DataFrame) -> int:
    """Labels counted once each, also when one key is joined to several clusters (same key, written again)."""
    if {"table", "key"} <= set(frame.columns):
        return len(frame.drop_duplicates(["table", "key"]))
    return len(frame)


def evaluate(findings: Mapping[str, Any], labels: pd.DataFrame | str | Path,
             abstentions_right: bool | Mapping[str, Collection[str]] = False, bins: int = BINS) -> Evaluation:
    """Join a findings document's clusters to ``labels`` on table + key and score the attribution."""
    truth = read_labels(labels)
    found = findings_frame(findings)
    joined = found.merge(truth, on=["table", "key"], how="outer", suffixes=("", "_label"))
    if "mode" not in joined:
        joined["mode"] = ""
    return score(joined, abstentions_right, bins)


def findings_frame(findings: Mapping[str, Any]) -> pd.DataFrame:
    """One row per cluster of a findings document: table, key (text), mechanism, confidence, candidates."""
    records = []
    for table in findings.get("tables", []):
        for c in table.get("clusters", []):
            records.append({"table": table["table"], "key": key_text(c["key"]), "mechanism": c["mechanism"],
                            "confidence": float(c.get("confidence") or 0.0),
                            "candidates": [x["mechanism"] for x in c.get("candidates") or []]})
    return pd.DataFrame(records, columns=["table", "key", "mechanism", "confidence", "candidates"])


def read_labels(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Labels as a frame of table, key (text, see ``key_text``), truth and mode, from a DataFrame or a CSV or
    JSON-lines file with columns ``table``, the key as ``key.<column>`` columns or a ``key`` JSON object,
    ``mechanism`` and optionally ``mode``. Raise BadLabels naming the file and what is wrong."""
    if isinstance(source, pd.DataFrame):
        name, raw = "labels", source.to_dict(orient="records")
    else:
        name, raw = repr(str(source)), _read_label_records(Path(source))
    if not raw:
        raise BadLabels(f"labels {name} hold no labelled cluster")
    rows = []
    for n, record in enumerate(raw, start=1):
        where = f"labels {name}, record {n}"
        table, mechanism = record.get("table"), record.get("mechanism")
        for field, value in (("table", table), ("mechanism", mechanism)):
            if not isinstance(value, str) or not value.strip():
                raise BadLabels(f"{where}: no {field} (columns: table, key.<column> or key, mechanism[, mode])")
        key = _label_key(record, where)
        mode = record.get("mode")
        rows.append({"table": table.strip(), "key": key_text(key), "truth": mechanism.strip(),
                     "mode": "" if mode is None or (isinstance(mode, float) and math.isnan(mode)) else str(mode)})
    frame = pd.DataFrame(rows)
    twice = frame[frame.duplicated(["table", "key"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise BadLabels(f"labels {name} label the cluster {first['table']} {first['key']} more than once")
    return frame


def _label_key(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    columns = {k[4:]: v for k, v in record.items() if isinstance(k, str) and k.startswith("key.") and k[4:]}
    key = record.get("key")
    if isinstance(key, str):
        try:
            key = json.loads(key)
        except json.JSONDecodeError:
            raise BadLabels(f"{where}: key is not a JSON object: {key[:60]!r}") from None
    if isinstance(key, dict) and key:
        if columns:
            raise BadLabels(f"{where}: give the key either as a key object or as key.<column> columns, not both")
        return key
    if key is not None and not (isinstance(key, float) and math.isnan(key)):
        raise BadLabels(f"{where}: key is not a JSON object of column values")
    if not columns:
        raise BadLabels(f"{where}: no key (give key.<column> columns or a key JSON object)")
    return columns


def _read_label_records(path: Path) -> list[dict[str, Any]]:
    text = read_text(path, "labels file", BadLabels)
    if "\x00" in text:
        raise BadLabels(f"labels file {str(path)!r} is not text (NUL bytes)")
    if text.lstrip().startswith("{"):
        records = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as err:
                reason = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise BadLabels(f"labels file {str(path)!r}, line {n}: not JSON ({reason})") from None
            if not isinstance(record, dict):
                raise BadLabels(f"labels file {str(path)!r}, line {n}: not a JSON object")
            records.append(record)
        return records
    # every cell as text (the key columns must be: a leading zero is part of a key); an empty cell is no value
    try:
        with warnings.catch_warnings():  # more cells than the header names: refused, never shifted or cut
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True,
                                index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError) as err:
        raise BadLabels(f"labels file {str(path)!r} is not CSV: {' '.join(str(err).split())}") from None
    if "table" not in frame.columns or "mechanism" not in frame.columns:
        raise BadLabels(f"labels file {str(path)!r} is neither CSV with columns table, key.<column> or key, "
                        "mechanism[, mode] nor JSON lines")
    return [{k: (v if v != "" else None) for k, v in r.items()} for r in frame.to_dict(orient="records")]
