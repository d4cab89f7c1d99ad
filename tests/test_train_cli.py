"""``disa-bench train`` end to end: all five methods, online and offline, on one shared store; bad input."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli

METHODS = ["disa", "flowrl", "grpo", "gspo", "sft"]
TINY = ["--profile", "smoke", "--steps", "2", "--prompts-per-step", "4", "--n", "4"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One store + anchor, built once for the module (the teacher proposal, so it holds correct trajectories)."""
    d = tmp_path_factory.mktemp("train_cli")
    r = run_cli("propose", "--n-prompts", "8", "--k", "4", "--out", d / "p")
    assert r.exit_code == 0, r.output
    r = run_cli("anchor", "--store", d / "p" / "store.parquet", "--bootstrap", "10", "--out", d / "a")
    assert r.exit_code == 0, r.output
    return d


def _error_line(r) -> str:
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("data", ["online", "offline"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains(world, method, data):
    out = world / f"t_{method}_{data}"
    r = run_cli("train", "--method", method, "--data", data, "--store", world / "p" / "store.parquet",
                "--anchor", world / "a" / "anchor.parquet", *TINY, "--out", out)
    assert r.exit_code == 0, r.output + r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 2 and math.isfinite(s["loss_last"])
    recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(math.isfinite(x["loss"]) for x in recs)
    c = s["compute"]
    assert c["tokens_backward"] > 0 and c["tokens_forward"] >= c["tokens_backward"] and c["optimizer_steps"] >= 2
    assert set(c["phase_seconds"]) == {"generate", "data", "score", "update"}
    assert (out / "adapter" / "adapter_config.json").exists()
    if method == "sft":
        assert s["data_source"] == "store:correct"  # never samples, in both --data modes
        assert c["tokens_generated"] == 0
    elif data == "online":
        assert s["data_source"] == "online" and c["tokens_generated"] > 0
    else:
        assert s["data_source"] == "store" and c["tokens_generated"] == 0
    if method in ("disa", "flowrl", "grpo"):
        assert c["tokens_forward_nograd"] > 0  # the pi_ref pass (and pi_old where it is off-policy)
    if method == "gspo":
        assert s["fairness"]["mini_batches"] == 4
    if method == "flowrl":
        assert (out / "adapter" / "log_z_head.safetensors").exists()
        assert s["method_config"]["variant"] == "official"
    manifest = json.loads((out / "manifest.json").read_text())
    assert "fairness" in manifest and "compute" in manifest


def test_method_flags_reach_the_config(world):
    out = world / "t_flags"
    r = run_cli("train", "--method", "grpo", "--store", world / "p" / "store.parquet", *TINY, "--steps", "1", "--mini-batches", "1",
                "--kl-coef", "0", "--loss-agg", "seq-mean-token-sum-norm", "--out", out)
    assert r.exit_code == 0, r.output + r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["method_config"]["kl_coef"] == 0 and s["method_config"]["loss_agg"] == "seq-mean-token-sum-norm"
    # no pi_ref pass without KL, and no separate pi_old pass on-policy (1 mini-batch: pi_old = sg(pi_theta))
    assert s["compute"]["tokens_forward_nograd"] == 0


def test_unknown_method(world):
    r = run_cli("train", "--method", "ppo", "--store", world / "p" / "store.parquet", "--out", world / "x")
    assert r.exit_code != 0
    line = _error_line(r)
    for m in METHODS:
        assert m in line


def test_offline_without_behaviour_logprobs(world, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(world / "p" / "store.parquet")
    empty = pa.array([[] for _ in range(t.num_rows)], type=pa.list_(pa.float32()))
    bad = t.set_column(t.schema.get_field_index("behavior_logprobs"), "behavior_logprobs", empty)
    pq.write_table(bad.replace_schema_metadata(t.schema.metadata), tmp_path / "bad.parquet")
    r = run_cli("train", "--method", "grpo", "--data", "offline", "--store", tmp_path / "bad.parquet", *TINY,
                "--out", tmp_path / "o")
    assert r.exit_code != 0
    line = _error_line(r)
    assert "bad.parquet" in line and "behavior_logprobs" in line


def test_mini_batches_must_divide_the_batch(world):
    r = run_cli("train", "--method", "grpo", "--store", world / "p" / "store.parquet", *TINY, "--mini-batches", "3",
                "--out", world / "x")
    assert r.exit_code != 0
    assert "--mini-batches 3" in _error_line(r)


def test_sft_without_correct_trajectories(world, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(world / "p" / "store.parquet")
    zero = pa.array([0.0] * t.num_rows, type=pa.float64())
    bad = t.set_column(t.schema.get_field_index("reward"), "reward", zero)
    pq.write_table(bad.replace_schema_metadata(t.schema.metadata), tmp_path / "wrong.parquet")
    r = run_cli("train", "--method", "sft", "--store", tmp_path / "wrong.parquet", *TINY, "--out", tmp_path / "o")
    assert r.exit_code != 0
    assert "no correct trajectory" in _error_line(r)


def test_method_arg_reaches_the_config(world):
    """--method-arg key=value, converted by the Config field types, gives the same run as the old flags."""
    out = world / "t_method_arg"
    r = run_cli("train", "--method", "grpo", "--store", world / "p" / "store.parquet", *TINY, "--steps", "1",
                "--mini-batches", "1", "--method-arg", "kl_coef=0", "--method-arg", "loss_agg=seq-mean-token-sum-norm",
                "--method-arg", "clip_eps_high=0.28", "--method-arg", "clip_ratio_c=none",
                "--method-arg", "norm_adv_by_std=false", "--out", out)
    assert r.exit_code == 0, r.output + r.stderr
    mc = json.loads((out / "summary.json").read_text())["method_config"]
    assert mc["kl_coef"] == 0.0 and isinstance(mc["kl_coef"], float)
    assert mc["loss_agg"] == "seq-mean-token-sum-norm" and mc["clip_eps_high"] == 0.28
    assert mc["clip_ratio_c"] is None and mc["norm_adv_by_std"] is False
    assert json.loads((out / "summary.json").read_text())["compute"]["tokens_forward_nograd"] == 0


@pytest.mark.parametrize("args,needles", [
    (["--method", "grpo", "--method-arg", "beta=2"], ["unknown option 'beta'", "'grpo'", "valid: adv_eps, clip_eps"]),
    (["--method", "grpo", "--method-arg", "clip_eps=wide"], ["clip_eps=wide", "expected float"]),
    (["--method", "grpo", "--method-arg", "norm_adv_by_std=maybe"], ["expected bool"]),
    (["--method", "grpo", "--method-arg", "kl_coef"], ["expected key=value"]),
    (["--method", "disa", "--kl-coef", "0.1"], ["unknown option(s) kl_coef", "'disa'", "valid: beta"]),
    (["--method", "flowrl", "--method-arg", "variant=newest"], ["unknown FlowRL variant 'newest'"]),
])
def test_bad_method_option_is_one_line(world, args, needles):
    out = world / "x_bad_option"
    r = run_cli("train", *args, "--store", world / "p" / "store.parquet", "--anchor", world / "a" / "anchor.parquet",
                *TINY, "--out", out)
    assert r.exit_code == 2
    line = _error_line(r)
    for n in needles:
        assert n in line, (n, line)
    assert not out.exists()


def test_help_method_lists_the_options():
    r = run_cli("train", "--method", "grpo", "--help-method")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "'grpo'" in lines[0] and "--method-arg" in lines[0]
    row = next(l.split(None, 3) for l in lines if l.split()[:1] == ["kl_coef"])
    assert row[1:3] == ["float", "0.001"] and "k3" in row[3]  # type, default, the comment beside the field
    row = next(l.split() for l in lines if l.split()[:1] == ["clip_eps_high"])
    assert row[1:5] == ["float", "|", "None", "None"]
    r = run_cli("train", "--help-method")
    assert r.exit_code == 2 and "--help-method needs --method" in _error_line(r)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_pi_old_is_the_samplers_own_at_temperature_one(world, tmp_path, temperature):
    """Online GSPO (no reference pass) with 4 mini-batches: at T = 1 the sampler's per-token log-probs are log pi_old,
    so no no-grad forward runs, and they equal a teacher-forced pass of the policy at the batch start (up to
    rounding); at T = 0.7 they are of the tempered distribution, so the trainer scores pi_old itself."""
    import torch

    from disa_bench.config import resolve
    from disa_bench.rollout.scoring import token_logprobs
    from disa_bench.rollout.tokens import prompt_ids
    from disa_bench.train.config import TrainConfig
    from disa_bench.train.engine import Trainer

    cfg = resolve(TrainConfig, {"method": "gspo", "store": str(world / "p" / "store.parquet"), "steps": 1,
                                "prompts_per_step": 4, "n": 4, "mini_batches": 4, "temperature": temperature})
    checked = []

    class Checked(Trainer):
        def _tensors(self, seqs):
            out = super()._tensors(seqs)
            model = self._policy_unwrapped()
            with torch.no_grad():
                model.eval()
                ref, _ = token_logprobs(model, [prompt_ids(self.tok, s["problem"].prompt) for s in seqs],
                                        [s["ids"] for s in seqs], 1.0, self.tok.pad_token_id)
                model.train()
            mask = torch.zeros_like(ref, dtype=torch.bool)
            for i, s in enumerate(seqs):
                mask[i, :len(s["ids"])] = True
            old = out[-1]["old_logp"] if isinstance(out, tuple) else out["old_logp"]
            checked.append(float((old[:, :ref.shape[1]] - ref).abs()[mask].max()))
            return out

    t = Checked(cfg, tmp_path / "o")
    s = t.train()
    assert checked and max(checked) < 1e-3
    assert (s["compute"]["tokens_forward_nograd"] == 0) == (temperature == 1.0)
