"""Checkpoints and resume: a training run SIGKILLed at any point and resumed ends bitwise identical to an
uninterrupted run (same seed, same machine), for every method, online and offline; SIGTERM saves a checkpoint,
says how to resume and exits 143; ``disa-bench run --resume`` skips what is done, continues a cut-short
training, re-runs what changed, and reports the same tables as an uninterrupted run.

Each run is a real process (``forked_cli``: forked from a warmed-up fork server, so the many runs stay cheap);
kills at a given step use the engine's test hook DISA_BENCH_KILL_AT_STEP (``N``: SIGKILL right after step N and
its checkpoint; ``N:mid``: after the first optimizer step of step N).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import time

import pytest

from conftest import one_error_line, run_cli
from forked_cli import ForkedCLI

METHODS = ["disa", "flowrl", "grpo", "gspo", "sft"]
COMBOS = [(m, d) for d in ("online", "offline") for m in METHODS if not (m == "sft" and d == "offline")]  # sft never samples
# 5 steps, a checkpoint every 2 (and after the last), 8 sequences per step in 2 mini-batches
BUDGET = ["--steps", "5", "--prompts-per-step", "2", "--n", "4", "--mini-batches", "2", "--save-every", "2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small store (16 prompts x 4) and its anchor, built once."""
    d = tmp_path_factory.mktemp("resume")
    r = run_cli("propose", "--n-prompts", "16", "--k", "4", "--out", d / "p")
    assert r.exit_code == 0, r.output
    r = run_cli("anchor", "--store", d / "p" / "store.parquet", "--bootstrap", "10", "--no-plots", "--out", d / "a")
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="module")
def cli():
    return ForkedCLI()


def _args(world, method, data, out):
    return ["train", "--method", method, "--data", data, "--store", world / "p" / "store.parquet",
            "--anchor", world / "a" / "anchor.parquet", *BUDGET, "--out", out]


_references: dict = {}


def _reference(world, cli, method, data) -> dict:
    """The uninterrupted run of a combo (run once per module): its summary and metrics records."""
    if (method, data) not in _references:
        out = world / f"ref_{method}_{data}"
        rc = cli.run(_args(world, method, data, out), log=world / f"ref_{method}_{data}.log")
        assert rc == 0, (world / f"ref_{method}_{data}.log").read_text()[-3000:]
        _references[(method, data)] = _result(out)
    return _references[(method, data)]


def _result(out) -> dict:
    s = json.loads((out / "summary.json").read_text())
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("wall")
    return {"sha": s["params_sha256"], "metrics": recs, "counts": {k: v for k, v in s["compute"].items()
                                                                   if k.startswith(("tokens", "sequences", "optimizer"))},
            "reward": (s["reward_first"], s["reward_last"], s["loss_last"])}


def _steps(out) -> list[int]:
    return sorted(int(d.name[5:]) for d in (out / "checkpoints").glob("step-*"))


