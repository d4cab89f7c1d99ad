"""IS / SNIS estimators and diagnostics on synthetic weights with known answers."""

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
    assert row["ess"] == pytest.approx(4.0) and row["cv2"] == pytest.approx(0.0)
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
