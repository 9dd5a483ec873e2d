"""The docstring examples of the installed modules (duration parsing, chaining helpers, quoting)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["cli", "report", "textfiles", "durations", "config", "values", "writers", "connect", "sqltemplates",
           "remediate", "cluster", "alembic_revision", "attribution.transactions", "attribution.timing",
           "attribution.clock", "attribution.written", "attribution.explain", "attribution.incidents",
           "attribution.model", "attribution.roles", "attribution.around", "evaluate", "urls", "words"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"dupfinder.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
