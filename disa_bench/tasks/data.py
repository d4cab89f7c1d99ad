"""Where benchmark files come from: one rule shared by the math and code benchmark tasks.

``data=None`` reads ``$DISA_BENCH_BENCHMARKS/<family>/<file>`` (default: ``shared/benchmarks`` next to the
repository); a directory is searched for ``<file>`` or ``<family>/<file>``; an existing file is used as is;
anything else that does not look like a local path is taken as a Hugging Face dataset id.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

REPO = Path(__file__).resolve().parents[2]  # parent of the disa_bench package dir


def default_data_root() -> Path:
    env = os.environ.get("DISA_BENCH_BENCHMARKS")
    return Path(env) if env else REPO.parent / "shared" / "benchmarks"


def locate(name: str, data: str | None, family: str, file: str) -> tuple[str, str]:
    """("file", path) or ("hf", dataset id) for benchmark ``name``; a missing local path is a UserError."""
    if data is None:
        root = default_data_root()
        p = root / family / file
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


def load_hf_rows(dataset_id: str, split: str) -> list[tuple[int, dict]]:
    """(row number, row) of a Hugging Face dataset split; a missing package or a failed load is a UserError."""
    try:
        import datasets
    except ImportError:
        raise UserError("loading a Hugging Face dataset id needs the 'datasets' package (pip install datasets)") from None
    try:
        ds = datasets.load_dataset(dataset_id, split=split)
    except Exception as e:  # noqa: BLE001 -- hub / offline / missing-split errors all become one line
        raise UserError(f"cannot load Hugging Face dataset {dataset_id!r} (split {split!r}): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return [(i + 1, dict(r)) for i, r in enumerate(ds)]