@pytest.mark.parametrize("method,data", COMBOS)
def test_killed_twice_and_resumed_is_bitwise_identical(world, cli, method, data):
    ref = _reference(world, cli, method, data)
    out, log = world / f"killed_{method}_{data}", world / f"killed_{method}_{data}.log"
    args = _args(world, method, data, out)
    # 1: killed in the middle of step 3 (after its first optimizer step); the newest checkpoint is step 2
    assert cli.run(args, env={"DISA_BENCH_KILL_AT_STEP": "3:mid"}, log=log) == -signal.SIGKILL, log.read_text()[-3000:]
    assert _steps(out) == [2] and not (out / "summary.json").exists()
    # 2: auto-detected resume from step 2, killed right after step 4's checkpoint
    assert cli.run(args, env={"DISA_BENCH_KILL_AT_STEP": "4"}, log=log) == -signal.SIGKILL, log.read_text()[-3000:]
    assert _steps(out) == [2, 4]
    # 3: resume from step 4 to the end
    assert cli.run(args, log=log) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "resuming from" in text and "step-2 (step 2 of 5)" in text and "step-4 (step 4 of 5)" in text
    got = _result(out)
    assert got["sha"] == ref["sha"], "resumed parameters differ from the uninterrupted run"
    assert got["metrics"] == ref["metrics"] and got["counts"] == ref["counts"] and got["reward"] == ref["reward"]
    assert _steps(out) == [4, 5]  # the newest two kept; one always after the last step
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed_from"] == [str(out / "checkpoints" / "step-4")]
    if method == "flowrl":
        assert (out / "checkpoints" / "step-5" / "log_z_head.safetensors").exists()


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(world, cli):
    import os

    ref = _reference(world, cli, "grpo", "online")
    out, log = world / "sigterm", world / "sigterm.log"
    args = _args(world, "grpo", "online", out)[:-4] + ["--save-every", "0", "--out", out]  # no periodic checkpoint
    p = cli.start(args, log=log)
    deadline = time.time() + 300
    while _metrics_lines(out) < 1 and p.exitcode is None and time.time() < deadline:  # step 1 done: in the loop
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGTERM)
    p.join(300)
    text = log.read_text()
    assert p.exitcode == 143, text[-3000:]
    lines = [x for x in text.splitlines() if x.startswith("interrupted by SIGTERM")]
    assert len(lines) == 1 and lines[0].endswith("--resume") and "disa-bench train" in lines[0], text[-2000:]
    steps = _steps(out)  # the step it was in is finished, then saved
    assert len(steps) == 1 and 1 <= steps[0] < 5 and not (out / "summary.json").exists(), (steps, text[-2000:])
    assert cli.run(args + ["--resume"], log=log) == 0, log.read_text()[-3000:]
    assert _result(out)["sha"] == ref["sha"]


def _metrics_lines(out) -> int:
    """Steps done so far: the metrics.jsonl of the stage's staging dir."""
    n = 0
    for f in out.glob(".staging-*/metrics.jsonl"):
        try:
            n = max(n, len(f.read_text().splitlines()))
        except OSError:
            pass
    return n


def test_resume_errors_and_a_changed_config(world, tmp_path):
    store = world / "p" / "store.parquet"
    tiny = ["--method", "grpo", "--store", store, "--steps", "2", "--prompts-per-step", "2", "--n", "2",
            "--mini-batches", "1", "--out", tmp_path / "t"]
    r = run_cli("train", *tiny, "--resume")
    one_error_line(r, "--resume: no checkpoint in", code=2)
    r = run_cli("train", *tiny)
    assert r.exit_code == 0, r.output
    assert _steps(tmp_path / "t") == [1, 2]
    r = run_cli("train", *tiny, "--lr", "1e-3", "--resume")
    one_error_line(r, "written with another config (lr differ)", code=2)
    r = run_cli("train", *tiny, "--lr", "1e-3")  # auto: another config -> a fresh start, said in one line
    assert r.exit_code == 0 and "not resuming from" in r.output and "training from step 0" in r.output, r.output
    r = run_cli("train", *tiny, "--lr", "1e-3", "--steps", "3")  # the same config with more steps continues
    assert r.exit_code == 0 and "resuming from" in r.output and "(step 2 of 3)" in r.output, r.output
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["steps"] == 3
    r = run_cli("train", *tiny, "--save-every", "-1")
    one_error_line(r, "--save-every", code=2)


# --------------------------------------------------------------------------- disa-bench run --resume
RUN_YAML = """propose: {n_prompts: 16, k: 4}
anchor: {bootstrap: 10}
train: {steps: 4, prompts_per_step: 2, n: 4, mini_batches: 2}
eval: {n_prompts: 16}
"""


