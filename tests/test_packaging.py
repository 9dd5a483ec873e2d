"""The installed package works away from the source tree: templates and sample data ship in the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_sample_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("dupfinder-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ROOT.joinpath("queries").glob("*.sql.j2"):
        assert f"dupfinder/queries/{template.name}" in names
    for template in ROOT.joinpath("reports").glob("*.j2"):
        assert f"dupfinder/reports/{template.name}" in names
    assert "dupfinder/sample_data/incidents.py" in names
    assert "dupfinder/findings.schema.json" in names


def test_installed_cli_runs_the_demo_from_another_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "dupfinder", "demo", "--out", "demo-out"], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "report:" in done.stdout
    doc = json.loads((tmp_path / "demo-out" / "findings.json").read_text())
    assert len(doc["tables"]) == 5
    where = subprocess.run([sys.executable, "-c", "import dupfinder; print(dupfinder.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=env)
    assert where.returncode == 0 and where.stdout.strip()
