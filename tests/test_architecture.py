"""The import contract (pyproject.toml [tool.importlinter], docs/architecture.md) holds, and it can fail.

import-linter builds the import graph of the package statically (grimp) and checks the layers contract (the data
flow runs one way) and the no-cycles contract. The second test plants an upward import into a copy of the
package and checks that the same contract, run on the copy, reports it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(pkg_parent: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter")
    env = {"PYTHONPATH": str(pkg_parent), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(LINT + ["--no-cache", str(ROOT / "pyproject.toml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_contract_is_kept(tmp_path):
    r = _lint(ROOT, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "2 kept, 0 broken" in r.stdout


@pytest.mark.parametrize("lower, upper", [
    ("tasks/base.py", "from ..train import config as _upward  # planted"),     # a task reaching into training
    ("store/schema.py", "from ..anchor import estimators as _upward  # planted"),  # the store reading anchors
    ("models.py", "from .world import embedded as _upward  # planted"),         # the old models <-> embedded cycle
])
def test_upward_import_breaks_the_contract(tmp_path, lower, upper):
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "disa_bench", copy / "disa_bench", ignore=shutil.ignore_patterns("__pycache__", "assets"))
    f = copy / "disa_bench" / lower
    f.write_text(f.read_text() + "\n" + upper + "\n")
    r = _lint(copy, tmp_path)
    assert r.returncode != 0, r.stdout[-3000:]
    assert "BROKEN" in r.stdout and "_upward" not in r.stderr
    assert f"disa_bench.{lower.removesuffix('.py').replace('/', '.')}" in r.stdout
