"""Task mixtures: ``--task math-train,mbpp-train`` trains (or proposes, or evaluates) on several tasks at once.

The mixing rule: ``problems(split, n, seed)`` gives each task an equal share of ``n`` (the first ``n mod m``
tasks one more), each task drawing its share with its own seeded subset rule; a task with fewer problems than
its share gives all it has and the rest goes to the other tasks in the order named. The problems are then
interleaved round-robin in that order (``n=None``: every problem of every task, round-robin). The train engine
draws its prompts from the store uniformly, so each task keeps its share in expectation.

Problem ids are ``<task>|<the task's own id>`` (so two tasks' ids never collide), ``Problem.task`` is the
mixture's name and ``meta["source_task"]`` the task's. ``grade`` and ``grade_batch`` route each problem to its
source task's grader; ``grade_batch`` makes one batch call per task (math-verify pool, code sandboxes), in the
order named, never one call per sample. Prompt options (``model``, ``template``, ``data`` ...) go to every task.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import UserError
from ..types import Grade, Problem
from .base import get_task, register_mixture

SEP = "|"


@dataclass
class Mixture:
    name: str
    parts: list = field(repr=False)  # the component tasks, in the order named

    def __post_init__(self):
        self.by_name = {t.name: t for t in self.parts}
        lo = min(t.reward_range[0] for t in self.parts)
        hi = max(t.reward_range[1] for t in self.parts)
        self.reward_range = (lo, hi)
        self.max_new_tokens = max(t.max_new_tokens for t in self.parts)

    @classmethod
    def build(cls, names: list[str], **options) -> "Mixture":
        if any(not n for n in names):
            raise UserError(f"empty task name in the mixture {','.join(names)!r}")
        parts = [get_task(n, **options) for n in names]
        seen = [t.name for t in parts]
        if len(set(seen)) != len(seen):
            raise UserError(f"task mixture {','.join(names)!r} names a task twice")
        return cls(",".join(seen), parts)

    @property
    def grader_version(self) -> str:
        """``<task>: <its grader version>; ...`` (a task without one is named by its grade function)."""
        def one(t):
            v = getattr(t, "grader_version", None)
            return v if isinstance(v, str) else f"{type(t).__module__}.{type(t).__name__}.grade"

        return "; ".join(f"{t.name}: {one(t)}" for t in self.parts)

    # ---------------------------------------------------------------- problems
    def problems(self, split: str = "train", n: int | None = None, seed: int = 0) -> list[Problem]:
        if n is None:
            lists = [t.problems(split, None, seed=seed) for t in self.parts]
        else:
            lists = self._shares(split, n, seed)
        out, i = [], 0
        while any(i < len(ps) for ps in lists):
            for t, ps in zip(self.parts, lists):
                if i < len(ps):
                    p = ps[i]
                    out.append(Problem(f"{t.name}{SEP}{p.prompt_id}", self.name, p.prompt, p.answer,
                                       {**p.meta, "source_task": t.name}))
            i += 1
        return out

    def _shares(self, split: str, n: int, seed: int) -> list[list[Problem]]:
        m = len(self.parts)
        sizes = [len(t.problems(split, None, seed=seed)) for t in self.parts]
        want = [n // m + (i < n % m) for i in range(m)]
        take = [min(w, s) for w, s in zip(want, sizes)]
        left = n - sum(take)
        for i in range(m):  # what a short task cannot give goes to the others, in the order named
            extra = min(left, sizes[i] - take[i])
            take[i] += extra
            left -= extra
        return [t.problems(split, k, seed=seed) if k < s else t.problems(split, None, seed=seed)
                for t, k, s in zip(self.parts, take, sizes)]

    # ---------------------------------------------------------------- grading
    def route(self, problem: Problem):
        """(source task, the problem as that task made it) of a mixture problem."""
        src, sep, pid = problem.prompt_id.partition(SEP)
        t = self.by_name.get(src)
        if not sep or t is None:
            raise UserError(f"problem {problem.prompt_id!r} is not in task mixture {self.name!r} "
                            f"(ids are <task>{SEP}<id>, tasks: {', '.join(self.by_name)})")
        meta = {k: v for k, v in problem.meta.items() if k != "source_task"}
        return t, replace(problem, prompt_id=pid, task=t.name, meta=meta)

    def grade(self, problem: Problem, response: str) -> Grade:
        t, p = self.route(problem)
        return t.grade(p, response)

    def grade_batch(self, pairs: list[tuple[Problem, str]]) -> list[Grade]:
        """One batch call per source task (its ``grade_batch``, else its ``grade`` per pair); input order kept."""
        groups: dict[str, list[int]] = {}
        routed = []
        for i, (p, r) in enumerate(pairs):
            t, q = self.route(p)
            routed.append((q, r))
            groups.setdefault(t.name, []).append(i)
        out: list[Grade | None] = [None] * len(pairs)
        for name, idx in groups.items():
            t = self.by_name[name]
            batch = [routed[i] for i in idx]
            grades = t.grade_batch(batch) if hasattr(t, "grade_batch") else [t.grade(q, r) for q, r in batch]
            for i, g in zip(idx, grades):
                out[i] = g
        return out  # type: ignore[return-value]


register_mixture(Mixture.build)
