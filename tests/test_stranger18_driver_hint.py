"""A stranger followed the README (`pip install .`) and scanned MariaDB: "the driver for 'mysql+pymysql' is not
installed (pymysql)", and the README names no extra. The error now says which pip extra brings the driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# run dupfinder in a fresh interpreter where the driver module cannot be imported, as after `pip install .`
BLOCKED = ("import sys; sys.modules[{module!r}] = None; from dupfinder.cli import main; "
           "sys.argv[0] = 'dupfinder'; main()")


@pytest.mark.parametrize(("url", "module", "extra"), [
    ("mysql+pymysql://auditor@127.0.0.1:1/shop", "pymysql", "mysql"),
    ("duckdb:///{tmp}/shop.duckdb", "duckdb_engine", "duckdb"),
])
def test_missing_driver_names_the_extra(tmp_path, url, module, extra):
    if url.startswith("duckdb"):
        import duckdb

        duckdb.connect(str(tmp_path / "shop.duckdb")).close()
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED.format(module=module), "scan", url.format(tmp=tmp_path),
         "--table", "shipments", "--key", "order_id", "--ts", "inserted_at"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error:") and "Traceback" not in done.stderr
    assert f"pip install '.[{extra}]'" in done.stderr, done.stderr
