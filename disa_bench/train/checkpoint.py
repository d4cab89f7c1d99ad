"""Training checkpoints: what one holds, where it lives, and which one a run picks up again.

Where: ``OUT/checkpoints/step-N/`` (N = rollout batches done), beside the run's outputs and not in the staging
dir (``io.staged_outputs`` uses a fresh random name and removes it on failure), so a killed process leaves its
checkpoints where the next run into the same ``--out`` finds them. Each is written whole into a hidden temp dir
beside it and renamed into place (``io.atomic_dir``): a visible ``step-N`` is always complete. The newest
``keep_checkpoints`` are kept; an older one is first renamed hidden, then removed, so a kill while deleting
never leaves a half-deleted visible one. Hidden leftovers of a killed write are removed at the next start.

What (``step-N/``):
  weights.safetensors  the policy's trainable parameters by name (the LoRA matrices, or every weight with --full)
  <method state file>  the method's own state, if any (``Method.state_dict``; FlowRL: log_z_head.safetensors)
  trainer_state.pt     optimizer and LR-scheduler state, the step, the config key, the number of processes and,
                       per process: the RNG states (torch CPU and CUDA, numpy, Python ``random``, the trainer's own
                       ``rng``), the data order (prompt ids still to draw), counts, phase timings, metrics records
  metrics.jsonl        the main process's per-step records so far (for reading; the state file is restored)

The rollout sampler keeps no state between batches: each batch's ``torch.Generator`` is seeded from a draw of
the trainer's ``rng`` (``rollout/hf.py``), so restoring that ``rng`` restores the sampler. Nothing else in a run
draws random numbers, so a resumed run ends bitwise identical to an uninterrupted one on the same machine and
software (a vllm backend is not bitwise reproducible even uninterrupted).

Which: a checkpoint belongs to a run when its config key matches: the TrainConfig without the fields that do not
change the numbers (``steps``, ``save_every``, ``keep_checkpoints``, ``log_every``), with the store and anchor
files named by a SHA-256 of their content instead of their path. So a run may be resumed with more ``--steps``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from ..errors import UserError

DIRNAME = "checkpoints"
STATE = "trainer_state.pt"
WEIGHTS = "weights.safetensors"
KEY_IGNORES = ("steps", "save_every", "keep_checkpoints", "log_every")


def root(out) -> Path:
    return Path(out) / DIRNAME


def save_interval(cfg) -> int:
    """Steps between checkpoints: ``save_every``, or by default a tenth of the run (at least 1); 0 = only at the end."""
    if cfg.save_every is not None:
        return int(cfg.save_every)
    return max(1, -(-cfg.steps // 10))


def due(cfg, step: int) -> bool:
    """Is a checkpoint written after ``step`` (1-based)? Always after the last step."""
    every = save_interval(cfg)
    return step == cfg.steps or (every > 0 and step % every == 0)


def _file_sha256(path) -> str | None:
    if path is None:
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def config_key(cfg) -> dict:
    """What must match for a checkpoint to continue this run (JSON-normalized)."""
    d = {k: v for k, v in asdict(cfg).items() if k not in KEY_IGNORES}
    d["store"] = _file_sha256(cfg.store)
    d["anchor"] = _file_sha256(cfg.anchor) if cfg.anchor else None
    return json.loads(json.dumps(d, sort_keys=True, default=str))


def listing(r: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under root ``r``, oldest first."""
    out = []
    if r.is_dir():
        for d in r.iterdir():
            if d.name.startswith("step-") and d.name[5:].isdigit() and (d / STATE).is_file():
                out.append((int(d.name[5:]), d))
    return sorted(out)


def read_state(d: Path) -> dict:
    import torch

    try:
        return torch.load(d / STATE, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (a damaged file: say which)
        raise UserError(f"{d / STATE}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def _diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def find(r: Path, cfg, resume: bool | None, say=None) -> Path | None:
    """The checkpoint this run continues from, or None to start afresh.

    ``resume``: True = must continue (no checkpoint, or one of another config, is an error); None = continue
    when the newest checkpoint belongs to this config, else start afresh (saying why); False = start afresh.
    Read-only: the old checkpoints of a fresh start are removed by the trainer once every process has decided.
    """
    say = say or (lambda s: None)
    if resume is False:
        return None
    found = listing(r)
    if not found:
        if resume:
            raise UserError(f"--resume: no checkpoint in {r} to continue from")
        return None
    step, d = found[-1]
    state = read_state(d)
    why = None
    diff = _diff(state.get("config_key", {}), config_key(cfg))
    if diff:
        why = f"it was written with another config ({', '.join(diff)} differ)"
    elif step > cfg.steps:
        why = f"it is past --steps {cfg.steps}"
    if why:
        if resume:
            raise UserError(f"--resume: cannot continue from {d}: {why}")
        say(f"not resuming from {d}: {why}; training from step 0 (its checkpoints will be replaced)")
        return None
    say(f"resuming from {d} (step {step} of {cfg.steps})")
    return d


def write(r: Path, step: int, fill, keep: int) -> Path:
    """Write ``r/step-N`` atomically (``fill(tmp_dir)`` writes the files), then keep only the newest ``keep``."""
    from ..io import atomic_dir

    d = r / f"step-{step}"
    with atomic_dir(d) as tmp:
        fill(tmp)
    for _, old in listing(r)[:-keep] if keep > 0 else []:
        _remove(old)
    return d


def _remove(d: Path) -> None:
    hidden = d.with_name(f".del-{d.name}-{os.getpid()}")
    try:
        os.replace(d, hidden)
    except OSError:
        return
    shutil.rmtree(hidden, ignore_errors=True)


def clean_leftovers(r: Path) -> None:
    """Remove hidden dirs a killed write or prune left behind."""
    if r.is_dir():
        for d in r.iterdir():
            if d.name.startswith("."):
                shutil.rmtree(d, ignore_errors=True)


def clear(r: Path) -> None:
    """Remove every checkpoint (a fresh start into an ``--out`` that held another run's)."""
    for _, d in listing(r):
        _remove(d)
    clean_leftovers(r)


# --------------------------------------------------------------------------- RNG state of one process
def rng_state(trainer_rng) -> dict:
    import random

    import numpy as np
    import torch

    st = np.random.get_state(legacy=False)
    out = {"torch": torch.get_rng_state(), "python": random.getstate(), "trainer": trainer_rng.getstate(),
           "numpy": {"bit_generator": st["bit_generator"], "key": [int(x) for x in st["state"]["key"]],
                     "pos": int(st["state"]["pos"]), "has_gauss": int(st["has_gauss"]), "gauss": float(st["gauss"])}}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(s: dict, trainer_rng) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])
    random.setstate(_tuples(s["python"]))
    trainer_rng.setstate(_tuples(s["trainer"]))
    n = s["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"], "state": {"key": np.array(n["key"], dtype=np.uint32),
                                                                         "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})


def _tuples(x):
    """random.setstate wants the tuples getstate gave (a round trip through the state file may give lists)."""
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
