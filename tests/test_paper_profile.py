"""`disa-bench run --profile paper-smoke --model <tiny Qwen2 dir>`: the paper's pipeline (propose on math-train +
mbpp-train -> anchor LN/beta 15 -> train every method -> Mean@8 on math6 and code3 -> judge -> report) on CPU with
the real-architecture tiny model. Checks plumbing, not scores: chat-template prompts, generation that stops at
<|im_end|>, rewards from the real math and code graders in every RL method's loss steps, a paper-shaped report
with every benchmark column. Plus the bad inputs of --model / --proposal."""

from __future__ import annotations

import json
import time

import pytest

from conftest import one_error_line, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

RL = ("disa", "flowrl", "grpo", "gspo")


@pytest.fixture(scope="module")
def tiny_dir(benchmarks_dir):
    from disa_bench.world.tiny_qwen import ensure_tiny

    return str(ensure_tiny("qwen2-chat"))


@pytest.fixture(scope="module")
def paper_run(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "run"
    t0 = time.time()
    r = run_cli("run", "--profile", "paper-smoke", "--model", tiny_dir, "--out", out)
    assert r.exit_code == 0, r.output
    print(f"paper-smoke run: {time.time() - t0:.0f} s")
    return out


def _jsonl(p):
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_prompts_render_through_the_chat_template(paper_run, tiny_dir):
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    rows = pq.read_table(paper_run / "propose" / "store.parquet").to_pylist()
    assert {r["prompt_id"].split("|")[0] for r in rows} == {"math-train", "mbpp-train"}
    for r in rows:  # ChatML as the tokenizer's template renders it: a user turn, then the open assistant turn
        assert r["prompt"].startswith("<|im_start|>") and "<|im_start|>user\n" in r["prompt"]
        assert r["prompt"].endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert "<|im_start|>assistant" in tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                                                  add_generation_prompt=True)
    m = json.loads((paper_run / "manifest.json").read_text())["config"]["resolved"]
    assert m["propose"]["ref"] == m["train"]["model"] == tiny_dir and m["propose"]["template"] == "auto"
    for ed in (paper_run / "eval" / "base", paper_run / "eval" / "disa"):
        for t in ("math500", "humanevalplus"):
            samples = _jsonl(ed / t / "samples.jsonl")
            assert samples and all(s["prompt"].startswith("<|im_start|>") for s in samples)


def test_stop_tokens_end_generation(paper_run, tiny_dir):
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    im_end = AutoTokenizer.from_pretrained(tiny_dir).convert_tokens_to_ids("<|im_end|>")
    rows = pq.read_table(paper_run / "propose" / "store.parquet").to_pylist()
    stopped = [r for r in rows if not r["truncated"]]
    assert len(stopped) >= len(rows) // 2
    assert all(r["completion_ids"][-1] == im_end and im_end not in r["completion_ids"][:-1] for r in stopped)
    samples = [s for t in ("math500", "codeforces") for s in _jsonl(paper_run / "eval" / "base" / t / "samples.jsonl")]
    assert any(not s["truncated"] for s in samples)
    assert all("<|im_end|>" not in s["response"] and "<|im_start|>" not in s["response"] for s in samples)


def test_math_and_mbpp_rewards_reach_every_rl_loss(paper_run):
    """Each RL step's metrics row records what graded the rollout batch whose rewards went into its loss: both
    training tasks, through math-verify and the sandbox (their verdicts, not a default), and the step's reward is
    exactly their mean."""
    from disa_bench.graders.code import PROGRAM_VERDICTS

    code_verdicts = set(PROGRAM_VERDICTS.values()) | {"wrong", "ok", "parse_error"}
    for m in RL:
        recs = _jsonl(paper_run / "train" / m / "metrics.jsonl")
        assert len(recs) == 2
        for rec in recs:
            g = rec["graded"]
            assert set(g) == {"math-train", "mbpp-train"}, g
            assert sum(c["n"] for c in g.values()) == 16  # 4 prompts x 4 rollouts, all graded
            assert sum(sum(c["verdicts"].values()) for c in g.values()) == 16
            assert rec["reward"] == pytest.approx(sum(c["reward_sum"] for c in g.values()) / 16)
            assert set(g["mbpp-train"]["verdicts"]) <= code_verdicts
            assert "program_error" in g["mbpp-train"]["verdicts"] or "wrong" in g["mbpp-train"]["verdicts"]
        assert any(v != "ok" for rec in recs for v in rec["graded"]["math-train"]["verdicts"])
    # the store's rewards were graded the same way (propose), and SFT trained on them
    s = json.loads((paper_run / "train" / "sft" / "summary.json").read_text())
    assert s["method"] == "sft" and s["steps"] == 2


def test_the_report_has_a_paper_table_with_every_benchmark(paper_run):
    from disa_bench.tasks.groups import TASK_GROUPS

    md = (paper_run / "report" / "report.md").read_text()
    sec = md.split("## Paper table", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in sec.splitlines() if line.startswith("| model"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["model", *TASK_GROUPS["math6"], "math avg", *TASK_GROUPS["code3"], "code avg"]
    rows = [line for line in sec.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [r.split("|")[1].strip() for r in rows] == ["base", "disa", "flowrl", "grpo", "gspo", "sft"]
    assert all(cell.count("[") == 1 for r in rows for cell in r.strip("|").split("|")[1:])  # a CI in every cell
    rep = json.loads((paper_run / "report" / "report.json").read_text())
    assert [c["label"] for c in rep["paper_table"]["columns"]] == cols[1:]
    assert "tab:paper" in (paper_run / "report" / "report.tex").read_text()
    v = json.loads((paper_run / "variants.json").read_text())["rows"]
    assert v["disa"]["method_args"] | {} == {"beta": 15.0, "units": "ln", "w_max": 10.0}  # the recipe's, anchor LN/15
    assert (paper_run / "manifest.json").is_file() and not (paper_run / "sweep").exists()


@pytest.mark.parametrize("args, needles", [
    (["--profile", "paper-smoke", "--proposal", "tiny:qwen2"], ["--proposal needs --model"]),
    (["--profile", "paper-smoke", "--model", "./no/such/model"], ["--model", "no/such/model", "does not exist"]),
    (["--profile", "paper", "--model", "/no/such/dir"], ["/no/such/dir"]),
    (["--profile", "paper", "--model", "no-such-org/no-such-model"], ["no-such-org/no-such-model"]),
    (["--profile", "smoke", "--model", "/no/such/dir"], ["/no/such/dir"]),
    (["--profile", "paper-smoke", "--model", "tiny:qwen2-chat", "--proposal", "embedded:teacher"], ["share a tokenizer"]),
    (["--profile", "paper-smoke", "--config", "{t}/c.yaml"], ["math", "unknown task"]),
    (["--profile", "paper-smoke", "--config", "{t}/e.yaml"], ["gsm9k"]),
])
def test_bad_model_and_task_inputs_are_one_line_and_leave_no_out(tmp_path, tiny_dir, args, needles):
    (tmp_path / "c.yaml").write_text("train:\n  task: math\n")
    (tmp_path / "e.yaml").write_text("eval:\n  tasks: math6,gsm9k\n")
    out = tmp_path / "out"
    r = run_cli("run", *[a.replace("{t}", str(tmp_path)) for a in args], "--out", out)
    one_error_line(r, *needles, code=2)
    assert not out.exists()
