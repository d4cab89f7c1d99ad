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
