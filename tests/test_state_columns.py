"""A column named for the state of a row is not a run id. The copies of a double run differ in an order's status
when one was processed before the other was written (queued, sent): roles read from the data made it the "run"
writer column, the attribution compared runs by it, and the text output told a person to trust it with
``--writer run=status``. A column whose name holds a state word gets no role from the data."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_guessed_writers import lockstep

from dupfinder.attribution.roles import Profile, assign
from dupfinder.cli import main
from dupfinder.cluster import Cluster, ClusterRow

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)
STATES = ["status", "state", "stage", "phase", "kind", "type", "category", "outcome"]


def _clusters(column: str, values: list[str]) -> list[Cluster]:
    """Clusters of two copies, the first copy holding values[0], the second values[1] (as a queued and a sent
    order): the column differs in every cluster and takes two values, as a writer column of two runs does."""
    def row(t: int, value: str) -> ClusterRow:
        return ClusterRow({"id": t}, "", t, {}, False, {column: value})

    return [Cluster({"k": k}, (row(10 * k, values[0]), row(10 * k + 1, values[1])), 0.001, "identical", (),
                    (0.001,)) for k in range(6)]


def _spelled(words: list[str], style: str) -> str:
    if style == "snake":
        return "_".join(words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "_".join(words).upper()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(state=st.sampled_from(STATES), before=st.lists(WORD, max_size=2),
       after=st.lists(WORD, max_size=1), style=st.sampled_from(["snake", "camel", "upper"]),
       values=st.lists(WORD, min_size=2, max_size=2, unique=True))
def test_a_state_column_gets_no_writer_role_from_the_data(state, before, after, style, values):
    words = [*before, state, *after]
    column = _spelled(words, style)
    # a change every 10 rows: constant over stretches, what a run column shows (attr16's rule takes no column the
    # copies differ in without it, or a steadier order than a shuffle, or each copy's own value)
    profile = Profile(column, 60, 2, 6, 1.0)
    assert assign([profile], _clusters(column, values), {"host", "process", "run", "version"}) == []
    # the same column under a name that says nothing is read as a run, as before
    plain = _spelled(["batch", "tag"], style)
    found = assign([Profile(plain, 60, 2, 6, 1.0)], _clusters(plain, values), {"host", "process", "run", "version"})
    assert [(w.role, w.column) for w in found] == [("run", plain)]


def test_the_text_output_never_suggests_a_status_as_a_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    sa.create_engine(url).connect().close()
    lockstep(url, status_differs=True)
    result = CliRunner().invoke(main, ["scan", url, "--table", "orders", "--key", "order_ref", "--ts", "created_at"])
    assert result.exit_code == 1, result.output
    assert "multi_host" in result.output and "status" not in result.output.split("inc-1", 1)[0], result.output
