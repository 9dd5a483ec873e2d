"""One error hierarchy: each subclass names a condition and carries the exit code design.md gives it."""

from __future__ import annotations


class DupfinderError(Exception):
    """Base class: a message a person can act on and the process exit code."""

    exit_code = 2


class UsageError(DupfinderError):
    """The command line or the config file asks for something that cannot be done."""


class BadDuration(UsageError):
    """A duration such as --window could not be parsed."""


class BadURL(UsageError):
    """The database URL is malformed or names a driver that is not installed."""


class TableNotFound(UsageError):
    """The named table does not exist."""


class ColumnNotFound(UsageError):
    """A named key, timestamp or writer column does not exist."""


class BadFindings(UsageError):
    """A findings.json file could not be read or does not have the expected shape."""


class BadLabels(UsageError):
    """A labels file for ``evaluate`` could not be read or lacks the table, key or mechanism of a cluster."""


class DatabaseUnavailable(DupfinderError):
    """The server could not be reached or refused the login."""

    exit_code = 3


class QueryFailed(DupfinderError):
    """A query dupfinder ran failed (timeout, permissions, engine error)."""

    exit_code = 3
