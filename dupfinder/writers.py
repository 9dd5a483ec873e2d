"""Which columns say who wrote a row: given with --writer ROLE=COLUMN, or inferred from column names and types.

Writer columns are left out of the payload comparison (two copies written by two hosts differ there), so an
inferred one decides which rows cleanup.sql may delete. Inference is therefore conservative:

* the name must END in a word of one role's vocabulary, or in such a word and one of that role's qualifiers
  (``scheduler_host``, ``node_name``, ``worker_id``, ``run_id``, ``build_number``, ``service_name``): the last
  word of a compound name says what it holds, so ``client_id``, ``release_date``, ``batch_size`` or
  ``node_count`` are business columns, never writers;
* ``client`` is not inferred at all: in a business table it names the customer, not the application;
* the type must fit the role: text for host and app, text/integer/uuid for process and run, text/integer for
  version. A date, timestamp, boolean, float or decimal column is never a writer.

A column the process role did not take (``pid`` is more specific than ``worker``) is read as the host when no column
carries that role and every value the scan read of it is a worker node name, ``name@host``: Celery names its
nodes so (``-n payouts-a@%h``), one node a pool of child processes on one machine, so beside the child's pid it is
the coarser writer, the one the pids live on (``node_hosts``). By its name alone it stayed in the payload, and
every copy a redelivery wrote on the other node was divergent in it.

A key column is never a writer: the copies of a cluster share their key, so it cannot tell their writers apart
(the scan leaves the keys out of inference and of the roles read from the data; config.TableSpec refuses
``--writer`` naming one).

``--writer`` names columns explicitly and overrides all of this. A column found by its name alone is not
``trusted``: cleanup compares it like a business column (a difference between the copies keeps the cluster
from being deleted) until the data confirms it (attribution.roles.from_data) or ``--writer`` names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ROLE_WORDS = {
    "host": ("host", "hostname", "node", "server", "machine", "pod", "instance"),
    "process": ("pid", "process", "worker", "thread"),
    "run": ("run", "job", "batch", "execution", "invocation"),
    "version": ("version", "release", "build", "revision", "sha"),
    "app": ("application", "app", "service", "client"),
}
_WORD_ROLE = {word: role for role, words in ROLE_WORDS.items() for word in words}
NOT_INFERRED = {"client"}  # a business word (the customer) far more often than a writer
# a version counting a row's own updates (Rails' lock_version, a row_version for optimistic locking), not the
# writer's software version: copies that differ in it were updated apart, which a cleanup must compare
ROW_COUNTERS = {"lock", "locking", "optimistic", "concurrency", "row", "record", "object", "entity"}
QUALIFIERS = {"host": {"name", "id"}, "process": {"id", "name"}, "run": {"id", "name"}, "version": {"number"},
              "app": {"name"}}
_TEXT = re.compile(r"CHAR|TEXT|STRING|CLOB|NAME|CITEXT|ENUM", re.IGNORECASE)
_INTEGER = re.compile(r"INT|SERIAL", re.IGNORECASE)
_UUID = re.compile(r"UUID|UNIQUEIDENTIFIER", re.IGNORECASE)
# Celery's node name (celery.utils.nodenames: name@hostname); an e-mail address has the same shape, which is why
# only a column named like a process writer is read by it
NODE_NAME = re.compile(r"[^@\s]+@[^@\s]+\Z")
_NEVER = re.compile(r"DATE|TIME|BOOL|FLOAT|DOUBLE|REAL|DECIMAL|NUMERIC|MONEY|INTERVAL|JSON|BLOB|BYTEA|BINARY",
                    re.IGNORECASE)


@dataclass(frozen=True)
class WriterColumn:
    role: str
    column: str
    reason: str
    trusted: bool = False  # cleanup leaves it out of the payload comparison: given with --writer, or confirmed


def name_words(name: str) -> list[str]:
    """Split a column name into lower-case words.

    >>> name_words("workerPID")
    ['worker', 'pid']
    >>> name_words("app_version")
    ['app', 'version']
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def plausible_type(role: str, type_name: str | None) -> bool:
    """Whether a column of this type can carry the role (an unknown type is judged by its name alone).

    >>> plausible_type("version", "DATE"), plausible_type("run", "BIGINT"), plausible_type("host", "INTEGER")
    (False, True, False)
    """
    if not type_name:
        return True
    if _NEVER.search(type_name):
        return False
    text, integer, uuid = bool(_TEXT.search(type_name)), bool(_INTEGER.search(type_name)), bool(_UUID.search(type_name))
    if role in ("host", "app"):
        return text
    if role in ("process", "run"):
        return text or integer or uuid
    return text or integer  # version


