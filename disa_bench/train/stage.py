"""The train stage: one method on the shared engine; writes ``adapter/``, ``metrics.jsonl``, ``summary.json`` and a
manifest (staged, then moved), and checkpoints into ``OUT/checkpoints/`` as it goes (``checkpoint.py``). The
CLI's ``train`` and ``disa-bench run`` call it.

``resume``: True = continue from the newest checkpoint in ``OUT/checkpoints`` (an error if there is none of
this config), None = continue when there is one of this config (else start afresh), False = start afresh.
The manifest records the checkpoints a run continued from (``resumed_from``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io import staged_outputs, write_json
from ..manifest import Manifest
from ..progress import bar


def train_stage(cfg, out: Path, resume: bool | None = None, report_to: str = "none", tracker_root=None,
                name: str | None = None, group: str | None = None, say=None) -> dict:
    """Train into ``out``. ``report_to`` streams to a tracker run ``name`` (default: the method) under
    ``tracker_root`` (default ``OUT/<tracker>``), in ``group`` (W&B, trackio); ``say`` prints one-line notices
    (resuming from ...)."""
    from . import checkpoint
    from .engine import Trainer
    from .trackers import check, open_tracker, tracker_dir

    out = Path(out)
    cfg.check()
    check(report_to)
    ckroot = checkpoint.root(out)
    start = checkpoint.find(ckroot, cfg, resume, say)
    m = Manifest("train", asdict(cfg), cfg.seed)
    if start is not None:
        m.data["resumed_from"] = [str(start)]
    start_step = int(start.name.split("-")[1]) if start is not None else 0
    tracker = open_tracker(report_to, tracker_root or tracker_dir(out, report_to), name or cfg.method, asdict(cfg),
                           start_step, group)
    try:
        with staged_outputs(out) as tmp:
            with m.phase("train"):
                summary = Trainer(cfg, tmp, bar=bar, ckpt_root=ckroot, resume_from=start, tracker=tracker).train()
            tracker.log({"summary": {k: v for k, v in summary.items() if k not in ("fairness", "method_config")}},
                        summary["steps"])
            write_json(tmp / "summary.json", summary)
            m.write(tmp, summary=summary, fairness=summary["fairness"], compute=summary["compute"])
    finally:
        tracker.close()
    return summary
