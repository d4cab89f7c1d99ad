"""Where benchmark rows come from: one rule shared by every benchmark family (math, humanevalplus, ...).

``data=None`` reads ``$DISA_BENCH_BENCHMARKS/<family>/<file>`` (default: ``shared/benchmarks`` next to the
repository), or, when that file is missing and the benchmark names a Hugging Face dataset (``hf_id``; the
training sets do), that dataset; a directory is searched for ``<file>`` or ``<family>/<file>``; an existing
file is used as is; anything else that does not look like a local path is taken as a Hugging Face dataset id
(loaded with ``datasets`` only then; the benchmark's ``hf_config`` applies when the id is its own ``hf_id``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..io import read_jsonl_rows

REPO = Path(__file__).resolve().parents[2]  # parent of the disa_bench package dir


def default_data_root() -> Path:
    env = os.environ.get("DISA_BENCH_BENCHMARKS")
    return Path(env) if env else REPO.parent / "shared" / "benchmarks"


def locate(name: str, data: str | None, family: str, file: str, hf_id: str | None = None) -> tuple[str, str]:
    """("file", path) or ("hf", dataset id) for benchmark ``name``; a missing local path is a UserError
    (without ``data``: unless ``hf_id`` names the dataset to read instead)."""
    if data is None:
        root = default_data_root()
        p = root / family / file
        if not p.exists() and hf_id:
            return "hf", hf_id
        if not p.exists():
            where = "$DISA_BENCH_BENCHMARKS" if os.environ.get("DISA_BENCH_BENCHMARKS") else "the default"
            raise UserError(f"benchmark file for {name!r} not found: {p} (data root {root} from {where}; "
                            f"pass data=DIR|FILE.jsonl|HF_ID or set DISA_BENCH_BENCHMARKS)")
        return "file", str(p)
    p = Path(data).expanduser()
    if p.is_dir():
        for cand in (p / file, p / family / file):
            if cand.exists():
                return "file", str(cand)
        raise UserError(f"benchmark file for {name!r} not found: neither {p / file} nor {p / family / file} exists")
    if p.exists():
        return "file", str(p)
    if data.startswith((".", "/", "~")) or data.endswith((".jsonl", ".json")) or data.count("/") > 1:
        raise UserError(f"benchmark data for {name!r} not found: {data}")
    return "hf", data


def load_hf_rows(dataset_id: str, split: str, config: str | None = None) -> list[tuple[int, dict]]:
    """(row number, row) of a Hugging Face dataset split (of ``config``, if given); a missing package or a
    failed load is a UserError."""
    try:
        import datasets
    except ImportError:
        raise UserError("loading a Hugging Face dataset id needs the 'datasets' package (pip install datasets)") from None
    try:
        ds = datasets.load_dataset(dataset_id, config, split=split) if config else \
            datasets.load_dataset(dataset_id, split=split)
    except Exception as e:  # noqa: BLE001 -- hub / offline / missing-split errors all become one line
        raise UserError(f"cannot load Hugging Face dataset {dataset_id!r} (split {split!r}): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return [(i + 1, dict(r)) for i, r in enumerate(ds)]


@dataclass
class Rows:
    """The rows of one benchmark: ``(line number, row)`` pairs, a label for error messages (``path`` or
    ``hf:<id>``) and, for a local file, its directory (where side files such as id lists live)."""

    rows: list[tuple[int, dict]]
    label: str
    dir: Path | None


def load_rows(name: str, data: str | None, family: str, file: str, hf_split: str = "test", hf_id: str | None = None,
              hf_config: str | None = None) -> Rows:
    """Read benchmark ``name``'s rows from wherever :func:`locate` points; no rows at all is a UserError."""
    kind, where = locate(name, data, family, file, hf_id)
    if kind == "file":
        out = Rows(read_jsonl_rows(where), where, Path(where).parent)
    else:
        out = Rows(load_hf_rows(where, hf_split, hf_config if where == hf_id else None), f"hf:{where}", None)
    if not out.rows:
        raise UserError(f"{out.label}: no rows")
    return out
