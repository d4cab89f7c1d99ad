"""Graded samples per second of the training reward path: batched (one ``grade_batch`` call per rollout batch,
what ``rollout.graded`` does) vs one sample at a time (``task.grade`` in a loop).

Completions (``--n`` of each kind, half right and half wrong, in a shuffled order):

* math-train: MATH reference solutions (ending in ``\\boxed{answer}``: reward 1), or a reference solution whose
  last box holds another problem's answer (reward 0, after math-verify has parsed and compared both); no
  completion text occurs twice;
* mbpp-train: the reference program of an MBPP train row in a fenced block (passes: reward 1) or a program
  that defines the function but returns None (fails its first assert: reward 0), each run in the sandbox.

Both paths use the same graders, warmed up before the clocks start (the math-verify worker pool is started and
the sandbox has run once). Batched math grading fans out over the math-verify worker pool (``--math-workers``,
default: the grader's, min(8, CPUs)); batched code grading runs ``--code-workers`` sandboxes at a time (the
task's ``workers``, default 2). One at a time, each sample waits for the previous one. Repeat ``k`` grades one
set of completions on both paths (in alternating order); ``--repeats`` sets, medians reported. Each timed math
run gets a fresh worker pool: math-verify (sympy) caches what it parsed, so grading the same completions again
runs about twice as fast and would flatter whichever path went second.

    .venv/bin/python benchmarks/reward_throughput.py            # 256 math + 64 MBPP completions
    .venv/bin/python benchmarks/reward_throughput.py --n 512 --code-n 128 --code-workers 4

Prints both rates and their ratio (batched / one at a time) per task, and the machine's CPU count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time


def math_pairs(n: int, seed: int, runs: int = 1):
    """``runs`` lists of ``n`` (problem, completion) pairs over disjoint problems."""
    from disa_bench.graders.math import last_boxed
    from disa_bench.tasks import get_task
    from disa_bench.tasks.data import load_rows
    from disa_bench.tasks.train_sets import MATH_TRAIN

    t = get_task("math-train")
    ps = t.problems("train")
    raw = load_rows("math-train", None, "train", MATH_TRAIN.file).rows
    sol = [row.get("solution") or "" for _, row in raw]
    rng = random.Random(seed)
    pool = [i for i in rng.sample(range(len(ps)), len(ps)) if last_boxed(sol[i])]
    return t, [_math_run(ps, sol, pool[r * n:(r + 1) * n], rng) for r in range(runs)]


def _math_run(ps, sol, idx, rng):
    from disa_bench.graders.math import last_boxed

    pairs = []
    for j, i in enumerate(idx):
        if j % 2 == 0:
            pairs.append((ps[i], sol[i]))  # its own solution: right
        else:  # its own solution with the last box holding another problem's answer: wrong, and no text repeats
            k = idx[j - 1]
            box = f"\\boxed{{{last_boxed(sol[i])}}}"
            other = ps[k].answer if ps[k].answer != ps[i].answer else "-1.5"
            head, sep, tail = sol[i].rpartition(box)
            pairs.append((ps[i], f"{head}\\boxed{{{other}}}{tail}" if sep else f"{sol[i]} \\boxed{{{other}}}"))
    rng.shuffle(pairs)
    return pairs


def mbpp_pairs(n: int, seed: int, workers: int, runs: int = 1):
    """``runs`` lists of ``n`` (problem, completion) pairs (MBPP train has 374 problems: runs may share some)."""
    from disa_bench.tasks import get_task

    t = get_task("mbpp-train", workers=workers)
    items = {it.pid: it for it in t.items()}
    ps = t.problems("train")
    rng = random.Random(seed)
    return t, [_mbpp_run(rng.sample(ps, n), items) for _ in range(runs)]


def _mbpp_run(ps, items):
    import re

    pairs = []
    for j, p in enumerate(ps):
        it = items[p.prompt_id]
        if j % 2 == 0:
            code = it.data["code"]
        else:
            name = re.search(r"assert\s+(?:not\s+)?\(?\s*(?:math\.isclose\(|set\()?\s*(\w+)\s*\(", it.data["tests"][0])
            code = f"def {name.group(1) if name else 'f'}(*args, **kwargs):\n    return None\n"
        pairs.append((p, f"Here is the program.\n```python\n{code}\n```"))
    return pairs


def fresh_math_pool() -> None:
    """Replace the process-wide math-verify pool by a new one (workers keep sympy caches of what they parsed)."""
    from disa_bench.graders import math as gm

    if gm._DEFAULT is not None:
        gm._DEFAULT.close()
        gm._DEFAULT = None


def timed(fn, pairs) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = fn(pairs)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="math-train completions")
    ap.add_argument("--code-n", type=int, default=64, help="mbpp-train completions")
    ap.add_argument("--math-workers", type=int, default=None, help="math-verify worker processes (default: min(8, CPUs))")
    ap.add_argument("--code-workers", type=int, default=2, help="parallel sandboxes of grade_batch (the task's workers)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if args.math_workers:
        os.environ["DISA_BENCH_GRADER_WORKERS"] = str(args.math_workers)
    from disa_bench.graders.math import default_grader
    from disa_bench.rollout.graded import grade_pairs

    print(f"CPUs available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    reps = max(1, args.repeats)
    for label, (task, runs) in (("math-train", math_pairs(args.n, args.seed, reps + 1)),
                                ("mbpp-train", mbpp_pairs(args.code_n, args.seed, args.code_workers, reps + 1))):
        warm = runs.pop()
        paths = {"one": lambda ps: [task.grade(p, r) for p, r in ps], "batch": lambda ps: grade_pairs(task, ps)}
        secs, right = {"one": [], "batch": []}, []
        for k in range(reps):  # the same completions on both paths, in alternating order
            for name in (("one", "batch") if k % 2 == 0 else ("batch", "one")):
                if label == "math-train":
                    fresh_math_pool()  # no worker has parsed these completions yet
                workers = default_grader().n if label == "math-train" else task.workers
                grade_pairs(task, warm[: 2 * workers])  # warm-up: pool started / sandbox probed
                t, grades = timed(paths[name], runs[k])
                secs[name].append(t)
                right.append(sum(g.reward > 0 for g in grades))
        n = len(runs[0])
        r1, r2 = n / statistics.median(secs["one"]), n / statistics.median(secs["batch"])
        rows.append((label, n, f"{min(right)}-{max(right)}", workers, r1, r2))
    print(f"{'task':<11} {'samples':>7} {'reward 1':>8} {'workers':>7} {'one at a time/s':>16} {'batched/s':>10} "
          f"{'ratio':>6}")
    for label, n, right, workers, r1, r2 in rows:
        print(f"{label:<11} {n:>7} {right:>8} {workers:>7} {r1:>16.1f} {r2:>10.1f} {r2 / r1:>5.2f}x")
    print("reward 1: how many completions of a run graded 1 (half are right by construction)")


if __name__ == "__main__":
    main()
