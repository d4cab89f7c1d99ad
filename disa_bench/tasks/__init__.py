"""Task registry. ``get_task(name)`` returns a task; an unknown name lists the valid ones.

Every module of this package registers its tasks when imported, and importing the package imports them all
(found with pkgutil), so a new task or benchmark is one new file here (see ``benchmark.py`` for a benchmark
family, ``countdown.py`` for a generated task). A module that fails to import is a UserError naming it.
"""

import importlib
import pkgutil

from ..errors import UserError
from .base import TASKS, Task, get_task, task_names

__all__ = ["TASKS", "Task", "get_task", "task_names"]


def _import_all() -> None:
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        try:
            importlib.import_module(f"{__name__}.{m.name}")
        except Exception as e:  # noqa: BLE001 -- any failure is reported with the module's name, never skipped
            raise UserError(f"task module {__name__}.{m.name} failed to import: {type(e).__name__}: {e}") from e


_import_all()
