"""Attribution scored against the labelled generator, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest

from dupfinder import api
from dupfinder.config import ScanOptions, table_spec
from dupfinder.sample_data.labelled import generate, write

SEEDS = (11, 23, 47, 90, 6)  # seed 6: no version column; see _roles for the others


def confusion_matrix(pairs: list[tuple[str, str]]) -> str:
    labels = sorted({p for pair in pairs for p in pair})
    counts = Counter(pairs)
    width = max(len(label) for label in labels) + 2
    lines = ["truth \\ found".ljust(width) + "".join(label[:12].rjust(14) for label in labels)]
    for truth in labels:
        lines.append(truth.ljust(width) + "".join(str(counts[(truth, f)]).rjust(14) for f in labels))
    return "\n".join(lines)


def score(db_url: str, explicit: bool) -> tuple[float, float, float, list[tuple[str, str]]]:
    pairs, true_pos, found_total, truth_total = [], 0, 0, 0
    for seed in SEEDS:
        lab = generate(seed, with_xmin=db_url.startswith("postgresql"))
        write(db_url, lab)
        spec = table_spec(table=lab.table, keys=list(lab.keys), ts=lab.ts, window=lab.window,
                          writers=lab.writers if explicit else {})
        table = api.scan(ScanOptions(url=db_url, tables=(spec,))).tables[0]
        found = {tuple(c.key[k] for k in lab.keys): c for c in table.clusters}
        found_total += len(found)
        truth_total += len(lab.clusters)
        for key, expected in lab.clusters.items():
            cluster = found.get(key)
            if cluster is None:
                continue
            if sorted(r.pk["id"] for r in cluster.rows) == expected["ids"]:
                true_pos += 1
                pairs.append((expected["mechanism"], cluster.mechanism))
        assert table.far_total == len(lab.far_keys)
    precision = true_pos / found_total if found_total else 1.0
    recall = true_pos / truth_total
    accuracy = sum(1 for t, f in pairs if t == f) / len(pairs)
    return precision, recall, accuracy, pairs


@pytest.mark.parametrize(("explicit", "target"), [(True, 0.95), (False, 0.90)], ids=["explicit", "inferred"])
def test_labelled_generator_score(db_url, explicit, target, capsys):
    precision, recall, accuracy, pairs = score(db_url, explicit)
    with capsys.disabled():
        print(f"\n[{db_url.split(':')[0]}, {'explicit' if explicit else 'inferred'} roles] "
              f"precision {precision:.3f} recall {recall:.3f} mechanism accuracy {accuracy:.3f} "
              f"over {len(pairs)} clusters")
        print(confusion_matrix(pairs))
    assert precision == 1.0
    assert recall == 1.0
    assert accuracy >= target
