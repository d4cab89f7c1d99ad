"""``disa-bench sweep``: the α × β bias–variance grid on tiny settings.

What each test checks:
- CLI on the enumerable world (2 α × 2 β, K = 8, 12 prompts): sweep.json has 4 cells with finite anchor error
  (against the exact log Z), CI, ESS/K and coverage; sweep.md and sweep.png exist; one store per α and one
  anchor per cell; every cell's per-prompt reference equals the exact log Z computed independently, and
  ``disa-bench report`` on the sweep dir tests the two bias–variance claims against it (+ sensitivity figure);
- ``--train-steps 1``: every cell also has a finite Mean@8 (with CI) and diversity;
- a non-enumerable task (countdown, embedded models): the closed-form reference from a larger q = π_ref store,
  whose own error is carried into the error CIs;
- bad grids (β <= 0, α outside [0, 1], duplicates): one ``error:`` line, exit 2.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import run_cli


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def enum_models(tmp_path_factory):
    from disa_bench.world.enum_models import build_enum_model

    d = tmp_path_factory.mktemp("enum_abc_sweep")
    return str(build_enum_model("enum-abc", d / "ref", seed=0)), str(build_enum_model("enum-abc", d / "q", seed=1, sft_steps=40))


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_sweep_cli_enum_grid(enum_models, tmp_path):
    ref, q = enum_models
    out = tmp_path / "sw"
    r = run_cli("sweep", "--task", "enum-abc", "--ref", ref, "--proposal", q, "--beta", "1,5", "--proposal-mix", "0,1",
                "--k", "8", "--n-prompts", "12", "--bootstrap", "50", "--out", out)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "sweep.json").read_text())
    assert s["reference"]["kind"] == "exact"
    assert len(s["cells"]) == 4 and {(c["alpha"], c["beta"]) for c in s["cells"]} == {(0, 1), (0, 5), (1, 1), (1, 5)}
    for c in s["cells"]:
        for key in ("anchor_abs_err", "anchor_err_mean", "ess_frac_mean", "coverage", "ci_coverage", "log_z_mean"):
            assert _finite(c[key]), (key, c)
        assert all(_finite(v) for v in c["anchor_abs_err_ci"]) and c["anchor_abs_err_ci"][0] <= c["anchor_abs_err"] <= c["anchor_abs_err_ci"][1]
        assert 0 < c["ess_frac_mean"] <= 1 and 0 <= c["coverage"] <= 1
        assert "mean@8" not in c
    assert (out / "sweep.png").stat().st_size > 1000 and "| α | β |" in (out / "sweep.md").read_text()
    assert sorted(p.name for p in (out / "propose").iterdir()) == ["a0", "a1"]
    assert len(list((out / "anchor").glob("*/anchor.parquet"))) == 4
    # larger beta -> larger log Z on average (sanity of the grid)
    by = {(c["alpha"], c["beta"]): c for c in s["cells"]}
    assert by[(1, 5)]["log_z_mean"] > by[(1, 1)]["log_z_mean"]
    rep = tmp_path / "rep"
    r = run_cli("report", out, "--out", rep, "--format", "json,png")
    assert r.exit_code == 0, r.output
    claims = {c["id"]: c for c in json.loads((rep / "report.json").read_text())["claims"]}
    assert claims["sweep_shift"]["verdict"] in ("holds", "does not hold", "inconclusive")
    assert "β=1" in claims["sweep_shift"]["numbers"] and "ESS/K" in claims["sweep_ess"]["numbers"]
    assert "exact log Z" in claims["sweep_shift"]["numbers"]
    assert (rep / "figures" / "sensitivity.png").exists()
    # the reference is the exact log Z of the enumerable world, and the claims are tested against it
    from disa_bench.anchor.exact import exact_for_model_path
    from disa_bench.tasks import get_task

    task = get_task("enum-abc")
    for c in s["cells"]:
        pids = sorted(c["per_prompt"])
        exact = exact_for_model_path(ref, task, pids, c["beta"])["log_z"]
        assert [c["per_prompt"][p]["ref"] for p in pids] == pytest.approx(list(exact), abs=1e-9)
        errs = [abs(c["per_prompt"][p]["log_z"] - z) for p, z in zip(pids, exact)]
        assert c["anchor_abs_err"] == pytest.approx(float(np.mean(errs)))
        assert c["reference_error_in_ci"] is False
    assert _finite(claims["sweep_ess"].get("p")) and claims["sweep_ess"]["p_adj"] >= claims["sweep_ess"]["p"]
    assert "paired bootstrap p" in claims["sweep_ess"]["numbers"]


def test_sweep_with_training(enum_models, tmp_path):
    from disa_bench.experiments.sweep import SweepConfig, run_sweep

    ref, q = enum_models
    res = run_sweep(SweepConfig(task="enum-abc", proposal=q, ref=ref, betas="1,5", alphas="0,1", k=8, n_prompts=6,
                                bootstrap=20, train_steps=1, prompts_per_step=4, n=4, eval_prompts=4), tmp_path / "sw")
    for c in res["cells"]:
        assert _finite(c["mean@8"]) and 0 <= c["mean@8"] <= 100 and all(_finite(v) for v in c["mean@8_ci"])
        assert c["diversity_measure"] in ("correct_entropy", "solution_coverage", "distinct_mean")
        assert _finite(c["diversity"]) or c["diversity"] is None
    assert "Mean@8" in (tmp_path / "sw" / "sweep.md").read_text()
    assert (tmp_path / "sw" / "sweep.png").exists()


def test_sweep_closed_form_reference_countdown(tmp_path):
    from disa_bench.experiments.sweep import SweepConfig, run_sweep

    res = run_sweep(SweepConfig(betas="1,5", alphas="0,1", k=4, n_prompts=3, ref_k=12, bootstrap=20), tmp_path / "sw")
    assert res["reference"]["kind"] == "closed_form_q_ref" and res["reference"]["k"] == 12
    assert 0 <= res["reference"]["p_hat_mean"] <= 1
    assert all(0 <= c <= 12 for c in res["reference"]["correct"].values())
    for c in res["cells"]:  # the sampled reference's own error is in the CI
        assert c["reference_error_in_ci"] is True and c["anchor_abs_err_ci"][0] < c["anchor_abs_err_ci"][1]
        assert set(c["per_prompt"]) == set(res["reference"]["correct"])
    for c in res["cells"]:  # ESS/K is undefined (None) only when no prompt of the cell has a correct proposal
        assert _finite(c["anchor_abs_err"]) and (_finite(c["ess_frac_mean"]) or (c["ess_frac_mean"] is None and c["coverage"] == 0))
    assert (tmp_path / "sw" / "reference" / "store.parquet").exists()


@pytest.mark.parametrize("args,msg", [(["--beta", "0,1"], "--beta must be > 0"),
                                      (["--proposal-mix", "0,1.5"], "within [0, 1]"),
                                      (["--beta", "1,1"], "duplicate"),
                                      (["--beta", "x"], "comma-separated")])
def test_sweep_bad_grid_is_one_line_error(tmp_path, args, msg):
    r = run_cli("sweep", *args, "--out", tmp_path / "sw")
    assert r.exit_code == 2
    err = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(err) == 1 and msg in err[0], r.stderr
    assert not (tmp_path / "sw" / "sweep.json").exists()
