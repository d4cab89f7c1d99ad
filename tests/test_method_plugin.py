"""A new method is one file: dropped into a copy of the package, it is discovered, trains, and shows in the report.

The copy is the real package (shutil.copytree); the only change is the new file in ``disa_bench/methods/``. The
CLI runs in a real subprocess with PYTHONPATH pointing at the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

REINFORCE = '''"""REINFORCE with a group-mean baseline: loss = -mean_i (r_i - mean_{group(i)} r) * sum_t log pi_theta(y_i,t | x_i)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method


@dataclass
class REINFORCEConfig:
    scale: float = 1.0  # multiplies the advantage


@METHODS.register("reinforce")
class REINFORCE(Method):
    name = "reinforce"
    Config = REINFORCEConfig
    needs = frozenset()  # no pi_old, pi_ref or anchor

    def advantages(self, reward, group):
        import torch

        adv = torch.zeros_like(reward)
        for g in torch.unique(group):
            idx = group == g
            adv[idx] = reward[idx] - reward[idx].mean()
        return self.cfg.scale * adv

    def loss(self, batch: Batch):
        adv = batch.extra.get("advantage")
        if adv is None:
            adv = self.advantages(batch.reward, batch.group)
        loss = -(adv * (batch.logp * batch.mask).sum(-1)).mean()
        return loss, {"adv_abs": adv.abs().mean().item()}
'''

# the smoke profile, smaller still: the point is that the method runs through every stage, not its numbers
SMALL_RUN = """
propose: {n_prompts: 8, k: 4}
anchor: {bootstrap: 10}
train: {steps: 2, prompts_per_step: 4, n: 4}
eval: {n_prompts: 8, k: 4}
method_args: {reinforce: {scale: 2.0}}
"""


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def _copy(root: Path) -> Path:
    shutil.copytree(ROOT / "disa_bench", root / "disa_bench", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def _run(pkg: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pkg), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "disa_bench", *map(str, args)], cwd=pkg, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.usefixtures("base_model_dir", "teacher_model_dir")  # the embedded models, built once for the session
def test_one_file_method_trains_and_reaches_the_report(tmp_path):
    pkg = _copy(tmp_path / "pkg")
    before = _files(pkg / "disa_bench")
    (pkg / "disa_bench" / "methods" / "reinforce.py").write_text(REINFORCE)
    after = _files(pkg / "disa_bench")
    assert set(after) - set(before) == {"methods/reinforce.py"}  # no other file touched
    assert all(after[k] == v for k, v in before.items())

    # its options reach the command line without editing it
    p = _run(pkg, "train", "--method", "reinforce", "--help-method")
    assert p.returncode == 0, p.stderr
    assert any(l.split()[:3] == ["scale", "float", "1.0"] and "advantage" in l for l in p.stdout.splitlines()), p.stdout

    # the whole run: discovered, trained with the run's per-method options, evaluated, in the report
    (tmp_path / "small.yaml").write_text(SMALL_RUN)
    run = tmp_path / "run"
    p = _run(pkg, "run", "--profile", "smoke", "--methods", "reinforce", "--no-sweep", "--config", tmp_path / "small.yaml",
             "--out", run)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    s = json.loads((run / "train" / "reinforce" / "summary.json").read_text())
    assert s["method"] == "reinforce" and s["method_config"] == {"scale": 2.0} and s["data_source"] == "online"
    report = (run / "report" / "report.md").read_text()
    rows = [l for l in report.splitlines() if l.startswith("| reinforce |")]
    assert rows, report
    assert (run / "eval" / "reinforce" / "results.json").is_file()

    # and the single command, on the run's store, with a --method-arg
    out = tmp_path / "train"
    p = _run(pkg, "train", "--method", "reinforce", "--profile", "smoke", "--store", run / "propose" / "store.parquet",
             "--steps", "2", "--prompts-per-step", "4", "--n", "4", "--method-arg", "scale=0.5", "--out", out)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 2 and s["method_config"] == {"scale": 0.5} and s["compute"]["optimizer_steps"] == 8

    # the repository's own package knows nothing of it
    from disa_bench.methods import method_names

    assert "reinforce" not in method_names()


def test_a_method_module_that_fails_to_import_is_named(tmp_path):
    pkg = _copy(tmp_path / "pkg")
    (pkg / "disa_bench" / "methods" / "half_done.py").write_text("import a_package_that_is_not_installed\n")
    p = _run(pkg, "train", "--method", "grpo", "--store", tmp_path / "none.parquet", "--out", tmp_path / "o")
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "disa_bench.methods.half_done" in lines[0] and "a_package_that_is_not_installed" in lines[0]
    assert not (tmp_path / "o").exists()
