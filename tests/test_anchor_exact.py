"""DISA's anchor against exact answers on an enumerable world (enum-abc / enum-ab, tasks/enum_world.py).

What each test checks:
- the enumerated response set carries all of pi_ref's mass and Z matches the binary closed form;
- the CLI ``anchor --check-exact --k`` end to end on a store made by ``propose`` (coverage, error-vs-K slope,
  PNGs), with a looser bound than the benchmark because the store is small;
- the production estimator on exact draws from q_a (many replicates): bootstrap-CI coverage >= 85% at K = 64,
  log-log slope of mean |error| vs K within [-0.65, -0.35], and plain IS unbiased for Z (within 3 s.e.);
- ``--check-exact`` on a non-enumerable task / without --ref: one ``error:`` line, exit != 0;
- DISA trained offline with the exact log Z drives pi_theta to pi*_beta (TV <= 0.05 on every prompt);
- with log Z perturbed by a known eps, the learned log(pi_theta/pi*) follows methods.md §1.9(b).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from conftest import run_cli


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def abc_models(tmp_path_factory):
    from disa_bench.world.enum_models import build_enum_model

    d = tmp_path_factory.mktemp("enum_abc")
    return str(build_enum_model("enum-abc", d / "ref", seed=0)), str(build_enum_model("enum-abc", d / "q", seed=1, sft_steps=40))


def test_enumeration_is_complete_and_matches_closed_form(abc_models):
    from disa_bench.anchor.estimators import closed_form_log_z
    from disa_bench.models import load_model
    from disa_bench.tasks import get_task
    from disa_bench.anchor.exact import exact_log_z

    w = get_task("enum-abc")
    assert len(w.responses()) == 1 + 3 + 9 + 27 + 81
    ex = exact_log_z(load_model(abc_models[0]).model, w, w.problems("all"), 3.0)
    np.testing.assert_allclose(ex["mass"], 1.0, atol=1e-5)  # incl. hitting max length without <eos>
    p = (np.exp(ex["log_pi_ref"]) * ex["reward"]).sum(1)
    np.testing.assert_allclose(ex["log_z"], [closed_form_log_z(pi, 3.0) for pi in p], atol=1e-6)  # float32 mass
    assert (ex["reward"].sum(1) >= 4).all()  # several correct responses per prompt
    assert ex["log_z"].max() - ex["log_z"].min() > 0.5  # log Z varies across prompts


def test_check_exact_cli_end_to_end(abc_models, tmp_path):
    ref, q = abc_models
    r = run_cli("propose", "--task", "enum-abc", "--ref", ref, "--proposal", q, "--proposal-mix", "0.5", "--k", "64",
                "--n-prompts", "22", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    r = run_cli("anchor", "--store", tmp_path / "p" / "store.parquet", "--check-exact", "--ref", ref, "--k", "4,16,64",
                "--beta", "3", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    c = json.loads((tmp_path / "a" / "check_exact.json").read_text())
    assert c["k"] == 64 and c["prompts"] == 22
    assert c["coverage"] >= 0.7, c  # 22 prompts: the precise >= 85% check is the simulation test below
    assert -0.8 <= c["slope"] <= -0.25, c
    errs = [p["mean_abs_err"] for p in c["per_k"]]
    assert errs[0] > errs[1] > errs[2]
    for png in ("ess_frac_hist.png", "log_z_hist.png", "exact_scatter.png", "error_vs_k.png"):
        assert (tmp_path / "a" / png).stat().st_size > 1000
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "a" / "anchor.parquet")
    assert set(t.column("source").to_pylist()) == {"table"}
    assert "CI covers exact log Z" in r.output and "slope" in r.output


def test_convergence_coverage_and_unbiased_is():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from anchor_convergence import run

    res = run(beta=3.0, alpha=0.5, reps=6, ks=(4, 16, 64), quiet=True)
    by_k = {p["k"]: p for p in res["per_k"]}
    assert by_k[64]["coverage"] >= 0.85, res  # 27 prompts x 6 replicates at K = 64
    assert -0.65 <= res["slope"] <= -0.35, res
    # plain IS in EXACT units is unbiased for Z: mean of Z-hat/Z within 3 standard errors of 1
    assert abs(res["is_ratio_mean"] - 1.0) <= 3 * res["is_ratio_se"], res


def test_check_exact_errors(tmp_path, abc_models):
    from disa_bench.store.schema import write_store

    row = {"prompt_id": "countdown/123-6", "task": "countdown", "prompt": "Use 1 2 3 to make 6:", "completion": " 1+2+3=6",
           "completion_ids": [5, 6], "behavior_logprobs": [-0.1, -0.2], "proposal_logprob": -0.3, "ref_logprob": -0.5,
           "num_tokens": 2, "reward": 1.0, "truncated": False, "proposal_model": "m", "temperature": 1.0, "seed": 0}
    write_store(tmp_path / "s.parquet", [row, dict(row, reward=0.0)])
    r = run_cli("anchor", "--store", tmp_path / "s.parquet", "--check-exact", "--ref", abc_models[0], "--out", tmp_path / "a")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "enumerable" in lines[0]
    r = run_cli("anchor", "--store", tmp_path / "s.parquet", "--check-exact", "--out", tmp_path / "a")
    assert r.exit_code != 0 and r.stderr.strip().startswith("error: ") and "--ref" in r.stderr


# ---------------------------------------------------------------------------- DISA toward pi* (enum-ab)


@pytest.fixture(scope="module")
def ab_world(tmp_path_factory):
    import torch

    from disa_bench.models import load_model
    from disa_bench.rollout.scoring import token_logprobs
    from disa_bench.tasks import get_task
    from disa_bench.world.enum_models import build_enum_model
    from disa_bench.anchor.exact import exact_log_z

    w = get_task("enum-ab")
    ref = load_model(str(build_enum_model(w, tmp_path_factory.mktemp("enum_ab") / "ref", seed=0))).model
    probs = w.problems("all")
    ex = exact_log_z(ref, w, probs, 3.0)
    v, resp = w.vocab(), w.responses()
    pids = [[v[c] for c in p.prompt] for p in probs for _ in resp]
    cids = [ids for _ in probs for ids, _ in resp]
    with torch.no_grad():
        ref_lp, mask = token_logprobs(ref, pids, cids, 1.0, 0)
    return {"ref": ref, "ex": ex, "pids": pids, "cids": cids, "ref_lp": ref_lp, "mask": mask, "P": len(probs), "R": len(resp)}


def _train_disa(W, eps: np.ndarray, steps: int, lr: float = 3e-3) -> np.ndarray:
    """Offline DISA (EXACT units) on the full enumerated response set as the store (each response once: a
    uniform, full-support sampler), frozen log Z = exact + eps. Returns the learned log pi_theta (P, R)."""
    import torch

    from disa_bench.methods.base import Batch
    from disa_bench.methods.disa import DISA, DISAConfig
    from disa_bench.rollout.scoring import token_logprobs

    torch.manual_seed(0)
    P, R = W["P"], W["R"]
    pol = copy.deepcopy(W["ref"])
    pol.train()
    opt = torch.optim.Adam(pol.parameters(), lr=lr)
    method = DISA(DISAConfig(beta=3.0, units="exact"))
    log_z = torch.tensor(np.repeat(W["ex"]["log_z"] + eps, R))
    reward = torch.tensor(W["ex"]["reward"].reshape(-1))
    group = torch.arange(P).repeat_interleave(R)
    for _ in range(steps):
        lp, _ = token_logprobs(pol, W["pids"], W["cids"], 1.0, 0)
        loss, _ = method.loss(Batch(logp=lp, mask=W["mask"], reward=reward, group=group, ref_logp=W["ref_lp"],
                                    log_z=log_z, extra={"offline": True}))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        lp, _ = token_logprobs(pol, W["pids"], W["cids"], 1.0, 0)
    return (lp * W["mask"]).sum(-1).view(P, R).double().numpy()


def test_disa_with_exact_log_z_reaches_pi_star(ab_world):
    W = ab_world
    lp = _train_disa(W, np.zeros(W["P"]), steps=400)
    tv = 0.5 * np.abs(np.exp(lp) - np.exp(W["ex"]["log_pi_star"])).sum(1)
    tv0 = 0.5 * np.abs(np.exp(W["ex"]["log_pi_ref"]) - np.exp(W["ex"]["log_pi_star"])).sum(1)
    print(f"TV(pi_theta, pi*): max {tv.max():.4f} over {len(tv)} prompts (pi_ref: max {tv0.max():.3f})")
    assert tv0.max() > 0.3  # pi_ref is far from pi*, so this is not trivial
    assert tv.max() <= 0.05, tv


def test_perturbation_envelope(ab_world):
    """methods.md §1.9(b): with log Z_used = log Z + eps(x) and sampler s, the tabular first-order stationary
    point is log(pi_theta/pi*)(y) = eps (w*(y) / (1 + chi^2(pi*||s)) - 1), w* = pi*/s.

    Here s is the effective sampler of the EXACT-unit loss: each response once, weighted by 1/|y| (the loss is
    mean delta^2/|y|), i.e. s(y) ∝ 1/|y|. eps = +0.1 on even prompts, -0.1 on odd ones.

    Tolerance 0.35|eps| = 0.035 in max |learned - formula| over all 8 x 15 responses, because (measured
    while writing this test) (i) the formula is first order: the exact tabular minimizer differs from it by
    0.0097 (an O(eps^2) term), and (ii) the network after 1200 Adam steps is within about 0.025 of that
    minimizer after 1200 steps (at eps = 0 the same optimizer leaves |log pi_theta/pi*| up to ~0.05 after
    400 steps). The pi*-weighted error must also be < 0.15|eps|, the response-wise signs of the formula must
    be reproduced where it predicts |u| > 0.5|eps|, and the envelope bound holds up to the same 0.035.
    """
    W = ab_world
    E = 0.1
    eps = np.array([E if i % 2 == 0 else -E for i in range(W["P"])])
    lp = _train_disa(W, eps, steps=1200)
    log_ps = W["ex"]["log_pi_star"]
    u = lp - log_ps
    n = W["mask"].sum(-1).view(W["P"], W["R"]).double().numpy()
    s = (1.0 / n) / (1.0 / n).sum(1, keepdims=True)
    ps = np.exp(log_ps)
    wst = ps / s
    chi2 = (ps * wst).sum(1) - 1.0
    pred = eps[:, None] * (wst / (1.0 + chi2[:, None]) - 1.0)
    tol = 0.35 * E
    err, werr = np.abs(u - pred).max(), (ps * np.abs(u - pred)).sum(1).max()
    print(f"envelope: max|u - pred| {err:.4f}, pi*-weighted {werr:.4f}, max|pred| {np.abs(pred).max():.4f}")
    assert err <= tol, (err, werr)
    assert werr <= 0.15 * E, (err, werr)
    big = np.abs(pred) > 0.5 * E
    assert (np.sign(u[big]) == np.sign(pred[big])).all()
    bound = np.abs(eps) * np.maximum(1.0, wst.max(1) / (1.0 + chi2))
    assert (np.abs(u) <= bound[:, None] + tol).all()
