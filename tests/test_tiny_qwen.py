"""The real-architecture tiny model (tiny:qwen2, tiny:qwen2-chat) through the real-model path: chat-template
prompts in propose / eval / lm-eval, generation that stops at <|im_end|> with teacher-forced scores equal to the
sampler's, and propose -> anchor -> train on math-train and mbpp-train with the real graders."""

from __future__ import annotations

import json
import math

import pytest

from conftest import ROOT, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(benchmarks_dir):
    """(random dir, chat-SFT dir): built here on first use, cached under $DISA_BENCH_HOME."""
    from disa_bench.world.tiny_qwen import ensure_tiny

    return str(ensure_tiny("qwen2")), str(ensure_tiny("qwen2-chat"))


def test_a_real_qwen2_with_a_trained_bpe_and_chatml(tiny):
    from transformers import AutoConfig, AutoTokenizer

    from disa_bench.models import resolve
    from disa_bench.rollout.tokens import stop_ids

    d = tiny[0]
    assert resolve("tiny:qwen2") == d and resolve("tiny:qwen2-chat") == tiny[1]
    cfg = AutoConfig.from_pretrained(d)
    assert cfg.model_type == "qwen2" and cfg.num_key_value_heads < cfg.num_attention_heads
    tok = AutoTokenizer.from_pretrained(d)
    assert type(tok).__name__ == "Qwen2Tokenizer" and 2048 <= len(tok) <= 4096
    s = "Let $x = 3.5$:\n\n    def f(a):\n\treturn a ** 2  # naïve"
    ids = tok(s)["input_ids"]
    assert tok.decode(ids) == s and len(ids) < len(s) / 1.5  # merges learned, round trip exact
    prompt = tok.apply_chat_template([{"role": "user", "content": "1+1?"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|endoftext|>" and stop_ids(tok) == [tok.eos_token_id, im_end]


def test_prompts_render_through_the_chat_template(tiny, tmp_path):
    from transformers import AutoTokenizer

    from disa_bench.tasks import get_task

    tok = AutoTokenizer.from_pretrained(tiny[0])
    t = get_task("math-train", model="tiny:qwen2")
    assert t.template == f"hf:{tiny[0]}"
    p = t.problems("train", 1, seed=0)[0]
    assert p.prompt == tok.apply_chat_template([{"role": "user", "content": t.plain(t.system, p.meta["question"])}],
                                               tokenize=False, add_generation_prompt=True)
    assert not get_task("math-train", model="tiny:qwen2", template="plain").problems("train", 1)[0].prompt.startswith("<|")
    assert not get_task("math-train", model="embedded:base").problems("train", 1)[0].prompt.startswith("<|")  # no template
    m = get_task("math-train,mbpp-train", model="tiny:qwen2").problems("train", 2)
    assert [q.prompt.startswith("<|im_start|>") for q in m] == [True, True]
    # eval renders the same way (and --template plain forces the plain layout)
    for flag, chat in ((), True), (("--template", "plain"), False):
        out = tmp_path / f"e{len(flag)}"
        r = run_cli("eval", "--task", "mbpp", "--model", "tiny:qwen2-chat", "--n-prompts", "2", "--k", "2",
                    "--max-new-tokens", "8", *flag, "--out", out)
        assert r.exit_code == 0, r.output
        rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(x["prompt"].startswith("<|im_start|>system\n") == chat for x in rows)


def test_generation_stops_at_im_end_and_scores_match_the_sampler(tiny):
    from disa_bench.models import load_model
    from disa_bench.rollout import get_backend, sequence_logprobs
    from disa_bench.rollout.tokens import prompt_ids
    from disa_bench.tasks import get_task
    from disa_bench.types import SamplingParams

    loaded = load_model(tiny[1])
    tok = loaded.tokenizer
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    ps = get_task("math-train", model=tiny[1]).problems("train", 6, seed=2)
    groups = get_backend("hf", loaded.model, tok).generate([p.prompt for p in ps],
                                                           SamplingParams(n=4, max_new_tokens=32, seed=3))
    cs = [c for g in groups for c in g]
    stopped = [c for c in cs if not c.truncated]
    assert len(stopped) >= len(cs) // 2, [c.text for c in cs]
    assert all(c.token_ids[-1] == im_end and im_end not in c.token_ids[:-1] for c in stopped)
    assert all(c.token_ids[-1] not in (im_end, tok.eos_token_id) and len(c.token_ids) == 32 for c in cs if c.truncated)
    assert all("<|im_end|>" not in c.text and "<|im_start|>" not in c.text for c in cs)
    pids = [prompt_ids(tok, p.prompt) for p in ps for _ in range(4)]
    forced = sequence_logprobs(loaded.model, pids, [c.token_ids for c in cs], 1.0, tok.pad_token_id)
    for c, f in zip(cs, forced):
        assert len(f) == len(c.logprobs) and max(abs(a - b) for a, b in zip(f, c.logprobs)) < 1e-4


@pytest.mark.parametrize("task", ["math-train", "mbpp-train"])
def test_propose_anchor_train_on_a_training_set(tiny, tmp_path, task):
    import pyarrow.parquet as pq

    model = tiny[1]
    r = run_cli("propose", "--task", task, "--proposal", model, "--ref", model, "--n-prompts", "4", "--k", "4",
                "--max-new-tokens", "24", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    rows = pq.read_table(tmp_path / "p" / "store.parquet").to_pylist()
    assert len(rows) == 16 and all(x["prompt"].startswith("<|im_start|>") for x in rows)
    assert any(not x["truncated"] for x in rows)
    for x in rows:  # one model at T = 1: the sampler's log-probs are the teacher-forced density
        assert not x["truncated"] or len(x["completion_ids"]) == 24
        assert abs(sum(x["behavior_logprobs"]) - x["ref_logprob"]) < 1e-3
    r = run_cli("anchor", "--store", tmp_path / "p" / "store.parquet", "--bootstrap", "10", "--no-plots",
                "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    r = run_cli("train", "--method", "disa", "--task", task, "--model", model, "--store", tmp_path / "p" / "store.parquet",
                "--anchor", tmp_path / "a" / "anchor.parquet", "--steps", "2", "--prompts-per-step", "2", "--n", "4",
                "--max-new-tokens", "24", "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(math.isfinite(x["loss"]) for x in recs)
    assert (tmp_path / "t" / "adapter" / "adapter_config.json").exists()
    # train renders prompts as propose did (the chat template): a plain rendering no longer matches the store
    r = run_cli("train", "--method", "disa", "--task", task, "--model", model, "--store", tmp_path / "p" / "store.parquet",
                "--anchor", tmp_path / "a" / "anchor.parquet", "--steps", "1", "--template", "plain",
                "--out", tmp_path / "t2")
    assert r.exit_code == 2 and "differs from the task's rendering" in r.output, r.output
    assert not (tmp_path / "t2").exists()


def test_lm_eval_runs_disa_math500_on_the_tiny_qwen(tiny, benchmarks_dir, monkeypatch):
    import lm_eval
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(benchmarks_dir))
    d = tiny[1]
    tm = TaskManager(include_path=str(ROOT / "tasks"), include_defaults=False,
                     metadata={"n_prompts": 2, "template": f"hf:{d}"})
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={d},dtype=float32,device=cpu",
                                  tasks=["disa_math500"], task_manager=tm, batch_size=16, log_samples=True,
                                  gen_kwargs="max_gen_toks=24")
    samples = res["samples"]["disa_math500"]
    assert len(samples) == 2 and all(s["doc"]["prompt"].startswith("<|im_start|>user\n") for s in samples)
    texts = [t for s in samples for t in s["filtered_resps"][0]]
    assert len(texts) == 16 and all("<|im_end|>" not in t for t in texts)
    assert 0.0 <= res["results"]["disa_math500"]["mean_at_k,all"] <= 1.0
