"""The train stage: one method on the shared engine; writes ``adapter/``, ``metrics.jsonl``, ``summary.json`` and a
manifest (staged, then moved). The CLI's ``train`` and ``disa-bench run`` call it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io import staged_outputs, write_json
from ..manifest import Manifest
from ..progress import bar

def train_stage(cfg, out: Path) -> dict:
    from .engine import Trainer

    m = Manifest("train", asdict(cfg), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("train"):
            summary = Trainer(cfg, tmp, bar=bar).train()
        write_json(tmp / "summary.json", summary)
        m.write(tmp, summary=summary, fairness=summary["fairness"], compute=summary["compute"])
    return summary
