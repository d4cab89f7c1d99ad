"""Sample completions for problems and grade them with the task's grader (the same grader as eval)."""

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
    return [[Graded(p, c, task.grade(p, c.text)) for c in g] for p, g in zip(problems, groups)]
