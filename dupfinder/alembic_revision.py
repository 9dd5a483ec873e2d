"""Write the UNIQUE migration as an Alembic revision, for projects whose schema Alembic manages.

The revision runs the same statements as migration.sql: the pre-flight, then ``CREATE UNIQUE INDEX
CONCURRENTLY`` inside ``autocommit_block()`` (it cannot run in a transaction), then the constraint. The file
is plain Python a reviewer can read; the SQL sits in it as string constants.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from .errors import UsageError
from .recommend import STANDBY_ALEMBIC
from .remediate import constraint_name, migration_parts

_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOLLAR_TAG = re.compile(r"(DO )?\$dupfinder\d*\$;?")
_DOWN = re.compile(r"^down_revision\s*(?::[^=]+)?=\s*(.+)$", re.M)


def versions_dir(directory: str | Path) -> Path:
    """The folder revisions go in: DIR/versions when DIR is an Alembic script folder, else DIR itself."""
    path = Path(directory)
    if (path / "versions").is_dir():
        path = path / "versions"
    if not path.is_dir():
        raise UsageError(f"--alembic {str(directory)!r} is not a folder (give the Alembic versions folder)")
    return path


def current_head(folder: Path) -> str | None:
    """The one revision no other revision revises; None for an empty history; an error for several heads."""
    revisions, parents = set(), set()
    for file in sorted(folder.glob("*.py")):
        text = file.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if not found:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down:
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise UsageError(f"the Alembic history in {str(folder)!r} has several heads ({', '.join(heads)}); "
                         "merge them first (alembic merge heads)")
    return heads[0] if heads else None


def statements(sql: str) -> list[str]:
    r"""Split generated SQL into single statements (drivers such as sqlite3 run one per call); a
    ``$dupfinder$`` block (or ``$dupfinderN$``, when a name contains the plain tag) stays whole.

    >>> statements("CREATE TEMP TABLE x (a int);\nDO $dupfinder$\nBEGIN\n  NULL;\nEND\n$dupfinder$;")
    ['CREATE TEMP TABLE x (a int);', 'DO $dupfinder$\nBEGIN\n  NULL;\nEND\n$dupfinder$;']
    """
    found, current, quoted = [], [], False
    for line in sql.splitlines():
        current.append(line)
        if _DOLLAR_TAG.fullmatch(line.strip()):  # "DO $tag$" opens a block, "$tag$;" closes it
            quoted = not quoted
        if not quoted and line.rstrip().endswith(";"):
            found.append("\n".join(current).strip())
            current = []
    if "\n".join(current).strip():
        found.append("\n".join(current).strip())
    return found


def _docstring_safe(name: str) -> str:
    r"""A table or column name as it may stand in the revision's docstring: JSON's escapes are Python's too,
    so a quote, a backslash or a control character in a name can neither end the docstring nor start code
    (other characters stay as they are: JSON writes astral ones as surrogate pairs, which Python does not
    read back as one character).

    >>> print(_docstring_safe('say "hi"\nbye'))
    "say \"hi\"\nbye"
    """
    return json.dumps(name, ensure_ascii=False)


def write_revision(directory: str | Path, dialect: str, table: str, keys: list[str],
                   nulls_not_distinct: bool = False, where: str | None = None, schema: str | None = None,
                   name: str | None = None, only: bool = False, standby: bool = False) -> Path:
    """Write the revision file and return its path. ``schema`` and ``name``: where the table was found, which
    the statements qualify it with (as migration.sql does), so the revision does not depend on the
    search_path Alembic runs under; ``only``: others INHERIT from it (see ``migration_sql``); ``standby``: it
    was written from a hot standby, so its docstring says to upgrade the primary."""
    folder = versions_dir(directory)
    parts = migration_parts(dialect, table, keys, nulls_not_distinct, where, schema=schema, name=name, only=only)
    down_revision = current_head(folder)
    revision = uuid.uuid4().hex[:12]
    constraint = constraint_name(table, keys)
    concurrent = dialect == "postgresql"
    upgrade = [f"    op.execute({statement!r})" for statement in statements(parts["preflight"])]
    if concurrent:
        upgrade += ["    # CREATE INDEX CONCURRENTLY cannot run inside a transaction",
                    "    with op.get_context().autocommit_block():",
                    f"        op.execute({parts['create_index']!r})"]
    else:
        upgrade.append(f"    op.execute({parts['create_index']!r})")
    if parts["add_constraint"]:
        upgrade.append(f"    op.execute({parts['add_constraint']!r})")
    if concurrent and "CONCURRENTLY" in parts["down"]:
        downgrade = ["    with op.get_context().autocommit_block():", f"        op.execute({parts['down']!r})"]
    else:
        downgrade = [f"    op.execute({parts['down']!r})"]
    text = "\n".join([
        f'"""dupfinder: UNIQUE ({", ".join(map(_docstring_safe, keys))}) on {_docstring_safe(table)}',
        "",
        f"Revision ID: {revision}",
        f"Revises: {down_revision or ''}",
        f"Create Date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        "Written by `dupfinder migrate --alembic`. The pre-flight fails while any duplicate key remains: run",
        "the cleanup first.",
        *(["", STANDBY_ALEMBIC] if standby else []),
        '"""',
        "",
        "from alembic import op",
        "",
        f"revision = {revision!r}",
        f"down_revision = {down_revision!r}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
        "def upgrade() -> None:",
        *upgrade,
        "",
        "",
        "def downgrade() -> None:",
        *downgrade,
        "",
    ])
    path = folder / f"{revision}_dupfinder_{constraint}.py"
    path.write_text(text, encoding="utf-8")
    return path
