"""``disa-bench store import``: completions you already have (a JSONL/Parquet file or a Hugging Face dataset) into
a standard trajectory store, so every method can train on them offline (docs/store.md, "Importing").

Each input row holds ``prompt`` (the exact prompt text) or ``prompt_id`` (a problem id of the task), and
``completion``; optionally ``reward``, per-token ``logprobs`` and ``truncated``. The importer

1. looks each prompt up among the task's problems of ``--split`` (an unknown one is an error naming file:line);
2. grades every completion with the task's grader: the grader's reward is what is stored, a given reward that
   disagrees is counted and reported (never silently kept);
3. tokenizes the completion with the proposal's tokenizer (no special tokens; EOS appended unless the row says
   ``truncated: true``), and teacher-forces the proposal's and pi_ref's sequence densities at temperature 1;
4. takes ``behavior_logprobs`` from the row's ``logprobs`` when their length matches the tokenization (and
   reports their largest gap to the teacher-forced proposal log-probs), else the teacher-forced ones.

Simplified: the densities assume the completions were sampled from ``--proposal`` at temperature 1 with
top_p 1. Nothing checks that; when it is not so, the IS weights and anchors computed from the store are
biased (the store is still valid to train on). Grading runs in this process, one completion at a time.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError

FIELDS = "'prompt' (or 'prompt_id') and 'completion' (optional 'reward', 'logprobs', 'truncated')"
LOGPROB_SLACK = 1e-5  # per-token log-probs up to this far above 0 (float rounding) are stored as 0


@dataclass
class ImportConfig:
    source: str  # JSONL / Parquet file, dataset dir, or HF dataset id "org/name[:split]"
    task: str = "countdown"
    proposal: str = "embedded:teacher"  # the model the completions were sampled from (at temperature 1)
    ref: str = "embedded:base"  # pi_ref
    split: str = "train"  # task split the prompts belong to (offline training needs train prompts)
    seed: int = 0  # recorded in the store's seed column; nothing here is random
    batch_size: int = 128  # sequences per teacher-forced scoring pass

    def check(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.split not in ("train", "test"):
            raise UserError(f"--split must be 'train' or 'test', got {self.split!r}")


# ---------------------------------------------------------------- reading the source


def read_records(source: str) -> list[tuple[str, dict]]:
    """(where, row) for each input row; ``where`` is ``FILE:LINE`` (JSONL) or ``SOURCE:row N`` (1-based)."""
    p = Path(source)
    if p.is_dir():
        return _dataset_records(source, local=True)
    if p.is_file():
        with open(p, "rb") as f:
            magic = f.read(4)
        rows = _parquet_records(p) if magic == b"PAR1" or p.suffix == ".parquet" else _jsonl_records(p)
    elif _HUB_ID.match(source) and not source.endswith((".jsonl", ".json", ".parquet")):
        rows = _dataset_records(source, local=False)
    else:
        raise UserError(f"input {source!r} does not exist (expected a .jsonl or .parquet file, a dataset dir, or an HF dataset id)")
    if not rows:
        raise UserError(f"{source}: no rows (expected rows with {FIELDS})")
    return rows


_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?(:[\w.-]+)?$")


def _jsonl_records(p: Path) -> list[tuple[str, dict]]:
    from ..io import read_jsonl_rows

    data = p.read_bytes()
    if b"\x00" in data[:65536]:
        raise UserError(f"{p}: binary file (expected JSON lines or Parquet)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{p}:{line}: not UTF-8 text (expected JSON lines or Parquet)") from None
    return [(f"{p}:{ln}", row) for ln, row in read_jsonl_rows(p, f"a JSON object with {FIELDS}")]


def _parquet_records(p: Path) -> list[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(p).to_pylist()
    except Exception as e:  # corrupt / not Parquet
        raise UserError(f"{p}: not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    return [(f"{p}:row {i + 1}", row) for i, row in enumerate(rows)]


def _dataset_records(source: str, local: bool) -> list[tuple[str, dict]]:
    """A ``datasets`` dataset: a ``save_to_disk`` dir, a dir of data files, or a hub id ``org/name[:split]``."""
    try:
        import datasets
    except ImportError:
        raise UserError(f"reading {source!r} needs the 'datasets' package (pip install datasets)") from None
    name, split = (source, None) if local else (source.partition(":")[0], source.partition(":")[2] or None)
    try:
        if local and any((Path(source) / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(source)
        else:
            ds = datasets.load_dataset(name, split=split) if split else datasets.load_dataset(name)
    except Exception as e:  # missing dataset, no network, unreadable files
        what = "dataset dir" if local else "no such file; as an HF dataset id"
        raise UserError(f"cannot load {source!r} ({what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if isinstance(ds, (datasets.DatasetDict, dict)):
        splits = list(ds)
        pick = split or ("train" if "train" in splits else splits[0] if len(splits) == 1 else None)
        if pick not in splits:
            raise UserError(f"dataset {source!r} has splits {', '.join(splits)}; name one as {name}:SPLIT")
        ds = ds[pick]
    return [(f"{source}:row {i + 1}", dict(row)) for i, row in enumerate(ds)]


# ---------------------------------------------------------------- one row


def parse_row(where: str, row: dict) -> dict:
    """The row's fields, type-checked; every problem is a UserError naming ``where`` and the field."""
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected an object with {FIELDS}")
    out = {"where": where}
    comp = row.get("completion")
    if comp is None:
        raise UserError(f"{where}: missing field 'completion' (expected {FIELDS})")
    if not isinstance(comp, str):
        raise UserError(f"{where}: field 'completion' must be a string, got {type(comp).__name__}")
    out["completion"] = comp
    for name in ("prompt", "prompt_id"):
        v = row.get(name)
        if v is not None and not isinstance(v, str):
            raise UserError(f"{where}: field {name!r} must be a string, got {type(v).__name__}")
        out[name] = v
    if out["prompt"] is None and out["prompt_id"] is None:
        raise UserError(f"{where}: missing field 'prompt' (or 'prompt_id')")
    r = row.get("reward")
    if r is not None:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r):
            raise UserError(f"{where}: field 'reward' must be a finite number, got {r!r}")
        r = float(r)
    out["reward"] = r
    lps = row.get("logprobs")
    if lps is not None:
        if not isinstance(lps, list):
            raise UserError(f"{where}: field 'logprobs' must be a list of per-token log-probs, got {type(lps).__name__}")
        for j, x in enumerate(lps):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x > LOGPROB_SLACK:
                raise UserError(f"{where}: field 'logprobs' entry {j} is {x!r} (expected a finite log-prob <= 0)")
        lps = [min(float(x), 0.0) for x in lps]
    out["logprobs"] = lps
    tr = row.get("truncated")
    if tr is not None and not isinstance(tr, bool):
        raise UserError(f"{where}: field 'truncated' must be true or false, got {tr!r}")
    out["truncated"] = bool(tr)
    return out


