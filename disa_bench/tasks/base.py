"""What a task is: problems (prompts), and one grader used both as the RL reward and as the eval metric.

Task names (``get_task``):

* ``NAME`` -- a registered task (``countdown``, ``math500``, ``math-train``, ...);
* ``NAME:PARAM`` -- a parameterised task, registered with :func:`register_parameterised` (e.g.
  ``math-train:level3-5``); its name, and so its store rows' ``task``, is the whole string;
* ``A,B,...`` -- a mixture of tasks (``tasks/mixture.py``: problems drawn from each in equal shares, each graded
  by its own task's grader).

``model`` / ``template`` pick the prompt template of tasks that have one (``tasks/prompts.py``; default
``auto``: the model's own chat template when its tokenizer has one).
"""

from __future__ import annotations

from typing import Callable, Protocol

from ..errors import UserError
from ..registry import Registry
from ..types import Grade, Problem
from .prompts import resolve_template


class Task(Protocol):
    name: str
    reward_range: tuple[float, float]
    max_new_tokens: int  # default response budget for rollouts and eval

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        """Deterministic problems of ``split`` ('train' or 'test'); ``n`` draws a seeded subset."""
        ...

    def grade(self, problem: Problem, response: str) -> Grade: ...

    # optional: grade_batch(pairs: list[(Problem, str)]) -> list[Grade], the grader's parallel path (one call per
    # rollout batch / eval; rollout.graded and eval.grading use it when present)


TASKS: Registry = Registry("task")
PARAMETERISED: dict[str, str] = {}  # task name -> what its ":PARAM" means
_MIXTURE: list[Callable] = []  # the builder of "A,B" task names (registered by tasks/mixture.py)


def register_parameterised(name: str, factory: Callable, meaning: str) -> None:
    """Register ``name`` whose factory also takes ``param=`` (the text after ``NAME:``; None for plain ``NAME``)."""
    TASKS.add(name, factory)
    PARAMETERISED[name] = meaning


def register_mixture(build: Callable) -> None:
    """``build(names, **options)`` makes the task for a comma-separated name (one builder: tasks/mixture.py)."""
    _MIXTURE[:] = [build]


def templated(factory) -> bool:
    """Whether a registered task renders its prompts through a template (prompts.py) and takes ``template=``."""
    return bool(getattr(factory, "templated", False))


def get_task(name: str, model: str | None = None, template: str | None = None, **kwargs) -> Task:
    """Instantiate a task by name (see the module docstring); an unknown name lists the valid ones.

    ``template`` (default ``auto``) is resolved against ``model`` once, here, for tasks that have templates;
    a task with one fixed prompt format accepts only ``auto`` / ``plain``."""
    name = name.strip()
    if "," in name:
        if not _MIXTURE:
            raise UserError("task mixtures are not available (tasks/mixture.py did not register)")
        return _MIXTURE[0]([p.strip() for p in name.split(",")], model=model, template=template, **kwargs)
    base, sep, param = name.partition(":")
    factory = TASKS.get(base)
    if sep:
        if base not in PARAMETERISED:
            raise UserError(f"task {base!r} takes no ':' parameter (got {name!r}); parameterised tasks: "
                            + "; ".join(f"{n}:{m}" for n, m in sorted(PARAMETERISED.items())))
        kwargs["param"] = param.strip()
    if templated(factory):
        kwargs["template"] = resolve_template(template, model)
    elif template not in (None, "auto", "plain"):
        raise UserError(f"task {base!r} has one fixed prompt format: template {template!r} does not apply "
                        f"(use auto or plain)")
    return factory(**kwargs)


def is_task(name: str) -> bool:
    """Whether ``name`` (``NAME`` or ``NAME:PARAM``, not a mixture) names a registered task, without building it."""
    base, sep, _ = name.strip().partition(":")
    return base in TASKS and (not sep or base in PARAMETERISED)


def task_names() -> list[str]:
    return TASKS.names()
