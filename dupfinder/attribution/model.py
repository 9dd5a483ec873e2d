"""The attribution model: every parameter in one place, each with the measurement or reason behind it.

It is a naive-Bayes (Fellegi–Sunter style) model. Each evidence module returns discrete observations
(``feature = value``); for every mechanism the model holds P(value | mechanism), the way a record-linkage
model holds its m and u probabilities. A cluster's score for a mechanism is the log prior plus the sum of
the log probabilities of what was observed (features not observed are left out: they cancel). The scores
become a posterior with a softmax, and the posterior of the answer becomes a **calibrated** confidence
through a binned map measured on the tuning set: among answers given 0.8, about 80% were right there.

Where the evidence cannot separate the best mechanisms (the winner's posterior below ``ABSTAIN_BELOW``
with a runner-up above ``SHORTLIST_FROM``), the answer is ``unknown`` with the shortlist and the one signal
that would settle it (``SEPARATING_SIGNAL``), never a coin flip presented as an answer.

Two kinds of parameter:

- **measured**: counts of feature values per true mechanism on the tuning set of the labelled generators
  (``sample_data/labelled.py`` and ``sample_data/harder.py``, tuning seeds and parameter ranges only; see
  ``sample_data/tune.py``, which rewrites the ``MEASURED`` block below). Probabilities are the counts with
  add-``SMOOTHING`` smoothing, so a value never seen with a mechanism is unlikely, never impossible.
- **reasoned**: signals the generators cannot produce (commit timestamps, job logs, the clock change, one
  transaction, sessions told apart by heap blocks), set from how the mechanism works; the reason is written
  beside each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .observe import Observation

MECHANISMS = ("deploy_overlap", "multi_host", "duplicate_run", "worker_race", "retry", "same_transaction",
              "dst_fallback")

# Prior: uniform. The mix of mechanisms in a table is not known in advance, and the generators' mix is an
# arbitrary choice that must not leak into answers on real tables.
PRIOR = {m: 1 / len(MECHANISMS) for m in MECHANISMS}

SMOOTHING = 1.0  # add-one (Laplace) on the measured counts

# Mechanisms named only on their own evidence: the clock-change pair and one transaction id. Without that
# observation nothing else in the model speaks for them (the generators do not produce them without it,
# so measured tables hold no counts for them), and they are left out of the running.
REQUIRES = {"dst_fallback": ("dst", "repeated hour"), "same_transaction": ("xmin", "same")}
# With writer columns a deploy overlap is named only when the version column differs between the copies
# (design.md: "the rows' version differs"); without a version column it cannot be told from two hosts.
REQUIRES_NAMED = {"deploy_overlap": ("version", "differ")}
# Without writer columns nothing tells one host from two or one release from two: whatever the measured
# tables say about these three there is the generators' choice of offsets and shares, not evidence. Their
# likelihoods are pooled (log-mean-exp), so the answer is the shortlist, never one of them by chance.
POOLED_WITHOUT_WRITERS = ("duplicate_run", "multi_host", "deploy_overlap")

# Abstention: below this posterior the winner is not presented as the answer when a runner-up holds at
# least SHORTLIST_FROM. Chosen on the tuning set (sample_data/tune.py prints accuracy and abstention rate
# for 0.5–0.8): 0.6 abstains only where two mechanisms are about equally likely.
ABSTAIN_BELOW = 0.6
SHORTLIST_FROM = 0.15
SHORTLIST_MAX = 3

# Reasoned probabilities P(value | mechanism); a mechanism left out gets OTHERWISE[feature].
REASONED: dict[str, dict[str, dict[str, float]]] = {
    # The clock-change pair is a local-time schedule firing in the repeated hour. Any other mechanism lands
    # a pair in that one hour of the year, on one host, only by chance (~1/8760 of the hours; 0.003 leaves
    # room for a night with many incidents).
    "dst": {"repeated hour": {"dst_fallback": 0.95}},
    # One xmin for every copy: one transaction inserted them. Two runs, two workers, two hosts or a retry
    # insert in separate transactions by construction; 0.002 covers a driver that batches two sessions'
    # statements (none known).
    "xmin": {"same": {"same_transaction": 0.98}, "differ": {"same_transaction": 0.02}},
    # Commit timestamps. Overlapped: a copy written while the previous copy's transaction was still open.
    # A check-then-act race does exactly that when the claim and insert share a transaction; two runs of a
    # batch job each holding one long transaction do too. A retry starts after the attempt failed or timed
    # out, so its previous transaction is normally over (0.05: a hung attempt whose transaction is still
    # open when the message is redelivered).
    # Sequential: each copy written at least RETRY_PAUSE after the previous one committed. A race's second
    # check would have seen the first commit, so a race almost never looks like this (0.02); a retry or a
    # redelivery always does when the timestamp is the insert time (0.8); two runs one after the other
    # sometimes (0.3).
    "commit": {
        "overlapped": {"worker_race": 0.6, "retry": 0.05, "duplicate_run": 0.45, "multi_host": 0.45,
                       "deploy_overlap": 0.45, "dst_fallback": 0.05},
        "sequential": {"worker_race": 0.02, "retry": 0.8, "duplicate_run": 0.3, "multi_host": 0.3,
                       "deploy_overlap": 0.3, "dst_fallback": 0.9},
    },
    # Job runs from the job log. Two runs of one job holding the copies is the double-run signature; a
    # retry inside a re-run job also spans two runs (0.15); a race or one transaction stays inside one run.
    "runs": {
        "two runs": {"duplicate_run": 0.9, "multi_host": 0.9, "deploy_overlap": 0.9, "dst_fallback": 0.9,
                     "retry": 0.15, "worker_race": 0.05, "same_transaction": 0.01},
        "one run": {"duplicate_run": 0.1, "multi_host": 0.1, "deploy_overlap": 0.1, "dst_fallback": 0.1,
                    "retry": 0.85, "worker_race": 0.95, "same_transaction": 0.99},
    },
    # Heap blocks two-coloured into two sessions that each wrote the batch: two runs; odd cycles (more than
    # two sessions): a pool. Real concurrent sessions only (tests/test_anonymous.py); the generators insert
    # from one session, so these are not measured.
    "heap_writers": {
        "two": {"duplicate_run": 0.6, "multi_host": 0.6, "deploy_overlap": 0.6, "worker_race": 0.1,
                "retry": 0.05, "dst_fallback": 0.3},
        "several": {"duplicate_run": 0.05, "multi_host": 0.05, "deploy_overlap": 0.05, "worker_race": 0.5,
                    "retry": 0.05, "dst_fallback": 0.05},
    },
}
OTHERWISE = {"dst": 0.003, "xmin": {"same": 0.002, "differ": 0.998}, "commit": 0.1, "runs": 0.5,
             "heap_writers": 0.1}

# --- MEASURED (rewritten by sample_data/tune.py; counts of feature values per true mechanism) ---
MEASURED: dict[str, dict[str, dict[str, int]]] = {'coverage': {'deploy_overlap': {'all/all': 1465, 'all/most': 3992, 'all/some': 519},
              'duplicate_run': {'all/all': 34263},
              'multi_host': {'all/all': 2829, 'all/few': 75, 'all/most': 5406, 'all/some': 1775},
              'retry': {'few/few': 38, 'some/few': 12},
              'worker_race': {'few/few': 548, 'some/few': 30}},
 'gap': {'deploy_overlap': {'0s whole': 334,
                            '<250ms': 391,
                            '<50ms': 33,
                            '<5ms': 3,
                            '>=1s whole': 1983,
                            '>=250ms': 3238},
         'duplicate_run': {'0s whole': 916, '<250ms': 79, '<50ms': 10, '>=1s whole': 3562, '>=250ms': 29698},
         'multi_host': {'0s whole': 517,
                        '<250ms': 611,
                        '<50ms': 107,
                        '<5ms': 5,
                        '>=1s whole': 1494,
                        '>=250ms': 7355},
         'retry': {'>=1s whole': 63, '>=250ms': 450},
         'same_transaction': {'0s whole': 24, '<5ms': 184},
         'worker_race': {'0s whole': 167, '<250ms': 156, '<50ms': 37, '<5ms': 538, '>=1s whole': 12}},
 'host': {'deploy_overlap': {'differ': 3580},
          'duplicate_run': {'same': 20526},
          'multi_host': {'differ': 6327},
          'retry': {'differ': 36, 'same': 289},
          'worker_race': {'differ': 80, 'same': 477}},
 'offsets': {'deploy_overlap': {'constant': 2667, 'varying': 3295},
             'duplicate_run': {'constant': 32597, 'varying': 1644},
             'multi_host': {'constant': 7106, 'varying': 2963},
             'worker_race': {'constant': 20, 'varying': 16}},
 'order': {'deploy_overlap': {'same': 5652, 'shuffled': 277},
           'duplicate_run': {'same': 32436, 'shuffled': 1724},
           'multi_host': {'same': 9275, 'shuffled': 628},
           'worker_race': {'same': 36}},
 'pace': {'deploy_overlap': {'after': 5622, 'within': 351},
          'duplicate_run': {'after': 33339, 'within': 902},
          'multi_host': {'after': 9537, 'within': 509},
          'retry': {'after': 46, 'within': 4},
          'worker_race': {'after': 368, 'within': 102}},
 'pair_clusters': {'deploy_overlap': {'1': 2, '2-4': 26, '5+': 5948},
                   'duplicate_run': {'1': 4, '2-4': 37, '5+': 34222},
                   'multi_host': {'1': 2, '2-4': 34, '5+': 10049},
                   'retry': {'1': 42, '2-4': 8},
                   'worker_race': {'1': 474, '2-4': 80, '5+': 24}},
 'process': {'deploy_overlap': {'differ': 3084, 'same': 502},
             'duplicate_run': {'differ': 23370},
             'multi_host': {'differ': 6370},
             'retry': {'differ': 50, 'same': 284},
             'worker_race': {'differ': 578}},
 'repeat': {'deploy_overlap': {'fixed': 2171, 'single': 1067},
            'duplicate_run': {'fixed': 24184, 'single': 5514},
            'multi_host': {'fixed': 5653, 'single': 1702},
            'retry': {'fixed': 260, 'single': 190}},
 'span_coverage': {'deploy_overlap': {'few': 2, 'most': 1, 'some': 3},
                   'duplicate_run': {'few': 2},
                   'multi_host': {'few': 1, 'some': 3},
                   'retry': {'few': 406, 'most': 19, 'some': 38},
                   'same_transaction': {'all': 107, 'few': 46, 'most': 22, 'some': 33},
                   'worker_race': {'few': 214, 'most': 33, 'some': 85}},
 'txn': {'deploy_overlap': {'batch': 2390, 'single': 6},
         'duplicate_run': {'batch': 10893, 'single': 2},
         'multi_host': {'batch': 3715, 'single': 4},
         'retry': {'single': 179},
         'same_transaction': {'single': 208},
         'worker_race': {'single': 332}},
 'version': {'deploy_overlap': {'differ': 3586},
             'duplicate_run': {'same': 12428},
             'multi_host': {'same': 2032},
             'retry': {'same': 162},
             'worker_race': {'same': 264}}}
# Calibration: (upper edge of the raw posterior, share of such answers that were right, answers)
# per kind of answer and mode family (named: writer columns; anonymous: none), on the tuning set.
CALIBRATION: dict[str, list[tuple[float, float, int]]] = {'answer/anonymous': [(0.981933, 0.85, 60), (0.985348, 0.9833, 60), (0.9937, 0.9833, 60), (0.997818, 0.9833, 300),
                      (0.998171, 1.0, 60), (0.998928, 1.0, 60), (0.999992, 1.0, 60), (0.999992, 1.0, 60),
                      (1.0, 1.0, 11)],
 'answer/named': [(0.993131, 0.9957, 2819), (0.999561, 1.0, 2819), (0.999775, 1.0, 2819), (0.999937, 1.0, 2819),
                  (0.99994, 1.0, 2819), (0.999967, 1.0, 2819), (0.999967, 1.0, 2819), (0.999967, 1.0, 2819),
                  (0.999967, 1.0, 2819), (0.999967, 1.0, 2819), (0.999989, 1.0, 2819), (0.999999, 1.0, 2819),
                  (1.0, 1.0, 11)],
 'unknown/anonymous': [(0.999999, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416),
                       (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416),
                       (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 1416), (1.0, 1.0, 6)],
 'unknown/named': [(0.998588, 0.0, 33), (0.998588, 0.0, 33), (0.998588, 0.0, 33), (0.998588, 0.0, 33),
                   (0.998588, 0.0, 33), (0.998588, 0.0, 33), (0.998588, 0.0, 33), (0.998588, 0.0, 33),
                   (0.998588, 0.0, 33), (0.998588, 0.0, 33), (0.998588, 0.0, 33), (1.0, 0.0, 33), (1.0, 0.0, 3)]}
TUNING = '51967 tuning clusters: labelled seeds 100-111, harder seeds 1000-1011 (harder.TUNING)'
# --- END MEASURED ---

SEPARATING_SIGNAL = {
    frozenset({"multi_host", "duplicate_run"}): "a host column (--writer host=COLUMN)",
    frozenset({"multi_host", "deploy_overlap"}): "a version column (--writer version=COLUMN)",
    frozenset({"duplicate_run", "deploy_overlap"}): "a version column (--writer version=COLUMN)",
    frozenset({"duplicate_run", "worker_race"}): "a process or run column (--writer process=COLUMN)",
    frozenset({"worker_race", "retry"}): "commit timestamps (track_commit_timestamp = on) or a process column",
    frozenset({"retry", "duplicate_run"}): "a process id or run id column (--writer process=COLUMN)",
    frozenset({"multi_host", "worker_race"}): "a process column beside the host column",
    frozenset({"multi_host", "retry"}): "a host column (--writer host=COLUMN)",
    frozenset({"same_transaction", "retry"}): "the transaction id (xmin, PostgreSQL)",
    frozenset({"dst_fallback", "retry"}): "the job log of that night (--runs FILE)",
}
DEFAULT_SIGNAL = "a host, process or run column recorded on each row (--writer ROLE=COLUMN)"


def probability(feature: str, value: str, mechanism: str) -> float | None:
    """P(value | mechanism) for one observation; None when the model has no table for the feature."""
    if feature in REASONED:
        table = REASONED[feature].get(value, {})
        if mechanism in table:
            return table[mechanism]
        other = OTHERWISE.get(feature, 0.1)
        return other.get(value, 0.1) if isinstance(other, dict) else other
    counts = MEASURED.get(feature)
    if not counts:
        return None
    values = sorted({v for per in counts.values() for v in per} | {value})
    seen = counts.get(mechanism, {})
    total = sum(seen.values())
    return (seen.get(value, 0) + SMOOTHING) / (total + SMOOTHING * len(values))


@dataclass(frozen=True)
class Verdict:
    mechanism: str                       # the answer, or "unknown"
    confidence: float                    # calibrated probability that the answer is right
    posterior: dict[str, float]          # every mechanism's posterior
    candidates: tuple[tuple[str, float], ...]  # the shortlist when unknown
    weights: dict[str, dict[str, float]]  # per observation: log P(value | m) for each mechanism
    signal: str | None = None            # what would settle an unknown


def decide(observations: Iterable[Observation], mode: str) -> Verdict:
    """Posterior, answer (or abstention) and calibrated confidence for one cluster's observations."""
    obs = list(observations)
    seen = {(o.feature, o.value) for o in obs}
    required = {**REQUIRES, **(REQUIRES_NAMED if mode != "none" else {})}
    running = [m for m in MECHANISMS if m not in required or required[m] in seen]
    scores = {m: math.log(PRIOR[m]) for m in running}
    weights: dict[str, dict[str, float]] = {}
    for o in obs:
        row = {}
        for m in running:
            p = probability(o.feature, o.value, m)
            if p is None:
                break
            row[m] = math.log(p)
        else:
            weights[f"{o.feature}={o.value}"] = row
            for m in running:
                scores[m] += row[m]
    if mode == "none":
        pooled = [m for m in POOLED_WITHOUT_WRITERS if m in scores]
        peak = max(scores[m] for m in pooled)
        shared = peak + math.log(sum(math.exp(scores[m] - peak) for m in pooled) / len(pooled))
        for m in pooled:
            scores[m] = shared
    top = max(scores.values())
    exp = {m: math.exp(s - top) for m, s in scores.items()}
    total = sum(exp.values())
    posterior = {m: exp[m] / total for m in running}
    ranked = sorted(posterior.items(), key=lambda mp: -mp[1])
    best, p_best = ranked[0]
    runner, p_runner = ranked[1]
    family = "anonymous" if mode == "none" else "named"
    if p_best < ABSTAIN_BELOW and p_runner >= SHORTLIST_FROM:
        shortlist = tuple((m, p) for m, p in ranked[:SHORTLIST_MAX] if p >= SHORTLIST_FROM)
        mass = sum(p for _, p in shortlist)
        signal = SEPARATING_SIGNAL.get(frozenset({best, runner}), DEFAULT_SIGNAL)
        return Verdict("unknown", calibrate(mass, f"unknown/{family}"), posterior, shortlist, weights, signal)
    return Verdict(best, calibrate(p_best, f"answer/{family}"), posterior, (), weights)


def calibrate(raw: float, kind: str) -> float:
    """The share of answers that were right on the tuning set among answers with this raw posterior."""
    bins = CALIBRATION.get(kind)
    if not bins:
        return raw
    for edge, right, _n in bins:
        if raw <= edge:
            return right
    return bins[-1][1]


def contributions(verdict: Verdict, against: str) -> list[tuple[str, float]]:
    """How much each observation moved the answer against ``against``: log P(v|answer) − log P(v|against)."""
    answer = verdict.mechanism if verdict.mechanism != "unknown" else verdict.candidates[0][0]
    moved = [(name, row[answer] - row[against]) for name, row in verdict.weights.items()]
    return sorted(moved, key=lambda nm: -abs(nm[1]))
