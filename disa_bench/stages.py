"""One function per pipeline stage. Each reads files, writes files (staged, then moved) and a manifest.

The CLI commands and ``disa-bench run`` call exactly these, so a stage run alone and a stage run inside the
pipeline produce the same files.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .io import staged_outputs, write_json, write_jsonl
from .manifest import Manifest
from .progress import bar


def propose_stage(cfg, out: Path) -> dict:
    from .propose import propose
    from .store import write_store
    from .tasks import get_task

    m = Manifest("propose", asdict(cfg), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("propose"):
            rows, info = propose(cfg, bar=bar)
        with m.phase("write"):
            write_store(tmp / "store.parquet", rows, reward_range=get_task(cfg.task).reward_range,
                        extra_meta={"propose": info["config"]})
        m.write(tmp, summary=info)
    return info


def anchor_stage(cfg, store: Path, out: Path) -> dict:
    from .anchor import build_anchor, write_anchor
    from .report import anchor_summary
    from .store import read_store

    m = Manifest("anchor", asdict(cfg) | {"store": str(store)}, cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("read"):
            table = read_store(store)
        with m.phase("estimate"):
            n = len(set(table.column("prompt_id").to_pylist()))
            with bar("anchor: log Z per prompt", n) as adv:
                rows = build_anchor(table, cfg, progress=adv)
        summary = anchor_summary(rows)
        write_anchor(tmp / "anchor.parquet", rows)
        write_json(tmp / "summary.json", summary)
        m.write(tmp, summary=summary)
    return summary


def train_stage(cfg, out: Path) -> dict:
    from .train import Trainer

    m = Manifest("train", asdict(cfg), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("train"):
            summary = Trainer(cfg, tmp, bar=bar).train()
        write_json(tmp / "summary.json", summary)
        m.write(tmp, summary=summary, fairness=summary["fairness"], compute=summary["compute"])
    return summary


def eval_stage(cfg, out: Path) -> dict:
    from .evaluate import run_eval

    m = Manifest("eval", asdict(cfg), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("eval"):
            results, samples = run_eval(cfg, bar=bar)
        write_json(tmp / "results.json", results)
        write_jsonl(tmp / "samples.jsonl", samples)
        m.write(tmp, summary={k: v for k, v in results.items() if k not in ("per_prompt",)})
    return results
