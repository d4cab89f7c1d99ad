"""Task registry. ``get_task(name)`` returns a task; an unknown name lists the valid ones.

Every module of this package registers its tasks when imported, and importing the package imports them all
(found with pkgutil), so a new task or benchmark is one new file here (see ``benchmark.py`` for a benchmark
family, ``countdown.py`` for a generated task). A module that fails to import is a UserError naming it.
"""

from ..registry import discover
from .base import TASKS, Task, get_task, task_names

__all__ = ["TASKS", "Task", "get_task", "task_names"]

discover(__name__, __path__, "task")