def match_problem(rec: dict, by_id: dict, by_text: dict, task: str, split: str):
    where = rec["where"]
    if rec["prompt_id"] is not None:
        p = by_id.get(rec["prompt_id"])
        if p is None:
            raise UserError(f"{where}: prompt_id {rec['prompt_id']!r} is not a {split} problem of task {task!r}")
        if rec["prompt"] is not None and rec["prompt"] != p.prompt:
            raise UserError(f"{where}: field 'prompt' differs from the prompt of {p.prompt_id!r} ({p.prompt!r})")
        return p
    p = by_text.get(rec["prompt"])
    if p is None:
        text = rec["prompt"] if len(rec["prompt"]) <= 60 else rec["prompt"][:57] + "..."
        raise UserError(f"{where}: field 'prompt' {text!r} is not the exact prompt of any {split} problem of task {task!r}")
    return p


# ---------------------------------------------------------------- the import


def import_rows(cfg: ImportConfig, bar=None) -> tuple[list[dict], dict]:
    """Return (store rows, info). Every input problem is raised before any model is loaded."""
    from ..models import load_model
    from ..rollout import sequence_logprobs
    from ..tasks import get_task
    from .schema import number_draws

    cfg.check()
    task = get_task(cfg.task)
    recs = [parse_row(w, r) for w, r in read_records(cfg.source)]
    problems = task.problems(cfg.split)
    by_id = {p.prompt_id: p for p in problems}
    by_text = {p.prompt: p for p in problems}
    matched = [match_problem(r, by_id, by_text, task.name, cfg.split) for r in recs]
    grades = [task.grade(p, r["completion"]) for p, r in zip(matched, recs)]
    disagree = [(r, g) for r, g in zip(recs, grades) if r["reward"] is not None and abs(r["reward"] - g.reward) > 1e-6]

    prop = load_model(cfg.proposal)
    ref = prop if cfg.ref == cfg.proposal else load_model(cfg.ref)
    tok = prop.tokenizer
    if ref.tokenizer.get_vocab() != tok.get_vocab():
        raise UserError(f"--proposal {cfg.proposal!r} and --ref {cfg.ref!r} must share a tokenizer")
    comp_ids = []
    for r in recs:
        ids = tok(r["completion"], add_special_tokens=False)["input_ids"] + ([] if r["truncated"] else [tok.eos_token_id])
        if not ids:
            raise UserError(f"{r['where']}: an empty completion marked truncated has no tokens to train on")
        comp_ids.append(ids)
    prompt_ids = {p.prompt_id: tok(p.prompt)["input_ids"] for p in matched}
    order = sorted(range(len(recs)), key=lambda i: matched[i].prompt_id)  # rows of one prompt share its forward pass
    pids = [prompt_ids[matched[i].prompt_id] for i in order]
    cids = [comp_ids[i] for i in order]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ctx = bar("store import: scoring", 1 if ref is prop else 2) if bar else _null()
    with ctx as adv:
        lp_q = _unsort(sequence_logprobs(prop.model, pids, cids, 1.0, pad, batch_size=cfg.batch_size), order)
        adv(1)
        lp_ref = lp_q if ref is prop else _unsort(sequence_logprobs(ref.model, pids, cids, 1.0, pad, batch_size=cfg.batch_size), order)
        adv(1)

    rows, given, mismatch, max_diff = [], 0, [], 0.0
    for i, (r, p, g) in enumerate(zip(recs, matched, grades)):
        behaviour = lp_q[i]
        if r["logprobs"] is not None:
            if len(r["logprobs"]) == len(comp_ids[i]):
                given += 1
                max_diff = max(max_diff, max(abs(a - b) for a, b in zip(r["logprobs"], lp_q[i])))
                behaviour = r["logprobs"]
            else:
                mismatch.append((r["where"], len(r["logprobs"]), len(comp_ids[i])))
        rows.append({
            "prompt_id": p.prompt_id, "task": task.name, "prompt": p.prompt, "completion": r["completion"],
            "completion_ids": comp_ids[i], "behavior_logprobs": behaviour, "proposal_logprob": float(sum(lp_q[i])),
            "ref_logprob": float(sum(lp_ref[i])), "num_tokens": len(comp_ids[i]), "reward": float(g.reward),
            "truncated": r["truncated"], "proposal_model": cfg.proposal, "temperature": 1.0, "seed": cfg.seed,
            "component": "proposal", "answer": g.answer, "strategy": g.strategy, "source": r["where"],
            "given_reward": r["reward"],
        })
    number_draws(rows)  # the ``sample`` column: a row's index among its prompt's rows, in file order
    info = _info(cfg, rows, recs, disagree, given, mismatch, max_diff)
    return rows, info


