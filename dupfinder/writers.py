"""Which columns say who wrote a row: given with --writer ROLE=COLUMN, or inferred from column names."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLE_WORDS = {
    "host": ("host", "hostname", "node", "server", "machine", "pod", "instance"),
    "process": ("pid", "process", "worker", "thread"),
    "run": ("run", "job", "batch", "execution", "invocation"),
    "version": ("version", "release", "build", "revision", "sha"),
    "app": ("application", "app", "service", "client"),
}
_WORD_ROLE = {word: role for role, words in ROLE_WORDS.items() for word in words}


@dataclass(frozen=True)
class WriterColumn:
    role: str
    column: str
    reason: str


def name_words(name: str) -> list[str]:
    """Split a column name into lower-case words.

    >>> name_words("workerPID")
    ['worker', 'pid']
    >>> name_words("app_version")
    ['app', 'version']
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def infer_writers(columns: list[str] | tuple[str, ...], exclude: set[str]) -> tuple[WriterColumn, ...]:
    """Propose one column per role from column names; the last role word in a name decides.

    >>> [(w.role, w.column) for w in infer_writers(["id", "hostname", "worker_pid", "app_version"], {"id"})]
    [('host', 'hostname'), ('process', 'worker_pid'), ('version', 'app_version')]
    """
    found: dict[str, WriterColumn] = {}
    for column in columns:
        if column in exclude:
            continue
        roles = [(_WORD_ROLE[w], w) for w in name_words(column) if w in _WORD_ROLE]
        if not roles:
            continue
        role, word = roles[-1]
        if role not in found:
            found[role] = WriterColumn(role, column, f"inferred: the name contains {word!r}")
    order = list(ROLE_WORDS)
    return tuple(sorted(found.values(), key=lambda w: order.index(w.role)))


def resolve_writers(
    given: tuple[tuple[str, str], ...], infer: bool, columns: tuple[str, ...], exclude: set[str]
) -> tuple[WriterColumn, ...]:
    """The writer columns a scan uses: the ones given, else (unless turned off) the inferred ones."""
    if given:
        return tuple(WriterColumn(role, column, "given with --writer") for role, column in given)
    if not infer:
        return ()
    return infer_writers(columns, exclude)
