"""Fair tuning: the same small learning-rate grid, budget and rule for every row of a run.

``disa-bench tune`` (or ``run --tune``) trains every row once per learning rate of the grid (``TuneConfig.lrs``:
three values spanning 10x by default) for a short budget (``steps``) on one seed, scores each adapter by Mean@k on
the task's held-out ``val`` split (Countdown: disjoint from sft, train and test), and picks per row the lr with the
highest val Mean@k (ties: the smaller lr). Everything else is the run's: store, anchors, prompts per step,
rollouts, mini-batches, LoRA, sampling. The result, ``OUT/tune/tune.json``, lists the grid, every cell's val score
and the choice; the report's fairness block prints it.

Where the lrs come from in ``disa-bench run`` (``RunConfig.tune``):
``committed`` (default) -- the profile's committed tuning (``experiments/tuned/<profile>.json``, made with
``disa-bench tune --profile <profile>`` and repeated in ``baselines/embedded/*.yaml``), when the profile has one;
``run`` (``--tune``) -- tune now, in the run; ``none`` -- the profile's one shared lr for every row; or a path to a
``tune.json``. An lr given explicitly (``train: {lr: ...}`` in the run config, or a variant's own ``lr``) wins over
any tuning. A row the tuning does not cover keeps the shared lr (the report says which).

Simplifications, stated: one seed per cell and a short budget (the real runs are longer), so the choice is noisy
where cells are within their CIs; only the lr is tuned. GSPO's clip range is not tuned: the report shows every
method's clipped fraction per mini-batch and flags any whose updates are more than half clipped after the first.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError

TUNED = Path(__file__).resolve().parent / "tuned"  # committed tunings, one JSON per profile
MODES = ("committed", "run", "none")


@dataclass
class TuneConfig:
    lrs: list = field(default_factory=lambda: [8e-5, 2.5e-4, 8e-4])  # 10x span around the old shared 2.5e-4
    steps: int = 50  # training steps per cell (the run's prompts per step, rollouts and mini-batches)
    seed: int = 0
    n_prompts: int = 256  # val prompts per cell (the run's k samples each)
    split: str = "val"

    def check(self) -> None:
        lrs = self.lrs
        if isinstance(lrs, str):
            try:
                lrs = [float(x) for x in lrs.split(",") if x.strip()]
            except ValueError:
                raise UserError(f"tune.lrs must be a comma list of numbers, got {self.lrs!r}") from None
        if not isinstance(lrs, (list, tuple)) or len(lrs) < 2:
            raise UserError(f"tune.lrs must list at least 2 learning rates, got {self.lrs!r}")
        for x in lrs:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
                raise UserError(f"tune.lrs: every learning rate must be a finite number > 0, got {x!r}")
        if len(set(lrs)) != len(lrs):
            raise UserError(f"tune.lrs lists a value twice: {lrs!r}")
        self.lrs = sorted(float(x) for x in lrs)
        for name in ("steps", "n_prompts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"tune.{name} must be an integer >= 1, got {v!r}")
        if self.split in ("test", "train", "sft"):
            raise UserError(f"tune.split {self.split!r} would tune on data the runs train or are tested on; use val")


def cell_key(row: str, lr: float) -> str:
    return f"{row}/lr{lr:g}"


def tune_config(run) -> TuneConfig:
    from ..config import resolve
    from .profiles import PROFILES

    tc = resolve(TuneConfig, PROFILES[run.profile].get("tune"), run.tune_grid, where="run.tune_grid")
    tc.check()
    return tc


def load_tuning(run) -> dict | None:
    """The tuning a run uses without tuning itself (``RunConfig.tune``): the committed one, a file, or None."""
    mode = run.tune
    if mode in ("none", "run"):
        return None
    path = TUNED / f"{run.profile}.json" if mode == "committed" else Path(mode)
    if mode == "committed" and not path.exists():
        return None  # a profile without a committed tuning: the shared lr
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"run.tune: cannot read the tuning {str(path)!r} ({e.__class__.__name__}: {e}); expected the "
                        f"tune.json that disa-bench tune writes") from None
    chosen = data.get("chosen") if isinstance(data, dict) else None
    if not isinstance(chosen, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and math.isfinite(v) and v > 0 for v in chosen.values()):
        raise UserError(f"run.tune: {str(path)!r} has no valid 'chosen' map of row -> learning rate > 0")
    return data | {"source": "committed: " + f"disa_bench/experiments/tuned/{path.name}" if mode == "committed"
                   else str(path)}


def check_mode(run) -> None:
    if run.tune not in MODES and not Path(str(run.tune)).suffix == ".json":
        raise UserError(f"run.tune must be one of {', '.join(MODES)} or a path to a tune.json, got {run.tune!r}")


def choose(cells: dict) -> dict:
    """Per row, the lr with the highest val Mean@k; ties go to the smaller lr."""
    out = {}
    for row, by_lr in cells.items():
        best = max(sorted(by_lr, key=float), key=lambda lr: (by_lr[lr]["mean"], -float(lr)))
        out[row] = float(best)
    return out


def tune_record(tc: TuneConfig, base_cfg, k: int, cells: dict, rows: list[str], base_val: dict | None) -> dict:
    return {"protocol": asdict(tc) | {"rule": "highest val Mean@k per row; ties: the smaller lr", "k": k,
                                      "prompts_per_step": base_cfg.prompts_per_step, "n": base_cfg.n,
                                      "mini_batches": base_cfg.mini_batches, "shared_lr": base_cfg.lr},
            "rows": rows, "cells": cells, "chosen": choose(cells), "base_val": base_val}


def write_tuning(record: dict, out: Path) -> Path:
    from ..io import write_json

    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "tune.json", record)
    return Path(out) / "tune.json"
