"""A stranger's webhook race (two handlers of one delivery, retried by the sender after a 250 ms timeout, each
checking then inserting) on MariaDB: 45 of its 140 clusters were answered `unknown` between duplicate_run,
multi_host and deploy_overlap at 15% each, "95-99% that it is one of them", while retry held 41% of the
posterior and was left off the shortlist (the three pooled batch mechanisms filled it).

An abstention's shortlist must hold every mechanism more likely than one of its members."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dupfinder.attribution import model
from dupfinder.attribution.model import decide
from dupfinder.attribution.observe import Observation

# the observations of cluster order_id=152 of the stranger's real run (findings.json evidence.observations)
WEBHOOK_RETRY_RACE = {"gap_local": ">=250ms|some|alone", "span_coverage": "most", "span_offsets": "varying",
                      "repeat": "single", "around_apart": "differs"}


def _outsiders_above(verdict) -> list[tuple[str, float]]:
    names = {m for m, _ in verdict.candidates}
    floor = min(verdict.posterior[m] for m in names)
    return [(m, p) for m, p in verdict.posterior.items() if m not in names and p > floor + 1e-12]


def test_webhook_retry_race_shortlist_holds_the_likeliest_mechanism():
    verdict = decide([Observation(f, v, "") for f, v in WEBHOOK_RETRY_RACE.items()], "none")
    assert verdict.mechanism == "unknown"
    likeliest = max(verdict.posterior, key=verdict.posterior.get)
    assert likeliest in {m for m, _ in verdict.candidates}, (verdict.candidates, verdict.posterior)
    assert _outsiders_above(verdict) == []


def _feature_values() -> dict[str, list[str]]:
    """Every value the model's measured and reasoned tables hold, per feature (what decide() reads)."""
    values: dict[str, set[str]] = {}
    for feature, per_mechanism in model.MEASURED.items():
        for counts in per_mechanism.values():
            values.setdefault(feature, set()).update(counts)
    for feature, table in model.REASONED.items():
        values.setdefault(feature, set()).update(table)
    return {f: sorted(v) for f, v in values.items() if v}


FEATURES = _feature_values()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data(), mode=st.sampled_from(["none", "inferred", "explicit"]),
       roles=st.sampled_from([None, {"process"}, {"run"}, {"host", "process"}]))
def test_no_mechanism_outside_a_shortlist_beats_a_member(data, mode, roles):
    chosen = data.draw(st.lists(st.sampled_from(sorted(FEATURES)), min_size=1, max_size=6, unique=True))
    obs = [Observation(f, data.draw(st.sampled_from(FEATURES[f])), "") for f in chosen]
    verdict = decide(obs, mode, None if mode == "none" else roles)
    if verdict.mechanism == "unknown":
        assert _outsiders_above(verdict) == [], (verdict.candidates, verdict.posterior)
