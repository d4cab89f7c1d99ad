"""Anchor convergence on an enumerable world: error of log Z-hat vs K, bootstrap-CI coverage, IS unbiasedness.

    .venv/bin/python benchmarks/anchor_convergence.py [--reps 40] [--beta 3] [--alpha 0.5] [--estimator snis]

Builds the enum-abc reference model (random init) and a proposal (random init + 40 SFT steps on correct
responses), computes pi_ref and q_a = a q_s + (1-a) pi_ref exactly over all 121 responses of each of the
27 prompts, then draws K i.i.d. proposals per prompt from q_a ``--reps`` times for K in 4, 16, 64, 256 and
runs the production estimator (anchor.anchor_prompt, 200 bootstrap resamples). Prints per K the mean
|log Z-hat - log Z|, the mean signed error, the CI coverage, and the log-log slope of mean |error| vs K
(1/sqrt(K) is -0.5), plus the plain-IS check mean(Z-hat/Z) +- s.e.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def setup(beta: float, alpha: float, tmp: str):
    import torch

    from disa_bench.models import load_model
    from disa_bench.tasks import get_task
    from disa_bench.world.enum_models import build_enum_model
    from disa_bench.anchor.exact import response_logprobs

    w = get_task("enum-abc")
    ref = load_model(str(build_enum_model(w, f"{tmp}/ref", seed=0))).model
    qs = load_model(str(build_enum_model(w, f"{tmp}/q", seed=1, sft_steps=40))).model
    probs = w.problems("all")
    with torch.no_grad():
        lr = response_logprobs(ref, w, probs).double().numpy()
        lq = response_logprobs(qs, w, probs).double().numpy()
    r = np.stack([w.rewards(p) for p in probs])
    lmix = lr if alpha == 0 else lq if alpha == 1 else np.logaddexp(np.log(alpha) + lq, np.log1p(-alpha) + lr)
    ell = lr + beta * r
    log_z = np.log(np.exp(ell).sum(1))
    return lr, lmix, r, log_z


def run(beta=3.0, alpha=0.5, reps=40, ks=(4, 16, 64, 256), estimator="snis", seed=0, quiet=False):
    from disa_bench.anchor.estimators import AnchorConfig, anchor_prompt, estimate_log_z
    from disa_bench.anchor.exact import loglog_slope

    with tempfile.TemporaryDirectory() as tmp:
        lr, lq, r, log_z = setup(beta, alpha, tmp)
    P = len(log_z)
    rng = np.random.default_rng(seed)
    cfg = AnchorConfig(beta=beta, estimator=estimator, units="exact", bootstrap=200, seed=seed)
    q = np.exp(lq)
    q /= q.sum(1, keepdims=True)
    out = []
    for K in ks:
        errs, signed, cov = [], [], []
        for _ in range(reps):
            for i in range(P):
                idx = rng.choice(q.shape[1], size=K, p=q[i])
                est = anchor_prompt(lr[i, idx], lq[i, idx], np.ones(K), r[i, idx], cfg, rng)
                e = est["log_z"] - log_z[i]
                errs.append(abs(e))
                signed.append(e)
                cov.append(est["log_z_ci_low"] is not None and est["log_z_ci_low"] <= log_z[i] <= est["log_z_ci_high"])
        out.append({"k": K, "mean_abs_err": float(np.mean(errs)), "mean_err": float(np.mean(signed)),
                    "coverage": float(np.mean(cov))})
    slope = loglog_slope([o["k"] for o in out], [o["mean_abs_err"] for o in out])
    # plain IS, EXACT units: Z-hat / Z over many independent K = 16 draws per prompt
    ratios = []
    for _ in range(reps * 5):
        for i in range(P):
            idx = rng.choice(q.shape[1], size=16, p=q[i])
            ratios.append(np.exp(estimate_log_z(lr[i, idx] - lq[i, idx], r[i, idx], beta, "is") - log_z[i]))
    ratios = np.array(ratios)
    res = {"per_k": out, "slope": slope, "is_ratio_mean": float(ratios.mean()),
           "is_ratio_se": float(ratios.std(ddof=1) / np.sqrt(len(ratios))), "prompts": P,
           "log_z_range": [float(log_z.min()), float(log_z.max())]}
    if not quiet:
        print(f"enum-abc, {P} prompts, beta={beta}, alpha={alpha}, {estimator.upper()} EXACT units, {reps} replicates per prompt and K")
        print(f"exact log Z range [{log_z.min():.3f}, {log_z.max():.3f}]")
        for o in out:
            print(f"  K={o['k']:>4}: mean |error| {o['mean_abs_err']:.4f}  mean error {o['mean_err']:+.4f}  "
                  f"bootstrap-CI coverage {100 * o['coverage']:.1f}%")
        print(f"log-log slope of mean |error| vs K: {slope:.3f}   (target -0.35 .. -0.65)")
        print(f"plain IS: mean Z-hat/Z = {res['is_ratio_mean']:.4f} +- {res['is_ratio_se']:.4f} (s.e.) over {len(ratios)} estimates")
    return res


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--beta", type=float, default=3.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--estimator", default="snis")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t = time.time()
    run(a.beta, a.alpha, a.reps, estimator=a.estimator, seed=a.seed)
    print(f"({time.time() - t:.1f} s)")
