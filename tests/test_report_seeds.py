"""``disa-bench report`` with several training seeds per method (``eval/<m>/seed<s>/``), the non-inferiority
margin flag, and the claim family on hand-written run dirs (no model runs).

What each test checks:
- a row with seed dirs is one row: per-seed Mean@8 values equal each seed's results.json, the cell mean is
  their mean, the CI varies seeds; a comparison of two seeded rows uses the seed-aware test (its p beside
  the prompt-level one), a seeded row vs a one-seed row stays prompt-level; train seed dirs are read;
  the claims note says which verdicts are about methods; provenance lists every seed's eval dir;
- ``--ni-margin``: a 1.5-point deficit is "matches" at a 3-point margin and not at 0.5; a negative margin
  is one ``error:`` line, exit 2;
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from test_paper_report import make_eval, make_train

N = 60


def _acc(seed: int, p: float, n: int = N) -> list[float]:
    return list(np.round(np.random.default_rng(seed).binomial(8, np.clip(p, 0, 1), size=n) / 8, 3))


def make_seeded_run(root: Path, plan: dict[str, tuple[float, int]], task: str = "countdown") -> Path:
    """plan: method -> (pass probability, seeds). One seed: the usual eval/<m>/ layout; several: seed<s>/."""
    for m, (p, seeds) in plan.items():
        for s in range(seeds):
            sub = root / "eval" / m / (f"seed{s}" if seeds > 1 else "")
            adapter = None if m == "base" else str(root / "train" / m / (f"seed{s}" if seeds > 1 else "") / "adapter")
            make_eval(sub, task, _acc(100 * s + len(m), p + 0.02 * (s - 1)), adapter=adapter,
                      pids=[f"{task}/{i}" for i in range(N)])
            if m != "base":
                make_train(root / "train" / m / (f"seed{s}" if seeds > 1 else ""), m, seed=s)
    return root


def _report(root: Path, out: Path, *extra) -> dict:
    r = run_cli("report", root, "--out", out, "--n-boot", "300", "--format", "md,json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads((out / "report.json").read_text())


def test_seed_dirs_are_one_row_with_per_seed_values_and_a_seed_aware_test(tmp_path):
    root = make_seeded_run(tmp_path / "RUN", {"base": (0.3, 1), "disa": (0.6, 3), "grpo": (0.4, 3), "flowrl": (0.58, 1)})
    rep = _report(root, tmp_path / "out")
    rows = {r["name"]: r for r in rep["accuracy"]["rows"]}
    assert set(rows) == {"base", "disa", "grpo", "flowrl"}
    cell = rows["disa"]["cells"]["countdown"]
    per_seed = [json.loads((root / "eval" / "disa" / f"seed{s}" / "results.json").read_text())["mean@8"] for s in range(3)]
    assert np.allclose(cell["seeds"], per_seed)
    assert np.isclose(cell["mean"], np.mean(per_seed)) and cell["seed_labels"] == [0, 1, 2]
    assert cell["ci"][0] < cell["mean"] < cell["ci"][1]
    g = rows["grpo"]["cells"]["countdown"]["vs_ref"]
    assert g["test"] == "seeds" and g["seeds"] == [3, 3] and 0 <= g["p_seeds"] <= 1 and g["p"] == g["p_seeds"]
    assert g["p_prompt"] is not None and g["df_seeds"] > 1
    f = rows["flowrl"]["cells"]["countdown"]["vs_ref"]
    assert f["test"] == "prompts" and "p_seeds" not in f  # one seed on one side: about the checkpoints
    claims = {c["id"]: c for c in rep["claims"]}
    assert claims["disa_vs_grpo"]["test"] == "seeds" and "seed-aware p" in claims["disa_vs_grpo"]["numbers"]
    assert claims["disa_vs_grpo"]["verdict"] == "holds"
    assert "Seeds per row" in rep["claims_note"] and "disa 3" in rep["claims_note"]
    comp = {r["name"]: r for r in rep["compute"]["rows"]}
    assert comp["disa"]["seeds"] == 3 and comp["flowrl"]["seeds"] == 1
    dirs = [r["dir"] for r in rep["provenance"]["runs"] if r["kind"] == "eval"]
    assert sum("/eval/disa/seed" in d for d in dirs) == 3
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Per-seed Mean@8" in md and "seed-aware p=" in md


def test_ni_margin_flag_and_bad_margin(tmp_path):
    root = tmp_path / "RUN"
    acc = _acc(5, 0.5, 400)
    worse = list(acc)
    for i in range(0, 400, 8):  # FlowRL better by 1/8 on every 8th prompt: DISA 1.56 points behind
        worse[i] = min(1.0, worse[i] + 0.125) if worse[i] < 1.0 else worse[i]
    pids = [f"countdown/{i}" for i in range(400)]
    for m, a in (("disa", acc), ("flowrl", worse)):
        make_eval(root / "eval" / m, "countdown", a, adapter=str(root / "train" / m / "adapter"), pids=pids)
        make_train(root / "train" / m, m)
    wide = {c["id"]: c for c in _report(root, tmp_path / "o1", "--ni-margin", "3")["claims"]}["disa_vs_flowrl"]
    narrow = {c["id"]: c for c in _report(root, tmp_path / "o2", "--ni-margin", "0.5")["claims"]}["disa_vs_flowrl"]
    assert -2 < wide["diff"] < -1
    assert wide["verdict"] == "holds" and wide["margin"] == 3 and "margin 3 pt" in wide["numbers"]
    assert narrow["verdict"] == "does not hold" and "margin 0.5 pt" in narrow["numbers"]
    r = run_cli("report", root, "--out", tmp_path / "o3", "--ni-margin", "-1")
    assert r.exit_code == 2 and r.stderr.startswith("error:") and "--ni-margin" in r.stderr and r.stderr.count("\n") == 1


def test_compute_and_clipping_tables_use_every_seed(tmp_path):
    """With several seeds the compute row is the mean over seeds of each number and the clipping table pools every
    seed's steps (they used to show the first seed only)."""
    root = make_seeded_run(tmp_path / "RUN", {"base": (0.3, 1), "disa": (0.6, 3), "grpo": (0.4, 3)})
    for s, (wall, rew, clip) in enumerate([(30.0, 0.5, 0.0), (60.0, 0.8, 0.3), (90.0, 0.2, 0.6)]):
        d = root / "train" / "grpo" / f"seed{s}"
        summ = json.loads((d / "summary.json").read_text())
        summ["compute"]["wall_seconds"], summ["reward_last"] = wall, rew
        (d / "summary.json").write_text(json.dumps(summ))
        recs = [json.loads(x) | {"clip_frac": clip} for x in (d / "metrics.jsonl").read_text().splitlines()]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rep = _report(root, tmp_path / "out")
    comp = {r["name"]: r for r in rep["compute"]["rows"]}
    assert comp["grpo"]["wall_seconds"] == pytest.approx(60.0) and comp["grpo"]["reward_last"] == pytest.approx(0.5)
    assert comp["grpo"]["seeds"] == 3 and comp["disa"]["wall_seconds"] == pytest.approx(36.0)
    clip = {r["name"]: r for r in rep["clipping"]["rows"]}
    assert clip["grpo"]["per_minibatch"] == [pytest.approx(0.3)] and clip["grpo"]["steps"] == 30
    assert "mean over their 3 seeds" in (tmp_path / "out" / "report.md").read_text()