def _info(cfg, rows, recs, disagree, given, mismatch, max_diff) -> dict:
    n_given = sum(r["reward"] is not None for r in recs)
    info = {"trajectories": len(rows), "prompts": len({r["prompt_id"] for r in rows}),
            "success_rate": sum(r["reward"] for r in rows) / len(rows),
            "rewards_given": n_given, "reward_disagreements": len(disagree),
            "behavior_from_file": given, "logprobs_length_mismatch": len(mismatch),
            "max_abs_logprob_diff": max_diff if given else None, "config": asdict(cfg), "warnings": []}
    if disagree:
        r, g = disagree[0]
        info["first_disagreement"] = {"where": r["where"], "given": r["reward"], "grader": g.reward}
        info["warnings"].append(
            f"{len(disagree)} of {n_given} given rewards disagree with the {cfg.task} grader; the grader's reward is "
            f"stored (first: {r['where']}: given {r['reward']:g}, grader {g.reward:g})")
    if mismatch:
        w, a, b = mismatch[0]
        info["warnings"].append(
            f"{len(mismatch)} rows' 'logprobs' do not match the tokenization in length; their behaviour log-probs are "
            f"the teacher-forced proposal's (first: {w}: {a} log-probs for {b} tokens)")
    return info


def store_meta_for(info: dict) -> dict:
    """The store's ``disa_bench_meta``: the proposal config under ``propose`` (the keys propose writes that
    describe the densities, so readers such as ``anchor --regressor`` find the ref) and the import under ``import``."""
    c = info["config"]
    return {"propose": {"task": c["task"], "proposal": c["proposal"], "ref": c["ref"], "proposal_mix": 1.0,
                        "temperature": 1.0, "split": c["split"], "seed": c["seed"]},
            "import": {k: v for k, v in info.items() if k != "warnings"}}


def _unsort(values: list, order: list[int]) -> list:
    out = [None] * len(order)
    for v, i in zip(values, order):
        out[i] = v
    return out


class _null:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *a):
        return False


def import_stage(cfg: ImportConfig, out: Path) -> dict:
    """Read, grade and score everything, then write ``out/store.parquet`` + ``manifest.json`` (staged, then moved).
    A failure before the write leaves ``out`` untouched; a failure during it removes an ``out`` it created."""
    import shutil

    from ..io import staged_outputs
    from ..manifest import Manifest
    from ..progress import bar
    from ..tasks import get_task
    from .schema import write_store

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, expected a directory")
    m = Manifest("store import", asdict(cfg), cfg.seed)
    with m.phase("import"):
        rows, info = import_rows(cfg, bar=bar)
    existed = out.exists()
    try:
        with staged_outputs(out) as tmp:
            with m.phase("write"):
                write_store(tmp / "store.parquet", rows, reward_range=get_task(cfg.task).reward_range,
                            extra_meta=store_meta_for(info))
            m.write(tmp, summary={k: v for k, v in info.items() if k != "config"})
    except OSError as e:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise UserError(f"--out {str(out)!r}: cannot write ({e.strerror or e})") from None
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return info