def name_role(name: str) -> tuple[str, str] | None:
    """The role a column name says it carries, and the deciding word; None unless the name ends in a role word
    (or a role word and that role's qualifier): the last word of a compound name says what it holds.

    >>> name_role("hostname"), name_role("consumer_pid"), name_role("app_version"), name_role("node_name")
    (('host', 'hostname'), ('process', 'pid'), ('version', 'version'), ('host', 'node'))
    >>> name_role("client_id"), name_role("release_date"), name_role("batch_size"), name_role("build_number")
    (None, None, None, ('version', 'build'))
    >>> name_role("lock_version"), name_role("row_version")
    (None, None)
    """
    words = name_words(name)
    if not words or any(w in NOT_INFERRED for w in words) or len(words) > 1 and words[-2] in ROW_COUNTERS:
        return None
    last = words[-1]
    if last in _WORD_ROLE:
        return _WORD_ROLE[last], last
    if len(words) > 1 and words[-2] in _WORD_ROLE and last in QUALIFIERS[_WORD_ROLE[words[-2]]]:
        return _WORD_ROLE[words[-2]], words[-2]
    return None


def _named(column: object) -> tuple[str, str | None]:
    """A column's name and type: ``column`` is a name or an object with ``name`` and ``type`` (connect.ColumnInfo)."""
    if isinstance(column, str):
        return column, None
    return column.name, getattr(column, "type", None)  # type: ignore[attr-defined]


def infer_writers(columns: Iterable[object], exclude: set[str]) -> tuple[WriterColumn, ...]:
    """Propose one column per role from column names (and types, for columns that carry one).

    ``columns`` are names or objects with ``name`` and ``type`` (connect.ColumnInfo).

    >>> [(w.role, w.column) for w in infer_writers(["id", "hostname", "worker_pid", "app_version"], {"id"})]
    [('host', 'hostname'), ('process', 'worker_pid'), ('version', 'app_version')]
    """
    found: dict[str, WriterColumn] = {}
    # the most specific word wins, then the first column: Celery's ``worker`` (its hostname, 'payouts-a@ledger')
    # before ``pid`` took the process role and left the pid to the payload, so every redelivery to another child
    # was divergent and read as two runs (tests/test_stranger23_payout_redelivery.py)
    ranks: dict[str, int] = {}
    for column in columns:
        name, type_name = _named(column)
        if name in exclude:
            continue
        fit = name_role(name)
        if fit is None or not plausible_type(fit[0], type_name):
            continue
        role, word = fit
        rank = ROLE_WORDS[role].index(word)
        if role not in found or rank < ranks[role]:
            typed = f", type {type_name}" if type_name else ""
            found[role] = WriterColumn(role, name, f"inferred: the name is the role word {word!r}{typed}")
            ranks[role] = rank
    order = list(ROLE_WORDS)
    return tuple(sorted(found.values(), key=lambda w: order.index(w.role)))


def node_names(values: Iterable[object]) -> bool:
    """Whether every value read (NULLs aside, at least one) is a worker node name, ``name@host``.

    >>> node_names(["payouts-a@ledgerhost", None, "celery@ip-10-0-0-7.ec2.internal"]), node_names(["worker-3"])
    (True, False)
    >>> node_names([]), node_names([None]), node_names([4711]), node_names(["a@b@c"])
    (False, False, False, False)
    """
    seen = False
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str) or not NODE_NAME.match(value):
            return False
        seen = True
    return seen


def node_hosts(writers: Iterable[WriterColumn], columns: Iterable[object], exclude: set[str],
               values: Callable[[str], Iterable[object]]) -> tuple[WriterColumn, ...]:
    """The inferred writer columns, plus the host role for a process-named column the process role did not take
    whose values (``values(column)``: those the scan read) are all worker node names, when no column is the host.

    >>> found = infer_writers(["id", "worker", "pid"], {"id"})
    >>> [(w.role, w.column) for w in node_hosts(found, ["id", "worker", "pid"], {"id"}, lambda c: ["a@h1", "b@h1"])]
    [('host', 'worker'), ('process', 'pid')]
    >>> [(w.role, w.column) for w in node_hosts(found, ["id", "worker", "pid"], {"id"}, lambda c: ["worker-1"])]
    [('process', 'pid')]
    """
    writers = tuple(writers)
    if any(w.role == "host" or w.trusted for w in writers):
        return writers
    taken = {w.column for w in writers}
    process = next((w.column for w in writers if w.role == "process"), None)
    for column in columns:
        name, type_name = _named(column)
        fit = name_role(name)
        if name in exclude or name in taken or fit is None or fit[0] != "process" \
                or not plausible_type("host", type_name) or not node_names(values(name)):
            continue
        typed = f", type {type_name}" if type_name else ""
        beside = f"; the process role went to {process!r}" if process else ""
        host = WriterColumn("host", name, f"inferred: the name is the role word {fit[1]!r}{typed}, and every value "
                            f"read is a worker node name, name@host (Celery's -n){beside}")
        order = list(ROLE_WORDS)
        return tuple(sorted((*writers, host), key=lambda w: order.index(w.role)))
    return writers


def resolve_writers(
    given: tuple[tuple[str, str], ...], infer: bool, columns: Iterable[object], exclude: set[str]
) -> tuple[WriterColumn, ...]:
    """The writer columns a scan uses: the ones given, else (unless turned off) the inferred ones."""
    if given:
        return tuple(WriterColumn(role, column, "given with --writer", trusted=True) for role, column in given)
    if not infer:
        return ()
    return infer_writers(columns, exclude)
