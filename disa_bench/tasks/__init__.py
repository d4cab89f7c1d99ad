"""Task registry. ``get_task(name)`` returns a task; an unknown name lists the valid ones."""

from .base import TASKS, Task, get_task, task_names

__all__ = ["TASKS", "Task", "get_task", "task_names"]
