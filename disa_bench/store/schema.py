"""The shared trajectory store: one Parquet file, one row per trajectory, schema versioned.

Every method reads the same store: DISA's anchor (IS estimate of log Z), LoRA-SFT (distillation data), and
the RL methods in ``--data offline`` mode (ratios against ``behavior_logprobs``). The schema is documented
in docs/store.md. It is validated on read and before a write; a bad column, a null, a NaN/inf or impossible
log-prob, a reward outside the declared range, or a duplicated draw is one error line naming the column and
the row (docs/store.md, "Validation").
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path

SCHEMA_VERSION = "1"
# A log-prob is <= 0; up to this much above 0 is float rounding (float32 per-token values, summed).
LOGPROB_SLACK = 1e-4
# The stated bound on how improbable a stored token may be: at most this many nats per token (a sequence
# log-prob >= -MAX_NATS_PER_TOKEN * max(num_tokens, 1)). A sampled token is never that unlikely (float32
# softmax cannot even represent probabilities below e^-104), and log-ratios of that size overflow the
# IS weights (e.g. proposal_logprob = -1e300 turns log Z into 0).
MAX_NATS_PER_TOKEN = 1000.0
# Optional extra column: the draw's index among the k samples of its prompt (propose and import write it).
# With it, two rows with the same (prompt_id, seed, sample) are one draw stored twice, an error.
SAMPLE_COLUMN = "sample"


def schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("prompt_id", pa.string()),
            ("task", pa.string()),
            ("prompt", pa.string()),
            ("completion", pa.string()),
            ("completion_ids", pa.list_(pa.int32())),
            ("behavior_logprobs", pa.list_(pa.float32())),
            ("proposal_logprob", pa.float64()),
            ("ref_logprob", pa.float64()),
            ("num_tokens", pa.int32()),
            ("reward", pa.float64()),
            ("truncated", pa.bool_()),
            ("proposal_model", pa.string()),
            ("temperature", pa.float64()),
            ("seed", pa.int64()),
        ],
        metadata={
            b"disa_bench_schema": SCHEMA_VERSION.encode(),
        },
    )


REQUIRED = [f.name for f in schema()]


def write_store(path: str | Path, rows: list[dict], reward_range=(0.0, 1.0), extra_meta: dict | None = None) -> None:
    """Validate ``rows`` and write them atomically. Extra keys become extra columns."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        raise UserError(f"refusing to write an empty trajectory store to {path}")
    base = schema()
    extra = [k for k in rows[0] if k not in REQUIRED]
    cols = {f.name: pa.array([r[f.name] for r in rows], type=f.type) for f in base}
    for k in extra:
        cols[k] = pa.array([r[k] for r in rows])
    meta = dict(base.metadata)
    meta[b"reward_range"] = json.dumps(list(reward_range)).encode()
    if extra_meta:
        meta[b"disa_bench_meta"] = json.dumps(extra_meta).encode()
    table = pa.table(cols).replace_schema_metadata(meta)
    validate(table, str(path))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_store(path: str | Path):
    """Read and validate a store; returns a pyarrow Table."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise UserError(f"trajectory store {str(path)!r} does not exist")
    if path.is_dir() and (path / "store.parquet").is_file():  # the --out dir of 'disa-bench propose'
        path = path / "store.parquet"
    try:
        table = pq.read_table(path)
    except Exception as e:  # corrupt / not parquet
        raise UserError(f"{path}: not a readable Parquet trajectory store ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    validate(table, str(path))
    return table


def store_meta(table) -> dict:
    import json

    m = table.schema.metadata or {}
    return json.loads(m.get(b"disa_bench_meta", b"{}"))


def validate(table, where: str) -> None:
    import json

    import numpy as np
    import pyarrow as pa

    want = schema()
    names = set(table.column_names)
    for f in want:
        if f.name not in names:
            raise UserError(f"{where}: missing column {f.name!r} (expected {f.type})")
        got = table.schema.field(f.name).type
        same = (got == f.type) or (pa.types.is_list(got) and pa.types.is_list(f.type) and got.value_type == f.type.value_type)
        if not same:
            raise UserError(f"{where}: column {f.name!r} has type {got}, expected {f.type}")
    if table.num_rows == 0:
        raise UserError(f"{where}: the store has no rows")
    for f in want:  # nulls: every required column, ids and text included
        col = table.column(f.name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise UserError(f"{where}: column {f.name!r} row {row} is null")
    lo, hi = (0.0, 1.0)
    meta = table.schema.metadata or {}
    if b"reward_range" in meta:
        lo, hi = json.loads(meta[b"reward_range"])
    for name in ("proposal_logprob", "ref_logprob", "reward", "temperature"):
        arr = table.column(name).to_numpy()
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise UserError(f"{where}: column {name!r} row {int(bad[0])} is {arr[bad[0]]} (expected a finite number)")
    rew = table.column("reward").to_numpy()
    bad = np.flatnonzero((rew < lo) | (rew > hi))
    if bad.size:
        raise UserError(f"{where}: column 'reward' row {int(bad[0])} is {rew[bad[0]]} (expected within [{lo}, {hi}])")
    temp = table.column("temperature").to_numpy()
    bad = np.flatnonzero(temp <= 0)
    if bad.size:
        raise UserError(f"{where}: column 'temperature' row {int(bad[0])} is {temp[bad[0]]} (expected > 0)")
    ntok = table.column("num_tokens").to_numpy()
    floor = -MAX_NATS_PER_TOKEN * np.maximum(ntok, 1)
    for name in ("proposal_logprob", "ref_logprob"):
        arr = table.column(name).to_numpy()
        bad = np.flatnonzero(arr > LOGPROB_SLACK)
        if bad.size:
            raise UserError(f"{where}: column {name!r} row {int(bad[0])} is {arr[bad[0]]}, a positive log-prob "
                            "(a sequence log-prob is <= 0)")
        bad = np.flatnonzero(arr < floor)
        if bad.size:
            r = int(bad[0])
            raise UserError(f"{where}: column {name!r} row {r} is {arr[r]}, below the bound "
                            f"-{MAX_NATS_PER_TOKEN:g} nats per token x {max(int(ntok[r]), 1)} tokens = {floor[r]:g}")
    lps = table.column("behavior_logprobs")
    flat = pa.compute.list_flatten(lps).to_numpy(zero_copy_only=False).astype(np.float64)
    bad_tok = ~np.isfinite(flat) | (flat > LOGPROB_SLACK) | (flat < -MAX_NATS_PER_TOKEN)
    if flat.size and bad_tok.any():
        offsets = lps.combine_chunks().offsets.to_numpy()
        pos = int(np.flatnonzero(bad_tok)[0])
        row = int(np.searchsorted(offsets, pos, side="right") - 1)
        v = flat[pos]
        why = ("a NaN/inf log-prob" if not np.isfinite(v) else f"the log-prob {v:g} (expected within "
               f"[-{MAX_NATS_PER_TOKEN:g}, 0] per token)")
        raise UserError(f"{where}: column 'behavior_logprobs' row {row} holds {why}")
    lens = pa.compute.list_value_length(table.column("completion_ids")).to_numpy(zero_copy_only=False)
    blens = pa.compute.list_value_length(lps).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero((lens != ntok) | (blens != ntok))
    if bad.size:
        r = int(bad[0])
        raise UserError(f"{where}: row {r}: num_tokens={ntok[r]} but completion_ids has {lens[r]} and behavior_logprobs {blens[r]} entries")
    if SAMPLE_COLUMN in names:
        _check_draws(table, where)


def _check_draws(table, where: str) -> None:
    """With a ``sample`` column: non-null, >= 0, and no (prompt_id, seed, sample) twice (a duplicated row would
    over-report k and narrow the anchor's CI)."""
    import numpy as np

    col = table.column(SAMPLE_COLUMN)
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise UserError(f"{where}: column {SAMPLE_COLUMN!r} row {row} is null")
    sample = col.to_pylist()
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in sample):
        row = next(i for i, v in enumerate(sample) if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0))
        raise UserError(f"{where}: column {SAMPLE_COLUMN!r} row {row} is {sample[row]!r} (expected an integer >= 0)")
    seen: dict[tuple, int] = {}
    for i, key in enumerate(zip(table.column("prompt_id").to_pylist(), table.column("seed").to_pylist(), sample)):
        if key in seen:
            raise UserError(f"{where}: row {i} duplicates row {seen[key]} (prompt_id {key[0]!r}, seed {key[1]}, "
                            f"sample {key[2]}): the same draw stored twice")
        seen[key] = i


def number_draws(rows: list[dict]) -> None:
    """Set each row's ``sample`` column: its index among the rows of its (prompt_id, seed), in row order (propose
    writes a prompt's k draws in draw order, the importer in file order)."""
    seen: dict[tuple, int] = {}
    for r in rows:
        key = (r["prompt_id"], r["seed"])
        seen[key] = seen.get(key, -1) + 1
        r[SAMPLE_COLUMN] = seen[key]


def group_by_prompt(table) -> dict[str, dict]:
    """Columns as numpy arrays grouped by prompt_id, in first-appearance order."""
    import numpy as np

    pid = table.column("prompt_id").to_pylist()
    order: dict[str, list[int]] = {}
    for i, p in enumerate(pid):
        order.setdefault(p, []).append(i)
    cols = {c: table.column(c).to_numpy() for c in ("proposal_logprob", "ref_logprob", "reward", "num_tokens")}
    return {p: {c: np.asarray(v[idx]) for c, v in cols.items()} | {"rows": idx} for p, idx in order.items()}


def is_finite(x: float) -> bool:
    return math.isfinite(x)
