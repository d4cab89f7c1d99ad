"""Experiment trackers: stream per-step training metrics (and a run's eval results) to TensorBoard, W&B or trackio.

``--report-to none|tensorboard|wandb|trackio`` on ``train`` and ``run``; method-agnostic: a tracker logs whatever
numbers the engine's per-step record holds. Each package is an optional extra, imported only when named; a
missing one is one ``error:`` line naming the extra to install (``pip install 'disa-bench[tensorboard]'``).

Logged each step (``step`` = rollout batches done, 1-based), under these tags:
  train/<key>    every number of the metrics.jsonl record: loss, reward, response_length, kl_ref and the method's
                 diagnostics (clip fractions, KL, importance weights, log Z, ...), mean over mini-batches
  train/lr       the learning rate after the step
  time/<phase>   cumulative seconds per phase (generate, data, score, update; weight_sync with vllm)
  tokens/<count> cumulative counts of this process (tokens_generated, tokens_forward, ..., sequences)
At the end ``summary/...`` (the summary's numbers); ``disa-bench run`` adds ``eval/<metric>`` per model.

Where: ``tensorboard`` writes ``DIR/<name>/`` event files (``tensorboard --logdir DIR``); ``wandb`` writes under
``DIR`` in the mode WANDB_MODE gives, default ``offline`` (no network; ``wandb sync DIR/wandb/offline-run-*``
uploads later), project WANDB_PROJECT (default ``disa-bench``); ``trackio`` logs to its local store, project
TRACKIO_PROJECT (default ``disa-bench``). ``DIR`` is ``OUT/tensorboard`` etc. for ``train``, and one per run for
``run`` (a name per method, grouped by the run).

Resume: TensorBoard purges the events of steps after the checkpoint (``purge_step``), so replayed steps are not
doubled; W&B continues the same run id (kept in ``DIR/<name>.wandb-id``), dropping values of steps it already has.
Only the main process logs under DDP.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import UserError

NAMES = ("none", "tensorboard", "wandb", "trackio")
EXTRA = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}  # tracker -> pyproject extra


def check(kind: str) -> None:
    """A valid name whose package imports; else one error line (before any work is done)."""
    if kind not in NAMES:
        raise UserError(f"unknown --report-to {kind!r}; valid: {', '.join(NAMES)}")
    if kind == "none":
        return
    import importlib

    try:
        importlib.import_module({"tensorboard": "torch.utils.tensorboard"}.get(kind, kind))
    except ImportError:
        raise UserError(f"--report-to {kind} needs the {kind} package: pip install 'disa-bench[{EXTRA[kind]}]'") from None


def scalars(values: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (nested) dict, keys joined with '/'; lists, strings, None and NaN are left out."""
    out = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(scalars(v, key + "/"))
        elif isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, (int, float)) and math.isfinite(v):
            out[key] = float(v)
    return out


def eval_scalars(results: dict) -> dict[str, float]:
    """The headline numbers of an eval ``results.json`` (Mean@k, pass@k, maj@k, counts; a CI as ``<key>_low`` /
    ``<key>_high``); per-prompt values and configs are left out."""
    out = {}
    for k, v in results.items():
        if isinstance(v, (list, tuple)) and len(v) == 2 and k.endswith("_ci") and all(isinstance(x, (int, float)) for x in v):
            out[f"{k}_low"], out[f"{k}_high"] = float(v[0]), float(v[1])
        elif not isinstance(v, (dict, list, tuple)):
            out[k] = v
    return scalars(out)


class Tracker:
    """No tracker (``none``); the base of the others."""

    def log(self, values: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoard(Tracker):
    def __init__(self, d: Path, name: str, config: dict, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.w = SummaryWriter(log_dir=str(Path(d) / name), purge_step=start_step + 1)
        if start_step == 0:
            import json

            self.w.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def log(self, values: dict, step: int) -> None:
        for k, v in scalars(values).items():
            self.w.add_scalar(k, v, step)
        self.w.flush()

    def close(self) -> None:
        self.w.close()


class WandB(Tracker):
    def __init__(self, d: Path, name: str, config: dict, start_step: int, group: str | None):
        import uuid

        import wandb

        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        id_file = d / f"{name}.wandb-id"
        run_id = id_file.read_text().strip() if (start_step > 0 and id_file.exists()) else uuid.uuid4().hex[:8]
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "disa-bench"), name=name, group=group,
                              dir=str(d), config=config, id=run_id, resume="allow",
                              mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, values: dict, step: int) -> None:
        self.run.log(scalars(values), step=step)

    def close(self) -> None:
        self.run.finish()


class Trackio(Tracker):
    def __init__(self, name: str, config: dict, group: str | None):
        import trackio

        self.t = trackio
        trackio.init(project=os.environ.get("TRACKIO_PROJECT", "disa-bench"), name=name, group=group, config=config,
                     resume="allow")

    def log(self, values: dict, step: int) -> None:
        self.t.log(scalars(values), step=step)

    def close(self) -> None:
        self.t.finish()


def open_tracker(kind: str, d, name: str, config: dict | None = None, start_step: int = 0,
                 group: str | None = None) -> Tracker:
    """A tracker of ``kind`` for one training run called ``name``, logging under ``d`` from ``start_step`` + 1."""
    check(kind)
    config = config or {}
    if kind == "tensorboard":
        return TensorBoard(Path(d), name, config, start_step)
    if kind == "wandb":
        return WandB(Path(d), name, config, start_step, group)
    if kind == "trackio":
        return Trackio(name, config, group)
    return Tracker()


def tracker_dir(out, kind: str) -> Path:
    """Where ``kind`` writes for an output dir (``OUT/tensorboard``, ``OUT/wandb``, ``OUT/trackio``)."""
    return Path(out) / kind
