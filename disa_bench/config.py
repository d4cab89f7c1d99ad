"""Config resolution: dataclass defaults <- profile <- ``--config FILE.yaml`` <- explicit CLI flags.

A YAML file may hold the fields of one stage at top level, or sections named after commands
(``propose:``, ``anchor:``, ``train:``, ``eval:``, ``run:``). Unknown keys are an error that names them.

Every value is checked against its dataclass field's type, the way Typer checks a flag: ``k: "four"`` or
``k: 4.5`` for an ``int`` field is one error line naming the file, the option and the value. Rules
(``check_type``): bool takes only true/false; int takes integers, not bools or floats; float takes ints and
floats, never NaN or +-inf; str takes strings; a ``list`` field takes a list or a comma-separated string (the
owner's ``check()`` parses it, as for the flag); ``dict`` takes a mapping; ``X | None`` also takes null. A field
named ``seed`` must lie within [0, 2**32 - 1] (numpy and torch seeds). Simplified: element types of
parametrised lists and dicts are not checked, and fields typed ``Any`` (or not resolvable) are not checked.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

from .errors import UserError

SEED_MAX = 2**32 - 1


def load_yaml(path: str | None, section: str | None = None) -> dict:
    if not path:
        return {}
    import yaml

    p = Path(path)
    if not p.exists():
        raise UserError(f"config file {path!r} does not exist")
    if p.is_dir():
        raise UserError(f"config file {path!r} is a directory, expected a YAML file")
    try:
        text = p.read_bytes()
    except OSError as e:
        raise UserError(f"config file {path!r}: cannot read ({e.strerror or e})") from None
    if b"\x00" in text:
        raise UserError(f"config file {path!r} is a binary file, expected YAML text")
    try:
        data = yaml.safe_load(text.decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise UserError(f"config file {path!r} is not UTF-8 text, expected YAML") from None
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value at top level")
    if section and section in data and isinstance(data[section], dict):
        return data[section]
    return data


class Flags(dict):
    """A layer of explicit command-line flags (``cli.app.flags``): its errors name the flag (``--lr``), not the
    config file."""


def resolve(cls, *layers: dict, where: str = "config"):
    """Build dataclass ``cls`` from layered dicts (later wins; ``None`` values are ignored). Every value is
    type-checked against its field (``check_type``) before the dataclass is built; an error names ``where``
    (the config file) and the option, or the flag for a :class:`Flags` layer."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = field_types(cls)
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is not None and not isinstance(layer, dict):
            raise UserError(f"{where}: expected a mapping of option: value for {cls.__name__}, got {layer!r}")
        for k, v in (layer or {}).items():
            if v is None:
                continue
            key = str(k).replace("-", "_")
            if key not in fields:
                raise UserError(f"{where}: unknown option {k!r} for {cls.__name__}; valid: {', '.join(sorted(fields))}")
            check_type(key, v, hints.get(key, Any), None if isinstance(layer, Flags) else where)
            merged[key] = v
    try:
        return cls(**merged)
    except TypeError as e:
        raise UserError(f"{where}: {e}") from None


def field_types(cls) -> dict[str, Any]:
    """``{field: type}`` of a dataclass, with string annotations evaluated (``{}`` where they do not evaluate)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation naming something not importable here: leave those fields unchecked
        return {}


def check_values(obj, where: str | None = None) -> None:
    """Type-check every field of a dataclass instance built without ``resolve`` (a command that constructs
    its config directly from typed flags still gets the NaN/inf and seed checks)."""
    hints = field_types(type(obj))
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is not None:
            check_type(f.name, v, hints.get(f.name, Any), where)


def check_seed(seed, where: str = "--seed") -> None:
    if seed is not None and not (isinstance(seed, int) and 0 <= seed <= SEED_MAX):
        raise UserError(f"{where} must be an integer within [0, {SEED_MAX}], got {seed!r}")


def check_type(name: str, value, tp, where: str | None) -> None:
    """One UserError naming ``where`` and the option (``where`` None: the flag ``--name``) and the value when
    ``value`` does not fit ``tp``."""
    what = f"--{name.replace('_', '-')}" if where is None else f"{where}: option {name!r}"
    if not _fits(value, tp):
        raise UserError(f"{what} must be {_describe(tp)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{what} must be a finite number, got {value!r}")
    if name == "seed":
        check_seed(value, what)


def _alternatives(tp) -> tuple:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _fits(value, tp) -> bool:
    for t in _alternatives(tp):
        if t is Any or t is typing.Any:
            return True
        if t is type(None):
            if value is None:
                return True
            continue
        base = typing.get_origin(t) or t
        if base is bool:
            ok = isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif base is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif base is str:
            ok = isinstance(value, str)
        elif base in (list, tuple):
            ok = isinstance(value, (list, tuple, str))  # a comma-separated string, as the flag takes it
        elif base is dict:
            ok = isinstance(value, dict)
        elif isinstance(base, type):
            ok = isinstance(value, base)
        else:
            ok = True  # a typing construct not handled here: unchecked
        if ok:
            return True
    return False


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a list", dict: "a mapping"}


def _describe(tp) -> str:
    alts = [t for t in _alternatives(tp) if t is not type(None)]
    names = [_NAMES.get(typing.get_origin(t) or t, getattr(t, "__name__", str(t))) for t in alts]
    s = " or ".join(dict.fromkeys(names))
    return s + (" (or null)" if len(alts) < len(_alternatives(tp)) else "")
