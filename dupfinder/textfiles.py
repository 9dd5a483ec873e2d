"""Read the text files a person hands dupfinder (config, findings, labels) with one clear error each way, and
write the ones it renders piece by piece."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DupfinderError


def read_text(path: str | Path, what: str, error: type[DupfinderError]) -> str:
    """The UTF-8 text of ``path``, or ``error`` with one line saying what is wrong with the ``what`` file.

    >>> from dupfinder.errors import UsageError
    >>> read_text("/nonexistent/dupfinder.toml", "config file", UsageError)
    Traceback (most recent call last):
    ...
    dupfinder.errors.UsageError: config file '/nonexistent/dupfinder.toml' not found
    """
    where = f"{what} {str(path)!r}"
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{where} not found") from None
    except IsADirectoryError:
        raise error(f"{where} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{where} is not UTF-8 text") from None
    except OSError as err:
        raise error(f"cannot read {where}: {err.strerror or err}") from None


def write_pieces(path: str | Path, pieces: Iterable[str]) -> None:
    """Write text rendered piece by piece to ``path`` (UTF-8) as it comes, never joined into one string."""
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        out.writelines(pieces)


def joined(pieces: Iterable[str], count: int = 4096) -> Iterator[str]:
    """The pieces joined ``count`` at a time: click's standard output is line buffered and flushes at every write
    that holds a line break, so written one by one, the pieces of a big plan were a system call a line.

    >>> list(joined(["a\\n", "b", "", "", "c\\n"], count=2))
    ['a\\nb', '', 'c\\n']
    """
    it = iter(pieces)
    while batch := list(itertools.islice(it, count)):  # a batch of empty pieces is no end
        yield "".join(batch)
