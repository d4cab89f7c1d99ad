"""``disa-bench store info``: what a trajectory store holds, and whether it passes the store validator.

Counts are computed from the raw table even when validation fails (as far as the columns they need exist),
so a broken store can still be inspected. "Correct" means reward > 0, as for LoRA-SFT's data and the
anchor's coverage flag.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError


def describe(path: str | Path) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from .schema import SCHEMA_VERSION, store_meta, validate

    path = Path(path)
    if path.is_dir() and (path / "store.parquet").is_file():  # the --out dir of propose / store import
        path = path / "store.parquet"
    if not path.exists():
        raise UserError(f"trajectory store {str(path)!r} does not exist")
    if path.is_dir():
        raise UserError(f"{path}: a directory without store.parquet, expected a trajectory store")
    try:
        table = pq.read_table(path)
    except Exception as e:  # corrupt / not Parquet
        raise UserError(f"{path}: not a readable Parquet trajectory store ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    try:
        validate(table, str(path))
        problem = None
    except UserError as e:
        problem = str(e)
    raw_meta = table.schema.metadata or {}
    try:
        meta = store_meta(table)
    except ValueError:  # unparsable JSON in the metadata
        meta, problem = {}, problem or f"{path}: metadata 'disa_bench_meta' is not valid JSON"
    prop = meta.get("propose", {})
    out = {"store": str(path), "trajectories": table.num_rows,
           "schema": {"ok": problem is None, "error": problem,
                      "version": raw_meta.get(b"disa_bench_schema", b"").decode() or None, "expected": SCHEMA_VERSION},
           "task": prop.get("task"), "proposal": prop.get("proposal"), "ref": prop.get("ref"),
           "made_by": "store import" if "import" in meta else "propose" if prop else None}
    if "import" in meta:
        out["source"] = meta["import"].get("config", {}).get("source")
    names = set(table.column_names)
    if out["task"] is None and "task" in names:
        out["task"] = ", ".join(sorted({str(t) for t in table.column("task").to_pylist()}))
    if "prompt_id" in names:
        pids = table.column("prompt_id").to_pylist()
        groups: dict = {}
        for i, p in enumerate(pids):
            groups.setdefault(p, []).append(i)
        ks = np.array([len(v) for v in groups.values()])
        out["prompts"] = len(groups)
        out["k"] = {"min": int(ks.min()), "median": float(np.median(ks)), "max": int(ks.max())} if len(ks) else None
        if "reward" in names:
            rew = np.array([np.nan if x is None else x for x in table.column("reward").to_pylist()], dtype=float)
            ok = rew > 0
            out["mean_reward"] = float(np.nanmean(rew)) if len(rew) else None
            out["success_rate"] = float(ok.mean()) if len(rew) else None
            out["coverage"] = float(np.mean([ok[v].any() for v in groups.values()])) if groups else None
    if "num_tokens" in names and table.num_rows:
        out["mean_tokens"] = float(np.mean(table.column("num_tokens").to_numpy(zero_copy_only=False)))
    return out
