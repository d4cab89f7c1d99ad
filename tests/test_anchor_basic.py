"""IS / SNIS estimators and diagnostics on synthetic weights with known answers; prompts with no correct
proposal (``no_coverage``): undefined ESS/CI in anchor.parquet, counted in summary.json and the PNGs, the
least regression weight, and shrinkage fully to the regressor."""

import numpy as np
import pytest

from disa_bench.anchor.estimators import AnchorConfig, anchor_prompt, closed_form_log_z, estimate_log_z
from disa_bench.errors import UserError


def test_snis_with_q_equal_ref_is_the_closed_form_of_the_observed_rate():
    r = np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=float)
    a = np.zeros(8)
    for beta in (1.0, 5.0, 15.0):
        assert estimate_log_z(a, r, beta, "snis") == pytest.approx(closed_form_log_z(2 / 8, beta))
        assert estimate_log_z(a, r, beta, "is") == pytest.approx(closed_form_log_z(2 / 8, beta))


def test_plain_is_is_unbiased_for_z_in_exact_units():
    # pi_ref over 5 outcomes, q a different full-support distribution; reward on outcomes 0 and 3
    rng = np.random.default_rng(0)
    p = np.array([0.1, 0.3, 0.2, 0.05, 0.35])
    q = np.array([0.3, 0.2, 0.2, 0.2, 0.1])
    r = np.array([1.0, 0, 0, 1, 0])
    beta = 2.0
    z = float(np.sum(p * np.exp(beta * r)))
    ests = []
    for _ in range(4000):
        y = rng.choice(5, size=8, p=q)
        ests.append(np.exp(estimate_log_z(np.log(p[y]) - np.log(q[y]), r[y], beta, "is")) / z)
    ests = np.array(ests)
    assert abs(ests.mean() - 1) < 3 * ests.std() / np.sqrt(len(ests))


def test_diagnostics_and_flags():
    cfg = AnchorConfig(beta=5.0, bootstrap=100)
    rng = np.random.default_rng(0)
    row = anchor_prompt([-3.0] * 4, [-3.0] * 4, [3] * 4, [0, 0, 0, 0], cfg, rng)
    assert row["log_z"] == 0.0 and row["no_coverage"] and not row["coverage"]
    # no correct proposal: ESS and CI are undefined, not "ESS/K = 1, CI [0, 0]"
    assert all(row[k] is None for k in ("ess", "ess_frac", "ess_exact", "ess_ln", "cv2", "max_weight", "log_z_ci_low", "log_z_ci_high"))
    row = anchor_prompt([-3.0] * 4, [-3.0] * 4, [3] * 4, [0, 1, 0, 0], cfg, rng)
    assert row["ess"] == pytest.approx((3 + np.exp(5.0)) ** 2 / (3 + np.exp(10.0)))  # w ∝ (1, e^β, 1, 1)
    assert row["log_z_ci_low"] <= row["log_z"] <= row["log_z_ci_high"]
    row = anchor_prompt([-1.0, -9.0, -9.0, -9.0], [-5.0] * 4, [2] * 4, [1, 0, 0, 0], cfg, rng)
    assert row["max_weight"] > 0.99 and row["ess"] < 1.01 and row["coverage"]
    assert row["log_z_ci_low"] <= row["log_z"] <= row["log_z_ci_high"]
    # LN units divide the log-ratio by the length
    ln = anchor_prompt([-2.0, -4.0], [-1.0, -1.0], [2, 4], [1, 0], AnchorConfig(beta=1.0, units="ln", bootstrap=0), rng)
    a = np.array([-0.5, -0.75])
    assert ln["log_z"] == pytest.approx(float(np.log(np.sum(np.exp(a + np.array([1, 0]))) / np.sum(np.exp(a)))))


@pytest.mark.parametrize("kw,msg", [({"beta": 0.0}, "--beta must be > 0"), ({"beta": -1.0}, "--beta must be > 0"),
                                    ({"estimator": "foo"}, "unknown --estimator"), ({"units": "bits"}, "unknown --units")])
