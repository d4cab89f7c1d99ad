"""Sample completions for problems and grade them with the task's grader (the same grader as eval).

The rewards of one rollout batch are computed in one call: the task's ``grade_batch`` when it has one (the math
tasks: math-verify in a pool of worker processes; the code tasks: ``workers`` sandboxes at a time; mixtures: one
call per source task), else ``grade`` per sample (Countdown and the enumerable worlds: pure-Python graders that
take microseconds). ``benchmarks/reward_throughput.py`` measures what the batch path buys.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Completion, Grade, Problem, SamplingParams


@dataclass
class Graded:
    problem: Problem
    completion: Completion
    grade: Grade


def sample_and_grade(backend, task, problems: list[Problem], params: SamplingParams, progress=None) -> list[list[Graded]]:
    groups = backend.generate([p.prompt for p in problems], params, progress=progress)
    return grade_groups(task, problems, groups)


def grade_groups(task, problems: list[Problem], groups: list[list[Completion]]) -> list[list[Graded]]:
    """Grade ``groups[i]`` (completions of ``problems[i]``) in one :func:`grade_pairs` call."""
    grades = iter(grade_pairs(task, [(p, c.text) for p, g in zip(problems, groups) for c in g]))
    return [[Graded(p, c, next(grades)) for c in g] for p, g in zip(problems, groups)]


def grade_pairs(task, pairs: list[tuple[Problem, str]]) -> list[Grade]:
    """Grades of ``(problem, response)`` pairs, in order: one ``task.grade_batch`` call if the task has it."""
    if not pairs:
        return []
    batch = getattr(task, "grade_batch", None)
    if batch is not None:
        return list(batch(pairs))
    return [task.grade(p, r) for p, r in pairs]
