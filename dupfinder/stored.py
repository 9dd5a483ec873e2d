"""Row values kept in a temporary file while a scan runs: memory follows the clusters' shape, not the table's width.

Every column of every duplicated row is read once to compare payloads and once more to write the outputs
(findings.json's ``values``, cleanup.sql's guard); in between, the attribution reads a few of them (roles read
from data). Held as dicts, they were the largest part of a scan result (a dict of 6 entries and its values:
about 450 bytes a row, more for every column a table has); held here, a row keeps its place in the file (about
80 bytes) and the file about 70 bytes a row of six columns.
"""

from __future__ import annotations

import mmap
import pickle
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

FLUSH_BYTES = 1 << 20  # rows are written to the file in pieces of about this size
LENGTH_BITS = 40  # a row's place is one int: its offset in the file, then its length in the low bits


class ValueStore:
    """An append-only temporary file of rows of values, all with the same column names (one table's)."""

    __slots__ = ("names", "index", "_file", "_map", "_written", "_pending", "_last", "_spill")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}
        try:
            self._file = tempfile.TemporaryFile(prefix="dupfinder-rows-")  # removed when closed or collected
        except OSError:  # no writable temporary folder: the rows stay in memory, as before this file existed
            self._file = None
        self._spill = self._file is not None
        self._map = b""  # the file's bytes as last mapped (a slice of a map costs a tenth of a read)
        self._written = 0  # bytes in the file; the pending ones follow them
        self._pending = bytearray()
        self._last: tuple[int, tuple] = (-1, ())  # the row read last: a row's columns are often read in turn

    def put(self, values: dict[str, Any]) -> StoredValues:
        """Keep ``values`` (a dict with exactly ``names``, in that order) in the file; return its mapping."""
        data = pickle.dumps(tuple(values.values()), protocol=pickle.HIGHEST_PROTOCOL)
        place = (self._written + len(self._pending)) << LENGTH_BITS | len(data)
        self._pending += data
        if self._spill and len(self._pending) >= FLUSH_BYTES:
            self._flush()
        return StoredValues(self, place)

    def row(self, place: int) -> tuple:
        """The values kept at ``place``, in the order of ``names``."""
        if self._last[0] == place:
            return self._last[1]
        offset, length = place >> LENGTH_BITS, place & ((1 << LENGTH_BITS) - 1)
        if offset >= self._written:
            start = offset - self._written
            data = self._pending[start:start + length]
        else:
            if offset + length > len(self._map):
                self._map = mmap.mmap(self._file.fileno(), self._written, access=mmap.ACCESS_READ)
            data = self._map[offset:offset + length]
        row = pickle.loads(data)
        self._last = (place, row)
        return row

    def _flush(self) -> None:
        """Append the pending rows to the file; where it cannot take them (a full disk), they and every later row
        stay in memory: the scan goes on as it would have without the file."""
        try:
            self._file.seek(self._written)
            self._file.write(self._pending)
            self._file.flush()
        except OSError:
            self._spill = False
            return
        self._written += len(self._pending)
        self._pending = bytearray()


class StoredValues(Mapping):
    """A row's column values, read from its ValueStore when asked (a read-only dict for whoever reads it)."""

    __slots__ = ("_store", "_place")

    def __init__(self, store: ValueStore, place: int) -> None:
        self._store, self._place = store, place

    def __getitem__(self, name: str) -> Any:
        return self._store.row(self._place)[self._store.index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.names)

    def __len__(self) -> int:
        return len(self._store.names)

    def as_dict(self) -> dict[str, Any]:
        """The values as a new dict, read from the file once."""
        return dict(zip(self._store.names, self._store.row(self._place), strict=True))

    def __repr__(self) -> str:
        return repr(self.as_dict())