def tables(rep: dict) -> dict:
    """The comparable content of a report.json (as benchmarks/pipeline_time.py compares it): every table's numbers
    and the claims, without wall times, paths or timestamps."""
    acc = {(r["name"], col): {k: c.get(k) for k in ("mean", "ci", "n", "vs_ref")}
           for r in rep["accuracy"]["rows"] for col, c in r["cells"].items()}
    div = {r["name"]: r["values"] for r in rep["diversity"]["rows"]}
    comp = {r["name"]: {k: r.get(k) for k in ("steps", "tokens_generated", "tokens_forward", "tokens_backward",
                                              "reward_first", "reward_last")} for r in rep["compute"]["rows"]}
    claims = {c["id"]: (c["verdict"], c["numbers"]) for c in rep["claims"]}
    return {"accuracy": acc, "diversity": div, "compute": comp, "claims": claims}


def _mtimes(out, *rel) -> dict:
    return {r: (out / r / "manifest.json").stat().st_mtime_ns for r in rel}


def test_run_killed_in_training_and_resumed_reports_the_same_tables(tmp_path, cli):
    (tmp_path / "run.yaml").write_text(RUN_YAML)
    base = ["run", "--profile", "smoke", "--no-sweep", "--methods", "disa,grpo", "--config", tmp_path / "run.yaml"]
    ref, out, log = tmp_path / "ref", tmp_path / "out", tmp_path / "run.log"
    assert cli.run([*base, "--out", ref], log=tmp_path / "ref.log") == 0, (tmp_path / "ref.log").read_text()[-3000:]
    # killed in the middle of DISA's third step: propose, anchor and the base eval are done, DISA is half-trained
    assert cli.run([*base, "--out", out], env={"DISA_BENCH_KILL_AT_STEP": "3:mid"}, log=log) == -signal.SIGKILL
    assert (out / "eval" / "base" / "manifest.json").exists() and not (out / "train" / "disa" / "summary.json").exists()
    assert _steps(out / "train" / "disa") == [1, 2]  # the default interval: every step for a 4-step run
    before = _mtimes(out, "propose", "anchor", "eval/base")
    assert cli.run([*base, "--out", out, "--resume"], log=log) == 0, log.read_text()[-3000:]
    text = log.read_text()
    for stage in ("propose", "anchor", "eval:base"):
        assert f"{stage}: up to date, skipped" in text, text[-3000:]
    assert "resuming from" in text and "train/disa/checkpoints/step-2 (step 2 of 4)" in text, text[-3000:]
    assert _mtimes(out, "propose", "anchor", "eval/base") == before
    got = json.loads((out / "report" / "report.json").read_text())
    want = json.loads((ref / "report" / "report.json").read_text())
    assert tables(got) == tables(want)

    # a changed option of one method re-runs that method's train, eval and judge only (and streams to TensorBoard)
    (tmp_path / "run2.yaml").write_text(RUN_YAML + "method_args: {grpo: {kl_coef: 0.5}}\n")
    kept = _mtimes(out, "propose", "anchor", "eval/base", "train/disa", "eval/disa", "eval/disa/judge")
    redo = _mtimes(out, "train/grpo", "eval/grpo", "eval/grpo/judge")
    log2 = tmp_path / "run2.log"
    argv = [*base[:-1], tmp_path / "run2.yaml", "--out", out, "--resume", "--report-to", "tensorboard"]
    assert cli.run(argv, log=log2) == 0, log2.read_text()[-3000:]
    assert _mtimes(out, *kept) == kept
    assert all(v != redo[k] for k, v in _mtimes(out, *redo).items())
    manifest = json.loads((out / "train" / "grpo" / "manifest.json").read_text())
    assert manifest["config"]["method_args"]["kl_coef"] == 0.5
    if importlib.util.find_spec("tensorboard") is not None:
        from test_trackers import _scalars

        grpo = _scalars(out / "tensorboard" / "grpo")
        assert [s for s, _ in grpo["train/loss"]] == [1, 2, 3, 4] and [s for s, _ in grpo["eval/mean@8"]] == [4]
        assert [s for s, _ in _scalars(out / "tensorboard" / "base")["eval/mean@8"]] == [0]
        assert "eval/mean@8" in _scalars(out / "tensorboard" / "disa")  # skipped training: its eval is logged
