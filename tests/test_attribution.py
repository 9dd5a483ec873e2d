"""Attribution scored on labelled tables: the first generator and the harder one, on HELD-OUT seeds and
parameter ranges (the model's parameters were measured on sample_data/tune.py's tuning set only).

Protocol: every labelled cluster must be found exactly (same rows); its answer is right when it is the
truth, or, where the mode cannot reveal the truth (without writer columns: one host or two, one release
or two), when it is ``unknown`` with the truth in the shortlist; the calibration error counts every ``unknown``
right when its shortlist holds the truth (its confidence is that probability). Modes: ``explicit`` (--writer given),
``inferred`` (roles from names and data), ``none`` (no writer columns, PostgreSQL: transactions and
timing). Accuracy and expected calibration error (10 bins) are printed per mode.

The seeds are sample_data.tune's "fresh-14" set, chosen (and committed alone) before the model changes it was
scored after, and scored once with the final model of the session that made them (the earlier sets had been
looked at while the model changed; see tune.HELD_OUT_SETS). Asserted: the issue's targets where that run met them,
and never less than what it reached minus a small margin (a cluster or a few).
"""

from __future__ import annotations

import time

from dupfinder.sample_data import tune

TARGETS = {"explicit": 0.95, "inferred": 0.95, "none": 0.85}
ECE_TARGET = 0.05
# What the one run of the fresh-14 set reached with the sixteenth session's final model (2 cores, 2026-11-25
# 00:32-00:33 UTC, 71 s; see docs/attribution.md "How well it works"): with writer columns 17,504 of 17,506
# clusters right (2 retries named multi_host). That session's model changes (copies written per firing read as N
# schedulers; a data-found writer column must change less often than a shuffle or carry its own value per copy)
# left fresh-13, its validation set, at the figures and confusion recorded for it (1.0 / 1.0 / 0.9988, separable
# 0.877), and the tuning set at 0.99926 / 0.99926 / 0.99228.
REACHED = {"explicit": 0.9999, "inferred": 0.9999, "none": 0.9982}
REACHED_ECE = {"explicit": 0.0, "inferred": 0.0, "none": 0.0011}
MARGIN = 0.002      # accuracy over 20,000+ clusters: about 40 clusters
ECE_MARGIN = 0.003
# Without writer columns most labelled clusters are batches written twice, where the right answer is the
# shortlist; on the 368 clusters whose truth the mode can name (races, retries, one transaction) the fresh-14 run
# reached 0.967 (356: 247 of 256 races named, 9 unknown; 47 of 49 retries, 2 unknown; 62 of 63 one transaction, 1
# unknown; no wrong name), above the project's 0.85 for them (fresh-13 reached 0.877, fresh-11 0.789: the sets
# differ that much).
# Asserted at the target or what was reached less 0.015, whichever is higher.
NONE_SEPARABLE_TARGET = 0.85
NONE_SEPARABLE_REACHED = 0.967
SEPARABLE_MARGIN = 0.015


def test_held_out_accuracy_and_calibration(pg_url, tmp_path, capsys):
    started = time.monotonic()
    records, lost = [], []
    for name, seed, mode, lab in tune.datasets(tuning=False, held_out="fresh-14"):
        url = pg_url if mode == "none" else f"sqlite:///{tmp_path}/{name}_{seed}_{mode}.db"
        recs, stats = tune.collect(url, lab, mode)
        records.extend(recs)
        assert stats["far"] == stats["far_truth"], (name, seed, mode, stats)
        assert stats["found"] == stats["truth"] == stats["exact"], (name, seed, mode, stats)
        lost.extend(r for r in recs if not r.found)
    result = tune.report(records)
    with capsys.disabled():
        print(f"\nheld-out attribution ({time.monotonic() - started:.0f} s):")
        for mode, r in result.items():
            print(f"  {mode:9} {r['exact']:6} clusters  accuracy {r['accuracy']:.4f}  ECE {r['ece']:.4f}  "
                  f"abstained {r['abstained']:.1%}  (separable truth: {r['separable']} clusters, "
                  f"accuracy {r['separable_accuracy']:.4f})")
        for mode in result:
            print(mode)
            print(tune.confusion([r for r in records if r.mode == mode]))
    assert not lost
    for mode, target in TARGETS.items():
        assert result[mode]["accuracy"] >= max(target, REACHED[mode] - MARGIN), (mode, result[mode])
        assert result[mode]["ece"] <= min(ECE_TARGET, REACHED_ECE[mode] + ECE_MARGIN), (mode, result[mode])
    floor = max(NONE_SEPARABLE_TARGET, NONE_SEPARABLE_REACHED - SEPARABLE_MARGIN)
    assert result["none"]["separable_accuracy"] >= floor, result["none"]


def test_every_parameter_is_measured_or_reasoned():
    from dupfinder.attribution import model

    assert model.TUNING.startswith(tuple("0123456789")), "the model has not been tuned"
    measured, reasoned = set(model.MEASURED), set(model.REASONED)
    assert measured and not measured & reasoned
    for feature, per in model.MEASURED.items():
        assert sum(sum(c.values()) for c in per.values()) >= 50, feature  # each measured on enough clusters
    for kind, bins in model.CALIBRATION.items():
        rights = [right for _, right, _ in bins]
        assert rights == sorted(rights), kind  # the calibration map never falls as the posterior rises
