"""What a long scan is doing right now: the statement running and for how long, rows per second per table.

The command line draws it (on a terminal only); this module only keeps the numbers.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from .durations import format_seconds


def statement_label(sql: str, width: int = 60) -> str:
    """A one-line name for a statement: its first words, comments and blank space squeezed out.

    >>> statement_label("-- why\\nWITH candidate_keys AS (\\n  SELECT a FROM t)")
    'WITH candidate_keys AS ( SELECT a FROM t)'
    """
    text = re.sub(r"/\*.*?\*/|--[^\n]*", " ", sql, flags=re.DOTALL)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class ScanProgress:
    """The state a progress line shows, fed by the scan's progress callback and by statement events."""

    table: str = ""
    phase: str = ""
    table_started: float = field(default_factory=time.monotonic)
    statement: str | None = None
    statement_started: float = 0.0
    finished: list[tuple[str, int, float]] = field(default_factory=list)  # (table, rows, seconds)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listening: bool = False

    def start_table(self, table: str) -> None:
        with self._lock:
            if table != self.table:
                self.table, self.table_started = table, time.monotonic()

    def rows_read(self, table: str, rows: int) -> None:
        with self._lock:
            self.finished.append((table, rows, max(time.monotonic() - self.table_started, 1e-6)))

    def line(self) -> str:
        """``events: finding clusters · 12,345 rows/s · running WITH candidate_keys … for 3.0 s``."""
        with self._lock:
            parts = [f"{self.table}: {self.phase}"] if self.table else []
            done = [f for f in self.finished if f[0] == self.table]
            if done:
                _, rows, seconds = done[-1]
                parts.append(f"{rows:,} rows in {format_seconds(seconds)} ({rows / seconds:,.0f} rows/s)")
            if self.statement:
                parts.append(f"running {self.statement} for "
                             f"{format_seconds(time.monotonic() - self.statement_started)}")
            return " · ".join(parts)

    # SQLAlchemy cursor events, on every engine while listening
    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        with self._lock:
            self.statement, self.statement_started = statement_label(statement), time.monotonic()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        with self._lock:
            self.statement = None

    def listen(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        if not self._listening:
            event.listen(Engine, "before_cursor_execute", self._before)
            event.listen(Engine, "after_cursor_execute", self._after)
            self._listening = True

    def stop(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        if self._listening:
            event.remove(Engine, "before_cursor_execute", self._before)
            event.remove(Engine, "after_cursor_execute", self._after)
            self._listening = False
