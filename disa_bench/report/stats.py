"""Paired comparisons of two report rows, prompt-level and (with seeds) seed-aware; see docs/report.md.

``compare`` takes, per task, an (S_a, P) and an (S_b, P) array of per-prompt values on the same prompts
(rows = training seeds; one row with one seed) and returns:

- the prompt-level paired bootstrap on the seed-averaged per-prompt differences (one seed each: exactly
  ``disa_bench.eval.metrics.paired_bootstrap_p``): two-sided ``p_prompt``, non-inferiority ``p_ni_prompt``
  and inferiority ``p_inf_prompt`` against ``margin``;
- when both rows have >= 2 seeds, the seed-aware test (``disa_bench.eval.metrics.seed_aware_test``):
  ``p_seeds``, ``p_ni_seeds``, ``p_inf_seeds``, its df and CI;
- ``test``: which of the two the verdict uses (``seeds`` when available, else ``prompts``) and ``p``,
  ``p_ni``, ``p_inf`` from it. With one seed the prompt-level test is about these checkpoints only.
"""

from __future__ import annotations

import numpy as np

from .seeds import seed_matrix

# A claim is tested only on at least this many paired prompts (problems): below it a bootstrap over prompts
# has too few distinct resamples to give an honest p (two prompts of one sign would give p = 1/n_boot).
MIN_PAIRED = 10


def compare(a: list[np.ndarray], b: list[np.ndarray], n_boot: int = 2000, margin: float = 0.0, scale: float = 1.0) -> dict:
    """See the module docstring. ``scale`` multiplies differences for reporting (100: Mean@k points);
    ``margin`` is in reported units."""
    from ..eval.metrics import bootstrap_p, paired_bootstrap_reps, seed_aware_test

    ds = [np.asarray(x, float).mean(axis=0) - np.asarray(y, float).mean(axis=0) for x, y in zip(a, b)]
    obs, centred = paired_bootstrap_reps(ds, n_boot=n_boot)
    m = margin / scale
    out = {"diff": scale * obs, "paired_prompts": int(sum(d.size for d in ds)), "seeds": [a[0].shape[0], b[0].shape[0]],
           "p_prompt": bootstrap_p(obs, centred), "p_ni_prompt": bootstrap_p(obs, centred, m, "ni"),
           "p_inf_prompt": bootstrap_p(obs, centred, m, "inf"), "margin": margin}
    if a[0].shape[0] >= 2 and b[0].shape[0] >= 2:
        t = seed_aware_test(a, b, margin=m)
        out.update(p_seeds=t["p"], p_ni_seeds=t["p_ni"], p_inf_seeds=t["p_inf"], df_seeds=t["df"],
                   ci_seeds=[scale * t["ci"][0], scale * t["ci"][1]], test="seeds")
        out.update(p=t["p"], p_ni=t["p_ni"], p_inf=t["p_inf"])
    else:
        out.update(test="prompts", p=out["p_prompt"], p_ni=out["p_ni_prompt"], p_inf=out["p_inf_prompt"])
    return out


def task_matrices(ea, eb, tasks: list[str], values=None) -> tuple[list, list] | None:
    """Per task the (S, P) arrays of two rows on the prompts both have in every seed; None when a task is
    missing or has no shared prompt. ``values(seed_task_result)`` -> prompt -> value (default accuracy)."""
    a_list, b_list = [], []
    for t in tasks:
        ta, tb = ea.tasks.get(t), eb.tasks.get(t)
        if ta is None or tb is None:
            return None
        pa, _ = seed_matrix(ta, values)
        pb, _ = seed_matrix(tb, values)
        common = sorted(set(pa) & set(pb))
        if not common:
            return None
        a_list.append(seed_matrix(ta, values, common)[1])
        b_list.append(seed_matrix(tb, values, common)[1])
    return a_list, b_list


def compare_rows(ea, eb, tasks: list[str], n_boot: int = 2000, margin: float = 0.0, values=None, scale: float = 100.0):
    """:func:`compare` of two report rows over ``tasks`` (accuracy by default, in Mean@k points); None when
    they share no prompt on some task."""
    m = task_matrices(ea, eb, tasks, values)
    if m is None:
        return None
    return compare(m[0], m[1], n_boot=n_boot, margin=margin, scale=scale)
