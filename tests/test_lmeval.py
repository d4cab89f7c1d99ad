"""lm-eval integration, offline, with the embedded tiny model: same prompts, same grader, same Mean@8."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, run_cli


@pytest.fixture()
def env_bench(benchmarks_dir, monkeypatch):
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(benchmarks_dir))
    return benchmarks_dir


def test_lmeval_countdown_matches_ours(tmp_path, base_model_dir):
    """32 prompts x 8: lm-eval's Mean@8 lies within our 95% CI; its own aggregate equals our regrade."""
    ours, lm = tmp_path / "ours", tmp_path / "lm"
    common = ["--task", "countdown", "--model", "embedded:base", "--n-prompts", "32", "--k", "8"]
    r1 = run_cli("eval", *common, "--out", ours)
    assert r1.exit_code == 0, r1.output
    r2 = run_cli("eval", *common, "--engine", "lm-eval", "--out", lm)
    assert r2.exit_code == 0, r2.output
    a = json.loads((ours / "results.json").read_text())
    b = json.loads((lm / "results.json").read_text())
    assert a["per_prompt"].keys() == b["per_prompt"].keys()  # the very same 32 prompts
    lo, hi = a["mean@8_ci"]
    assert lo <= b["mean@8"] <= hi, (a["mean@8"], a["mean@8_ci"], b["mean@8"])
    assert b["engine"] == "lm-eval" and b["num_samples"] == 256
    assert b["lm_eval"]["mean_at_k,all"] * 100 == pytest.approx(b["mean@8"])  # process_results == our regrade
    samples = [json.loads(x) for x in (lm / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 256 and {s["prompt_id"] for s in samples} == set(a["per_prompt"])
    for key in ("mean@8", "mean@8_ci", "per_prompt", "task", "sampling", "num_prompts", "truncated", "pass@8", "maj@8"):
        assert key in b


def test_multi_task_eval_both_engines(tmp_path, env_bench, base_model_dir):
    """--tasks with a math set: per-task results + summary table; the tiny model scores ~0 (plumbing only)."""
    for engine in ("ours", "lm-eval"):
        out = tmp_path / engine
        r = run_cli("eval", "--tasks", "aime24,countdown", "--engine", engine, "--n-prompts", "2", "--k", "2",
                    "--max-new-tokens", "4", "--out", out)
        assert r.exit_code == 0, r.output
        assert "| aime24 | 2 |" in r.stdout and "| countdown | 2 |" in r.stdout
        s = json.loads((out / "results.json").read_text())
        assert list(s["tasks"]) == ["aime24", "countdown"] and s["engine"] == engine
        assert "math-verify" in s["grader_versions"]["aime24"]
        for t in ("aime24", "countdown"):
            r_t = json.loads((out / t / "results.json").read_text())
            assert r_t["num_samples"] == 4 and r_t["task"] == t
            assert len((out / t / "samples.jsonl").read_text().splitlines()) == 4
        assert (out / "results.md").exists() and (out / "manifest.json").exists()


def test_static_tasks_dir_runs_from_any_cwd(tmp_path, env_bench, base_model_dir, monkeypatch):
    """The committed tasks/ configs equal the generator's and run (data via custom_dataset, no CWD paths)."""
    from disa_bench.eval.lmeval import DEFAULT_TASKS, write_default_tasks

    regen = tmp_path / "regen"
    write_default_tasks(regen)
    for n in DEFAULT_TASKS:
        assert (ROOT / "tasks" / f"disa_{n}.yaml").read_text() == (regen / f"disa_{n}.yaml").read_text(), n
    assert (ROOT / "tasks" / "utils.py").read_text() == (regen / "utils.py").read_text()

    import lm_eval
    from lm_eval.tasks import TaskManager

    monkeypatch.chdir(tmp_path)
    tm = TaskManager(include_path=str(ROOT / "tasks"), include_defaults=False, metadata={"n_prompts": 2})
    assert {f"disa_{n}" for n in DEFAULT_TASKS} <= set(tm.all_tasks)
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={base_model_dir},dtype=float32,device=cpu",
                                  tasks=["disa_math500"], task_manager=tm, batch_size=16, log_samples=True,
                                  gen_kwargs="max_gen_toks=4")
    assert len(res["samples"]["disa_math500"]) == 2
    assert len(res["samples"]["disa_math500"][0]["filtered_resps"][0]) == 8  # all repeats kept
    # the aggregate is our math grader applied to every kept sample (the tiny model may hit a one-digit answer)
    from disa_bench.tasks import get_task

    task = get_task("math500")
    by_id = {p.prompt_id: p for p in task.problems("test")}
    per_doc = [sum(task.grade(by_id[x["doc"]["prompt_id"]], r).reward > 0 for r in x["filtered_resps"][0]) / 8
               for x in res["samples"]["disa_math500"]]
    assert res["results"]["disa_math500"]["mean_at_k,all"] == pytest.approx(sum(per_doc) / len(per_doc))
