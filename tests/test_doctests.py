"""The docstring examples of the installed modules (duration parsing, chaining helpers, quoting): every module
holding one (test_every_module_with_examples_is_listed)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["cli", "report", "textfiles", "durations", "config", "values", "writers", "connect", "sqltemplates",
           "remediate", "cluster", "alembic_revision", "attribution.transactions", "attribution.timing",
           "attribution.clock", "attribution.written", "attribution.explain", "attribution.incidents",
           "attribution.model", "attribution.roles", "attribution.around", "evaluate", "urls", "words",
           "attribution.writercols", "gates", "totals", "progress", "runs", "findings", "discover", "recommend",
           "detect", "charts", "sample_data.tune"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"dupfinder.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_module_with_examples_is_listed():
    """Ten modules' examples had never run: nothing listed them."""
    from pathlib import Path

    holding = set()
    # sample_data lives beside dupfinder/ in the repository and inside it in the wheel: read both layouts
    for package, prefix in (("dupfinder", ""), ("dupfinder.sample_data", "sample_data.")):
        root = Path(importlib.import_module(package).__file__).parent
        holding |= {prefix + ".".join(p.relative_to(root).with_suffix("").parts) for p in root.rglob("*.py")
                    if ">>> " in p.read_text(encoding="utf-8")}
    assert holding <= set(MODULES), sorted(holding - set(MODULES))
