"""Config resolution: dataclass defaults <- profile <- ``--config FILE.yaml`` <- explicit CLI flags.

A YAML file may hold the fields of one stage at top level, or sections named after commands
(``propose:``, ``anchor:``, ``train:``, ``eval:``, ``run:``). Unknown keys are an error that names them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .errors import UserError


def load_yaml(path: str | None, section: str | None = None) -> dict:
    if not path:
        return {}
    import yaml

    p = Path(path)
    if not p.exists():
        raise UserError(f"config file {path!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of option: value at top level")
    if section and section in data and isinstance(data[section], dict):
        return data[section]
    return data


def resolve(cls, *layers: dict, where: str = "config"):
    """Build dataclass ``cls`` from layered dicts (later wins; ``None`` values are ignored)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            if v is None:
                continue
            key = k.replace("-", "_")
            if key not in fields:
                raise UserError(f"{where}: unknown option {k!r} for {cls.__name__}; valid: {', '.join(sorted(fields))}")
            merged[key] = v
    try:
        return cls(**merged)
    except TypeError as e:
        raise UserError(f"{where}: {e}") from None
