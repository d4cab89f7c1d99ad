"""Mean@k / pass@k / maj@k / bootstrap: checked against brute force and hand values."""

import itertools

import numpy as np
import pytest

from disa_bench.eval.metrics import bootstrap_ci, maj_at_k, paired_bootstrap_p, pass_at_k, summarize


@pytest.mark.parametrize("n,c,k", [(8, 0, 1), (8, 3, 1), (8, 3, 2), (8, 3, 4), (8, 8, 8), (6, 2, 3)])
def test_pass_at_k_equals_bruteforce_over_subsets(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = np.mean([any(outcomes[i] for i in s) for s in subsets])
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_summarize_mean_at_k_counts_truncated_as_zero():
    groups = [
        {"rewards": [1, 0, 0, 0], "answers": ["a", "b", "b", None], "truncated": [False, False, False, True]},
        {"rewards": [1, 1, 1, 0], "answers": ["x", "x", "x", "y"], "truncated": [False] * 4},
    ]
    s = summarize(groups, 4)
    assert s["mean@4"] == pytest.approx(100 * (0.25 + 0.75) / 2)
    assert s["truncated"] == 1 and s["num_samples"] == 8
    assert s["pass@1"] == pytest.approx(s["mean@4"])
    assert s["maj@4"] == pytest.approx(50.0)  # first prompt: majority 'b' is wrong; second: 'x' right
    lo, hi = s["mean@4_ci"]
    assert lo <= s["mean@4"] <= hi


def test_maj_and_bootstrap():
    assert maj_at_k([None, None], [0, 0]) == 0.0
    x = np.random.default_rng(0).random(400)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 0.1
    assert paired_bootstrap_p(x, x + 0.2) < 0.01
    assert paired_bootstrap_p(x, x + np.random.default_rng(1).normal(0, 0.01, 400)) > 0.05


# ---------------------------------------------------------------------- claim statistics (docs/report.md)
def _sim(rng, n_sims: int, prompts: int, seeds: int, delta: float, sd_seed: float = 0.005, sd_int: float = 0.05, k: int = 8):
    """(A, B): n_sims simulated (seeds, prompts) per-prompt Mean@k matrices of two methods on the same prompts.
    Per prompt a difficulty q ~ Beta(1.2, 2); each training seed shifts a method by N(0, sd_seed) and each
    (seed, prompt) by N(0, sd_int); k samples per prompt. A is better by ``delta`` (a fraction)."""
    q = rng.beta(1.2, 2.0, size=(n_sims, 1, prompts))

    def method(shift):
        p = np.clip(q + shift + rng.normal(0, sd_seed, (n_sims, seeds, 1)) + rng.normal(0, sd_int, (n_sims, seeds, prompts)), 0, 1)
        return rng.binomial(k, p) / k

    return method(delta), method(0.0)


def test_seed_aware_test_rejects_at_about_5_percent_and_detects_3_points():
    from disa_bench.eval.metrics import seed_aware_test

    rng = np.random.default_rng(0)
    a, b = _sim(rng, 200, 300, 3, 0.0)
    null = np.mean([seed_aware_test([x], [y])["p"] < 0.05 for x, y in zip(a, b)])
    assert 0.02 <= null <= 0.09, null
    a, b = _sim(rng, 200, 300, 3, 0.03)
    power = np.mean([seed_aware_test([x], [y])["p"] < 0.05 for x, y in zip(a, b)])
    assert power > 0.6, power
    # the prompt-only test ignores training variance: with a real seed effect it rejects far too often
    from disa_bench.eval.metrics import paired_bootstrap_p

    a, b = _sim(rng, 100, 300, 3, 0.0, sd_seed=0.02)
    naive = np.mean([paired_bootstrap_p(x.mean(0), y.mean(0), n_boot=300) < 0.05 for x, y in zip(a, b)])
    aware = np.mean([seed_aware_test([x], [y])["p"] < 0.05 for x, y in zip(a, b)])
    assert naive > 0.2 and aware < 0.12, (naive, aware)


def test_holm_textbook_example_and_t_distribution():
    from disa_bench.eval.metrics import holm, t_quantile, t_sf

    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005, 3 x 0.01, max(2 x 0.03, .), max(1 x 0.04, 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, None, float("nan"), 0.01]) [1] is None and holm([0.2, None, 0.01])[::2] == pytest.approx([0.2, 0.02])
    assert holm([0.04, 0.02]) == pytest.approx([0.04, 0.04]) and holm([0.9, 0.8, 0.7]) == pytest.approx([1.0, 1.0, 1.0])
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-5)  # tables
    assert t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-5)
    assert t_sf(2.228139, 10) == pytest.approx(0.025, abs=1e-6) and t_sf(0.0, 3) == pytest.approx(0.5)
    assert t_sf(1.959964, float("inf")) == pytest.approx(0.025, abs=1e-6) and t_sf(-1.0, 5) == pytest.approx(1 - t_sf(1.0, 5))


def test_noninferiority_holds_for_identical_and_fails_for_a_3_point_deficit():
    from disa_bench.eval.metrics import bootstrap_p, paired_bootstrap_reps, seed_aware_test

    rng = np.random.default_rng(1)
    a, b = _sim(rng, 1, 4000, 1, 0.0)  # identical methods, one seed, many prompts
    obs, c = paired_bootstrap_reps([a[0, 0] - b[0, 0]], n_boot=1000)
    assert bootstrap_p(obs, c, 0.01, "ni") < 0.05  # within 1 point: "matches" is shown
    assert bootstrap_p(obs, c, 0.01, "inf") > 0.5
    a, b = _sim(rng, 1, 4000, 3, 0.0)  # the same with three seeds each
    assert seed_aware_test([a[0]], [b[0]], margin=0.01)["p_ni"] < 0.05
    a, b = _sim(rng, 1, 600, 3, -0.03)  # A 3 points worse, margin 1 point
    t = seed_aware_test([a[0]], [b[0]], margin=0.01)
    assert t["p_ni"] > 0.5 and t["p_inf"] < 0.05 and t["ci"][1] < -0.01
    obs, c = paired_bootstrap_reps([a[0].mean(0) - b[0].mean(0)], n_boot=1000)
    assert bootstrap_p(obs, c, 0.01, "ni") > 0.5 and bootstrap_p(obs, c, 0.01, "inf") < 0.05


def test_bootstrap_reps_match_paired_bootstrap_p_and_seed_ci():
    from disa_bench.eval.metrics import bootstrap_p, paired_bootstrap_p, paired_bootstrap_reps, seed_mean_ci

    rng = np.random.default_rng(2)
    x, y = rng.random(50), rng.random(50)
    obs, c = paired_bootstrap_reps([x - y], n_boot=500, seed=3)
    assert bootstrap_p(obs, c) == paired_bootstrap_p(x, y, n_boot=500, seed=3)
    a, _ = _sim(rng, 1, 400, 4, 0.0, sd_seed=0.03)
    mean, lo, hi = seed_mean_ci([a[0]])
    one_seed_half = 1.96 * a[0].mean(0).std(ddof=1) / np.sqrt(400)
    assert lo < mean < hi and (hi - lo) / 2 > one_seed_half  # seeds widen the interval