def test_bad_config(kw, msg):
    with pytest.raises(UserError, match=msg):
        AnchorConfig(**kw).check()


def _store(path, seed: int = 0):
    """A synthetic store of 12 prompts x 4 proposals; prompts 0-3 have no correct proposal."""
    from disa_bench.store.schema import write_store

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(12):
        for j in range(4):
            rows.append({"prompt_id": f"t/{i}", "task": "countdown", "prompt": f"p{i}", "completion": "x", "completion_ids": [1, 2],
                         "behavior_logprobs": [-1.0, -1.0], "proposal_logprob": float(rng.normal(-3, 0.3)),
                         "ref_logprob": float(rng.normal(-3, 0.3)), "num_tokens": 2,
                         "reward": float(i >= 4 and rng.random() < 0.6 or (i >= 4 and j == 0)), "truncated": False,
                         "proposal_model": "q", "temperature": 1.0, "seed": 0})
    write_store(path, rows)
    return path


def test_no_coverage_rows_undefined_and_counted(tmp_path):
    import json

    import pyarrow.parquet as pq

    from disa_bench.anchor.stage import anchor_stage

    s = anchor_stage(AnchorConfig(beta=5.0, bootstrap=50), _store(tmp_path / "s.parquet"), tmp_path / "a")
    rows = {r["prompt_id"]: r for r in pq.read_table(tmp_path / "a" / "anchor.parquet").to_pylist()}
    for i in range(12):
        r = rows[f"t/{i}"]
        assert r["no_coverage"] == (i < 4)
        if i < 4:
            assert r["ess_frac"] is None and r["log_z_ci_low"] is None and r["log_z_ci_high"] is None and r["log_z"] == 0.0
        else:
            assert 0 < r["ess_frac"] <= 1 and r["log_z_ci_low"] <= r["log_z"] <= r["log_z_ci_high"]
    summ = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summ["no_coverage"] == 4 and summ["covered_prompts"] == 8 == s["covered_prompts"]
    covered = [rows[f"t/{i}"]["ess_frac"] for i in range(4, 12)]
    assert summ["ess_frac_mean"] == pytest.approx(np.mean(covered))  # over covered prompts only
    for png in ("ess_frac_hist.png", "log_z_hist.png"):
        assert (tmp_path / "a" / png).stat().st_size > 1000


@pytest.mark.usefixtures("one_thread")
def test_no_coverage_least_weight_changes_the_fit_and_shrinks_to_regressor():
    from disa_bench.anchor.regressor import LogZRegressor, RegressorConfig, fit_weights, shrink

    rows = [{"no_coverage": i < 6, "ess_frac": None if i < 6 else 0.05 + 0.9 * (i % 7) / 6, "log_z": 0.0 if i < 6 else 3.0}
            for i in range(40)]
    w = fit_weights(rows)
    cov = np.array([not r["no_coverage"] for r in rows])
    assert w[~cov].max() < w[cov].min() and w[~cov].max() == pytest.approx(0.1 * w[cov].min())
    assert np.all(fit_weights(rows, RegressorConfig(no_coverage_weight=0.5))[~cov] == 0.5)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    X[:6, 0] += 3.0  # the no-coverage prompts share a feature direction
    y = np.array([r["log_z"] for r in rows])
    cfg = dict(epochs=150, patience=150, holdout=0.1, seed=0)
    preds = []
    for nw in (None, 5.0):
        reg = LogZRegressor(RegressorConfig(no_coverage_weight=nw, **cfg))
        reg.fit(X, y, fit_weights(rows, reg.cfg))
        preds.append(reg.predict(X[:6]))
    # a heavier no-coverage weight pulls their prediction toward the biased 0 floor
    assert np.abs(preds[0] - preds[1]).max() > 0.1 and preds[1].mean() < preds[0].mean()
    assert shrink(0.0, None, 2.5, kappa=2.0) == 2.5  # undefined ESS: lambda = 0, all regressor
    assert shrink(1.0, 2.0, 3.0, kappa=2.0) == pytest.approx(2.0)
