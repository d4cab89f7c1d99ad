"""Named groups of tasks, so one flag can name a whole suite: ``--tasks math6,code3``."""

from __future__ import annotations

from ..errors import UserError

TASK_GROUPS: dict[str, list[str]] = {
    "math6": ["aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"],
    "code3": ["humanevalplus", "livecodebench", "codeforces"],
}


def expand_tasks(spec: str | list[str]) -> list[str]:
    """``"math6,gsm8k"`` -> the six math sets then gsm8k; duplicates dropped, order kept.

    Single names must be registered tasks (``NAME`` or ``NAME:PARAM``); group members are checked when each task
    is built.
    """
    from .base import is_task, task_names

    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    parts = [p.strip() for p in parts if p and p.strip()]
    if not parts:
        raise UserError("no task given (expected e.g. --tasks math6,code3 or --tasks countdown)")
    known = task_names()
    out: list[str] = []
    for p in parts:
        names = TASK_GROUPS.get(p)
        if names is None:
            if not is_task(p):
                raise UserError(f"unknown task or group {p!r}; tasks: {', '.join(known)}; groups: {', '.join(TASK_GROUPS)}")
            names = [p]
        out += [n for n in names if n not in out]
    return out
