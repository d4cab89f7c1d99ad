"""What a task is: problems (prompts), and one grader used both as the RL reward and as the eval metric."""

from __future__ import annotations

from typing import Protocol

from ..registry import Registry
from ..types import Grade, Problem


class Task(Protocol):
    name: str
    reward_range: tuple[float, float]
    max_new_tokens: int  # default response budget for rollouts and eval

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        """Deterministic problems of ``split`` ('train' or 'test'); ``n`` draws a seeded subset."""
        ...

    def grade(self, problem: Problem, response: str) -> Grade: ...


TASKS: Registry = Registry("task")


def get_task(name: str, **kwargs) -> Task:
    """Instantiate a registered task by name; an unknown name lists the valid ones."""
    return TASKS.get(name)(**kwargs)


def task_names() -> list[str]:
    return TASKS.names()
