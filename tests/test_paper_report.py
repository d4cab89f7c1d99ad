"""``disa-bench report`` on synthetic run dirs written by hand (no model runs).

What each test checks:
- table values equal the inputs (Mean@8 and CI of every cell; the average is the mean of the task means),
  the best cell per column is bold (Markdown ``**``, LaTeX ``\\textbf``), p-values equal
  disa_bench.eval.metrics.paired_bootstrap_p on the shared prompts;
- claims on constructed cases: a clear win -> holds, a clear loss -> does not hold, overlapping results ->
  inconclusive; diversity (offline, from samples.jsonl) DISA vs GRPO -> holds; SFT on another store -> inconclusive;
- comparability: mismatched eval seeds / temperature / tasks are listed and the affected cells marked;
- a run dir without results -> one warning line, the report still renders and names the gap;
  no results at all -> one ``error:`` line, exit 2;
- LaTeX uses booktabs rules; the HTML has no external URL, embeds its figures and the drill-down;
- the HTML opens in headless Chromium (screenshot written, non-blank); skipped when chromium is not installed;
- sweep results: see test_report_claims.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

N = 40


def _write(p: Path, obj) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj))


def make_eval(d: Path, task: str, acc: list[float], *, seed: int = 0, temperature: float = 0.6, adapter=None,
              strategies=None, split: str = "test", pids=None) -> dict:
    """An eval dir: results.json (+ per_prompt), samples.jsonl (8 samples per prompt), manifest.json."""
    from disa_bench.eval.metrics import bootstrap_ci

    pids = pids or [f"{task}/{i}" for i in range(len(acc))]
    per_prompt = {p: a for p, a in zip(pids, acc)}
    lo, hi = bootstrap_ci(np.array(acc), seed=seed)
    res = {"mean@8": 100 * float(np.mean(acc)), "mean@8_ci": [100 * lo, 100 * hi], "pass@8": 0.0, "maj@8": 0.0,
           "per_prompt": per_prompt, "task": task, "split": split, "num_prompts": len(acc), "num_samples": 8 * len(acc),
           "truncated": 0, "grader_errors": 0,
           "sampling": {"k": 8, "temperature": temperature, "top_p": 0.95, "max_new_tokens": 32, "seed": seed},
           "model": "embedded:base", "adapter": adapter, "config": {"task": task, "seed": seed, "temperature": temperature}}
    _write(d / "results.json", res)
    rows = []
    for i, (p, a) in enumerate(per_prompt.items()):
        nc = int(round(a * 8))
        for j in range(8):
            strat = strategies(i, j) if strategies else f"s{j % 2}"
            rows.append({"prompt_id": p, "sample": j, "prompt": f"problem {i} <b>&", "response": f"work {strat} step {j} {i}",
                         "reward": 1.0 if j < nc else 0.0, "answer": str(j % 3), "strategy": strat,
                         "verdict": "correct" if j < nc else "wrong", "truncated": False, "num_tokens": 5})
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _write(d / "manifest.json", {"command": "eval", "config": res["config"], "seed": seed, "git_commit": "abc123",
                                 "versions": {"torch": "2.x", "transformers": "4.x", "peft": "0.x"}})
    return res


def make_train(d: Path, method: str, store: str = "/runs/p/store.parquet", seed: int = 0, steps: int = 10) -> None:
    _write(d / "summary.json", {
        "method": method, "data": "online", "data_source": "online", "steps": steps, "reward_first": 0.3, "reward_last": 0.6,
        "compute": {"tokens_generated": 1000, "tokens_forward": 5000, "tokens_backward": 4000, "wall_seconds": 36.0,
                    "phase_seconds": {"generate": 1, "data": 0, "score": 1, "update": 1}, "peak_memory_mb": 512.0,
                    "peak_memory_kind": "process_max_rss"},
        "fairness": {"model": "embedded:base", "store": store, "steps": steps, "prompts_per_step": 8, "n": 8, "lr": 5e-4,
                     "seed": seed, "num_processes": 1},
        "method_config": {}})
    (d / "metrics.jsonl").write_text("".join(json.dumps({"step": s + 1, "loss": 1.0 / (s + 1), "reward": 0.3 + 0.03 * s,
                                                         "response_length": 10.0}) + "\n" for s in range(steps)))
    _write(d / "manifest.json", {"command": "train", "config": {"method": method, "seed": seed}, "git_commit": "abc123"})


def rng_acc(seed: int, p: float, n: int = N) -> list[float]:
    r = np.random.default_rng(seed)
    return list(np.round(r.binomial(8, p, size=n) / 8, 3))


TASKS = ("aime24", "math500")
SEEDS = {"base": 1, "disa": 7, "flowrl": 7, "grpo": 11, "gspo": 13, "sft": 17}
PLAN = {  # method -> per-task pass probability
    "base": 0.3, "disa": 0.6, "flowrl": 0.6, "grpo": 0.2, "gspo": 0.9, "sft": 0.3,
}


def make_run(root: Path, *, skip=(), seeds=None, temps=None, sft_store=None) -> Path:
    for m, p in PLAN.items():
        if m in skip:
            continue
        adapter = None if m == "base" else str(root / "train" / m / "adapter")
        for ti, t in enumerate(TASKS):
            acc = rng_acc(100 * ti + SEEDS[m], p)
            if m == "flowrl":  # overlap with DISA: the same per-prompt values but a few
                acc = list(make_run.disa[t])
                acc[0] = max(0.0, acc[0] - 0.125)
            strategies = (lambda i, j: f"s{j}") if m == "disa" else (lambda i, j: "s0") if m == "grpo" else None
            res = make_eval(root / "eval" / m / t, t, acc, adapter=adapter, strategies=strategies,
                            seed=(seeds or {}).get(m, 0), temperature=(temps or {}).get(m, 0.6))
            if m == "disa":
                make_run.disa[t] = list(res["per_prompt"].values())
        _write(root / "eval" / m / "results.json", {"tasks": {t: {} for t in TASKS}, "k": 8})
        if m != "base":
            make_train(root / "train" / m, m, store=(sft_store if (m == "sft" and sft_store) else "/runs/p/store.parquet"))
    return root


make_run.disa = {}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "RUN")


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "out"
    r = run_cli("report", run_dir, "--out", out, "--n-boot", "500")
    assert r.exit_code == 0, r.output
    return out, r


def _load(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_table_values_bold_and_pvalues(run_dir, report):
    from disa_bench.eval.metrics import paired_bootstrap_p

    out, _ = report
    rep = _load(out)
    acc = rep["accuracy"]
    assert [c["key"] for c in acc["columns"]] == ["aime24", "math500", "avg"]
    rows = {r["name"]: r for r in acc["rows"]}
    assert list(rows)[:2] == ["base", "disa"]
    for m in PLAN:
        for t in TASKS:
            res = json.loads((run_dir / "eval" / m / t / "results.json").read_text())
            c = rows[m]["cells"][t]
            assert c["mean"] == pytest.approx(res["mean@8"]) and c["ci"] == pytest.approx(res["mean@8_ci"])
        assert rows[m]["cells"]["avg"]["mean"] == pytest.approx(np.mean([rows[m]["cells"][t]["mean"] for t in TASKS]))
        lo, hi = rows[m]["cells"]["avg"]["ci"]
        assert lo <= rows[m]["cells"]["avg"]["mean"] <= hi
    # best per column: gspo everywhere, bold in md and tex
    for key in ("aime24", "math500", "avg"):
        best = [n for n, r in rows.items() if r["cells"][key].get("best")]
        assert best == ["gspo"]
    md = (out / "report.md").read_text()
    gspo_line = next(l for l in md.splitlines() if l.startswith("| gspo |"))
    assert gspo_line.count("**") == 2 * 3
    base_line = next(l for l in md.splitlines() if l.startswith("| base |"))
    assert "**" not in base_line
    tex = (out / "report.tex").read_text()
    assert tex.count(r"\textbf{") >= 3
    # p-values: the paired bootstrap on the same prompts
    disa, grpo = (json.loads((run_dir / "eval" / m / "aime24" / "results.json").read_text())["per_prompt"] for m in ("disa", "grpo"))
    common = sorted(disa)
    p = paired_bootstrap_p(np.array([grpo[c] for c in common]), np.array([disa[c] for c in common]), n_boot=500)
    assert rows["grpo"]["cells"]["aime24"]["vs_ref"]["p"] == pytest.approx(p)
    assert rows["grpo"]["cells"]["aime24"]["vs_ref"]["diff"] == pytest.approx(100 * (np.mean(list(grpo.values())) - np.mean(list(disa.values()))))
    assert "vs_ref" not in rows["disa"]["cells"]["aime24"]
    # compute columns from the train summaries; CPU-hours = wall / 3600
    comp = {r["name"]: r for r in rep["compute"]["rows"]}
    assert comp["disa"]["tokens_generated"] == 1000 and comp["disa"]["device_hours"] == pytest.approx(0.01)
    assert comp["disa"]["device_kind"] == "CPU"
    assert rep["comparability"]["comparable"], rep["comparability"]["issues"]
    assert "abc123" in md and "T=0.6" in md  # provenance: commit and sampling parameters


def test_claims_constructed_cases(report):
    out, r = report
    rep = _load(out)
    claims = {c["id"]: c for c in rep["claims"]}
    assert claims["disa_vs_grpo"]["verdict"] == "holds"  # clear win
    assert claims["disa_vs_gspo"]["verdict"] == "does not hold"  # clear loss
    # FlowRL = DISA but one prompt 1/8 lower: non-inferiority within the 1-point margin is shown ("matches")
    fl = claims["disa_vs_flowrl"]
    assert fl["verdict"] == "holds" and fl["kind"] == "noninferiority" and fl["margin"] == 1.0 and "margin 1 pt" in fl["numbers"]
    assert claims["disa_vs_sft"]["verdict"] == "holds"
    assert "math average" in claims["disa_vs_grpo"]["claim"]  # aime24 + math500 are both math6 benchmarks
    # diversity: DISA's correct samples use distinct strategies, GRPO's one; the math tasks have no enumerable set
    assert claims["div_entropy_disa_vs_grpo"]["verdict"] == "holds"
    assert "correct-strategy entropy" in claims["div_entropy_disa_vs_grpo"]["numbers"]
    assert claims["div_coverage_disa_vs_grpo"]["verdict"] == "inconclusive"
    assert "no enumerable solution set" in claims["div_coverage_disa_vs_grpo"]["numbers"]
    assert claims["sweep_shift"]["verdict"] == "inconclusive" and "no sweep" in claims["sweep_shift"]["numbers"]
    # the family: every tested claim has raw and Holm-adjusted p; untested ones are not in it
    tested = [c for c in claims.values() if c.get("p_adj") is not None]
    assert len(tested) == 6 and all(c["family_size"] == 6 and c["p_adj"] >= c["p"] for c in tested)
    assert "Holm-adjusted p" in claims["disa_vs_grpo"]["numbers"] and "p_adj" not in claims["sweep_ess"]
    assert "about these checkpoints, not about the methods" in rep["claims_note"]
    md = (out / "report.md").read_text()
    assert "| claim | verdict | raw p | Holm-adjusted p | numbers |" in md and "these checkpoints" in md
    for c in claims.values():
        assert c["numbers"]
    assert "holds" in r.output and "does not hold" in r.output


def test_diversity_offline_values(report):
    out, _ = report
    div = _load(out)["diversity"]
    rows = {r["name"]: r for r in div["rows"]}
    assert rows["disa"]["values"]["distinct_strategies"] == 8 and rows["grpo"]["values"]["distinct_strategies"] == 1
    assert rows["grpo"]["values"]["strategy_entropy"] == 0 and rows["grpo"]["values"]["correct_entropy"] == 0
    assert rows["disa"]["values"]["correct_entropy"] == 1.0  # every correct sample has its own strategy
    assert rows["disa"]["source"] == "offline (samples.jsonl)"
    assert div["claim_fields"] == ["correct_entropy"] and div["m"] == 2  # no enumerable set on aime24/math500
    assert rows["disa"]["values"]["solution_coverage"] is None
    # problems with fewer than m = 2 correct samples are excluded and counted
    assert rows["grpo"]["problems_entropy"] + rows["grpo"]["excluded_entropy"] == rows["grpo"]["problems"]
    assert rows["grpo"]["excluded_entropy"] > 0
    md = (out / "report.md").read_text()
    assert "strategy entropy (all samples)" in md and "corr(acc, entropy)" in md
    assert "judge score" not in md  # no judge ran: its columns are left out


def test_latex_booktabs_and_html_self_contained(report):
    out, _ = report
    tex = (out / "report.tex").read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert r"$\pm$" in tex
    html = (out / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert "data:image/png;base64," in html and "<details>" in html
    assert "problem 0 &lt;b&gt;&amp;" in html  # samples escaped
    for f in ("bars", "curves", "diversity_vs_accuracy", "diversity_per_prompt"):
        assert (out / "figures" / f"{f}.png").stat().st_size > 1000


def test_mismatched_seeds_temperature_and_tasks(tmp_path):
    root = make_run(tmp_path / "RUN", seeds={"grpo": 3}, temps={"flowrl": 1.0})
    shutil.rmtree(root / "eval" / "sft" / "math500")  # sft lacks one task
    out = tmp_path / "out"
    r = run_cli("report", root, "--out", out, "--n-boot", "200", "--format", "md,json")
    assert r.exit_code == 0, r.output
    rep = _load(out)
    issues = "\n".join(rep["comparability"]["issues"])
    assert "`grpo` vs `disa`: seed 3 vs 0" in issues
    assert "`flowrl` vs `disa`: temperature 1 vs 0.6" in issues
    assert "task `math500`: no results for `sft`" in issues
    flagged = {(f["row"], f["task"]): f["why"] for f in rep["comparability"]["flagged"]}
    assert flagged[("grpo", "aime24")] == ["seed"] and flagged[("flowrl", "math500")] == ["sampling"]
    md = (out / "report.md").read_text()
    assert "†" in next(l for l in md.splitlines() if l.startswith("| grpo |"))
    assert "†" not in next(l for l in md.splitlines() if l.startswith("| disa |"))
    sft = next(x for x in rep["accuracy"]["rows"] if x["name"] == "sft")
    assert sft["cells"]["math500"] is None and sft["cells"]["avg"] is None
    assert "| sft |" in md and "—" in next(l for l in md.splitlines() if l.startswith("| sft |"))
    assert not (out / "report.html").exists()


def test_training_mismatch_and_sft_other_store(tmp_path):
    root = make_run(tmp_path / "RUN", sft_store="/runs/other/store.parquet")
    out = tmp_path / "out"
    assert run_cli("report", root, "--out", out, "--n-boot", "200", "--format", "json").exit_code == 0
    rep = _load(out)
    claims = {c["id"]: c for c in rep["claims"]}
    assert claims["disa_vs_sft"]["verdict"] == "inconclusive" and "not the same offline trajectories" in claims["disa_vs_sft"]["numbers"]
    assert any("training of `sft` vs `disa`: store" in i for i in rep["comparability"]["issues"])


def test_dir_without_results_warns_and_renders(run_dir, tmp_path):
    empty = tmp_path / "empty_run"
    (empty / "logs").mkdir(parents=True)
    out = tmp_path / "out"
    r = run_cli("report", run_dir, empty, "--out", out, "--n-boot", "200", "--format", "md,json,html")
    assert r.exit_code == 0, r.output
    warn = [l for l in r.stderr.splitlines() if l.startswith("warning:")]
    assert len(warn) == 1 and str(empty) in warn[0]
    md = (out / "report.md").read_text()
    assert str(empty) in md and "Gaps" in md and "| disa |" in md
    # a pipeline run whose DISA eval is missing: the row is kept with empty cells
    part = make_run(tmp_path / "PART", skip=())
    shutil.rmtree(part / "eval" / "disa")
    r = run_cli("report", part, "--out", tmp_path / "out2", "--n-boot", "200", "--format", "md,json")
    assert r.exit_code == 0, r.output
    assert len([l for l in r.stderr.splitlines() if l.startswith("warning:")]) == 1
    rep = _load(tmp_path / "out2")
    claims = {c["id"]: c for c in rep["claims"]}
    assert claims["disa_vs_grpo"]["verdict"] == "inconclusive" and "no eval results for disa" in claims["disa_vs_grpo"]["numbers"]
    disa = next(x for x in rep["accuracy"]["rows"] if x["name"] == "disa")
    assert all(v is None for v in disa["cells"].values()) and disa["gaps"]


def test_no_results_is_one_line_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "eval").mkdir(parents=True)
    r = run_cli("report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "out")
    assert r.exit_code == 2
    err = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(err) == 1 and "no results" in err[0]
    assert not (tmp_path / "out" / "report.md").exists()


def test_html_opens_in_headless_chromium(report, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium, or run scripts/screenshot_report.sh)")
    out, _ = report
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,900", (out / "report.html").resolve().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 5000
    from PIL import Image

    im = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert im.shape == (900, 1200) and im.std() > 5  # not a blank page


def test_judge_scores_used_when_present(tmp_path):
    """Every eval dir judged by an LLM: diversity comes from judge.jsonl and the claims use the judge score."""
    from disa_bench.judge.offline import load_samples, problem_measures

    root = make_run(tmp_path / "RUN")
    for d in sorted(root.glob("eval/*/*/samples.jsonl")):
        method = d.parts[-3]
        rows = []
        for pid, samples in load_samples(d).items():
            score = 5 if method == "disa" else 2
            rows.append({"prompt_id": pid, "k": 8, "offline": problem_measures(samples),
                         "llm": {"status": "ok", "score": score, "classes": [f"c{j}" for j in range(8)]}})
        (d.parent / "judge").mkdir()
        (d.parent / "judge" / "judge.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        _write(d.parent / "judge" / "summary.json", {"problems": len(rows), "llm": {"configured": True}})
    out = tmp_path / "out"
    assert run_cli("report", root, "--out", out, "--n-boot", "200", "--format", "json,html").exit_code == 0
    rep = _load(out)
    rows = {r["name"]: r for r in rep["diversity"]["rows"]}
    # rows without a view are the judge's all-samples view (written before the view flag)
    assert rows["disa"]["values"]["judge_score_all"] == 5 and rows["grpo"]["values"]["judge_score_all"] == 2
    assert rows["disa"]["values"]["judge_score"] is None and rows["disa"]["source"] == "judge + samples"
    assert "judge score, all samples" in (out / "report.html").read_text()
    claims = {c["id"]: c for c in rep["claims"]}
    assert claims["div_entropy_disa_vs_gspo"]["verdict"] == "holds"  # claims use the correct samples' strategies
    assert "judge class &#x27;c3&#x27;" in (out / "report.html").read_text()  # drill-down shows the judge's classes
