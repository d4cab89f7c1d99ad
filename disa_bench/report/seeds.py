"""Several training seeds of one method as one report row.

Layout (the protocol issue's): ``eval/<name>/seed<s>/`` and ``train/<name>/seed<s>/`` in a pipeline run dir,
or ``seed<s>/`` sub-dirs of one eval dir. Each seed dir is an ordinary eval (or train) dir. The row's
:class:`~disa_bench.report.collect.TaskResult` per task is the seeds combined: per-prompt accuracy averaged
over seeds on the prompts every seed has, Mean@k = the mean over seeds, and a CI in which both prompts and
seeds vary (:func:`disa_bench.eval.metrics.seed_mean_ci`); the per-seed results stay in ``.seeds``. With one
seed dir the row is exactly that seed's result.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

_SEED = re.compile(r"^seed(\d+)$")


def seed_dirs(d: Path) -> list[tuple[int, Path]]:
    """``(seed, dir)`` for every ``seed<s>/`` sub-dir of ``d``, in seed order."""
    out = [(int(m.group(1)), p) for p in Path(d).glob("seed*") if p.is_dir() and (m := _SEED.match(p.name))]
    return sorted(out)


def combine(trs: list, labels: list[int]):
    """One TaskResult from the per-seed TaskResults of a task (see the module docstring)."""
    from ..eval.metrics import seed_mean_ci

    if len(trs) == 1:
        return trs[0]
    common = [p for p in trs[0].per_prompt if all(p in t.per_prompt for t in trs[1:])]
    if not common:
        return trs[0]
    x = np.array([[t.per_prompt[p] for p in common] for t in trs], dtype=np.float64)
    mean, lo, hi = seed_mean_ci([x])
    return replace(trs[0], mean=100.0 * mean, ci=(100.0 * lo, 100.0 * hi), per_prompt=dict(zip(common, x.mean(axis=0))),
                   num_prompts=len(common), seeds=list(trs), seed_labels=list(labels))


def load_seeded_eval(d: Path, load_eval_dir) -> dict:
    """task -> combined TaskResult over ``d/seed<s>/`` (tasks every seed has); {} when there is none."""
    per_seed = [(s, load_eval_dir(p)) for s, p in seed_dirs(d)]
    per_seed = [(s, t) for s, t in per_seed if t]
    if not per_seed:
        return {}
    tasks = [t for t in per_seed[0][1] if all(t in x for _, x in per_seed[1:])]
    return {t: combine([x[t] for _, x in per_seed], [s for s, _ in per_seed]) for t in tasks}


def seed_matrix(tr, values=None, prompts=None) -> tuple[list[str], np.ndarray]:
    """(prompts, (S, P) array) of one task's per-prompt values per seed; ``values(seed_tr)`` gives
    prompt -> value (default: accuracy); prompts with a missing value in any seed are dropped."""
    seeds = tr.seeds or [tr]
    vals = [values(s) if values else s.per_prompt for s in seeds]
    prompts = [p for p in (prompts if prompts is not None else vals[0])
               if all(v.get(p) is not None for v in vals)]
    return prompts, np.array([[v[p] for p in prompts] for v in vals], dtype=np.float64).reshape(len(vals), len(prompts))


def n_seeds(entry) -> int:
    """Seeds of a row (the largest count over its tasks; 1 when it has none)."""
    return max([len(t.seeds) or 1 for t in entry.tasks.values()] or [1])
