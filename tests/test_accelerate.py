"""``disa-bench train`` under DDP: 2 CPU processes (gloo), each on its own prompts and rollouts.

After training, every rank prints a hash of its trainable parameters (LoRA + FlowRL's log Z head, which lives
outside the DDP module and is all-reduced by the engine); they must be identical, the loss finite, and only
rank 0 writes the run directory.

Launcher: ``torch.distributed.run`` (what ``accelerate launch --multi_gpu`` uses underneath). On a single
machine, ``accelerate launch --cpu --num_processes 2`` starts one process unless an mpirun hostfile is given,
so CPU tests launch with torchrun directly; the engine's ``Accelerator`` picks up the environment either way.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli


def _launch(tmp_path, out, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DISA_BENCH_QUIET": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "disa_bench.cli", "train", "--method", "flowrl", "--store", str(tmp_path / "p" / "store.parquet"),
           "--config", str(tmp_path / "t.yaml"), "--out", str(out)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _ranks(stdout) -> dict:
    found = re.findall(r"rank (\d)/2: params_sha256 ([0-9a-f]{64}) loss_last ([-+0-9.eE]+|nan|inf|None)", stdout)
    return {r: (h, float(loss)) for r, h, loss in found}


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ddp")
    r = run_cli("propose", "--n-prompts", "4", "--k", "2", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    # a YAML config, not --n: torchrun's argparse would take "--n" for an abbreviation of its own options
    (tmp_path / "t.yaml").write_text("steps: 2\nprompts_per_step: 2\nn: 4\nmini_batches: 2\nsave_every: 1\n")
    p = _launch(tmp_path, tmp_path / "run")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return tmp_path, p


def test_ddp_two_cpu_ranks_stay_identical(ddp_run):
    tmp_path, p = ddp_run
    ranks = _ranks(p.stdout)
    assert set(ranks) == {"0", "1"}, p.stdout
    assert ranks["0"][0] == ranks["1"][0], "parameters diverged across DDP ranks"
    assert all(math.isfinite(v[1]) for v in ranks.values())
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["fairness"]["num_processes"] == 2 and s["params_sha256"] == ranks["0"][0]
    assert s["compute"]["optimizer_steps"] == 2 * 2 * 2  # steps x mini-batches, summed over 2 ranks
    assert (tmp_path / "run" / "adapter" / "log_z_head.safetensors").exists()
    assert len(list((tmp_path / "run").glob("metrics.jsonl"))) == 1


def test_ddp_killed_and_resumed_is_bitwise_identical(ddp_run):
    """Both ranks SIGKILLed after step 1's checkpoint (which holds each rank's RNG streams and data order);
    the relaunched job continues from it and ends where the uninterrupted one did, on both ranks."""
    tmp_path, ref = ddp_run
    out = tmp_path / "killed"
    p = _launch(tmp_path, out, {"DISA_BENCH_KILL_AT_STEP": "1"})
    assert p.returncode != 0 and not (out / "summary.json").exists(), p.stdout[-2000:] + p.stderr[-2000:]
    assert [d.name for d in (out / "checkpoints").glob("step-*")] == ["step-1"]
    p = _launch(tmp_path, out)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "resuming from" in p.stdout + p.stderr
    ranks, want = _ranks(p.stdout), _ranks(ref.stdout)
    assert set(ranks) == {"0", "1"} and ranks["0"][0] == ranks["1"][0] == want["0"][0], (ranks, want)
    s = json.loads((out / "summary.json").read_text())
    assert s["compute"]["optimizer_steps"] == 2 * 2 * 2 and s["steps"] == 2
