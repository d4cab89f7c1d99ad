"""Name-keyed registries (tasks, methods, rollout backends) that list the valid names on a miss."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown {self.kind} {name!r}{hint}; valid: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def discover(package: str, path, kind: str = "plug-in", skip: tuple[str, ...] = ()) -> list[str]:
    """Import every module of ``package`` (its ``__path__`` is ``path``) except ``skip``, so that plug-ins register
    themselves by existing: a new method, task or backend is one new file. A module that fails to import is a
    UserError naming it, never a silent skip. Returns the imported module names."""
    import importlib
    import pkgutil

    names = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if info.name in skip or info.name.startswith("_"):
            continue
        full = f"{package}.{info.name}"
        try:
            importlib.import_module(full)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001  (any failure of a plug-in module is reported with its name)
            raise UserError(f"{kind} module {full} failed to import: {type(e).__name__}: {e}") from e
        names.append(full)
    return names
