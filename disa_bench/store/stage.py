"""The propose stage: sample K trajectories per prompt into ``store.parquet`` (staged, then moved) with a manifest.

The CLI's ``propose`` and ``disa-bench run`` call this same function, so both write the same files.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io import staged_outputs, write_json
from ..manifest import Manifest
from ..progress import bar

def propose_stage(cfg, out: Path) -> dict:
    """One store at ``out/store.parquet``; with a temperature ladder (``cfg.temperature`` a list of several
    rungs) one complete store per rung at ``out/t{T}/store.parquet`` plus ``out/ladder.json``."""
    from ..io import check_out_dir
    from .propose import temperature_ladder

    rungs = temperature_ladder(cfg.temperature)
    check_out_dir(out)  # a file, a path under a file, an unwritable place: one error line before any sampling
    if len(rungs) == 1:
        from dataclasses import replace

        return _propose_one(replace(cfg, temperature=rungs[0]), out)
    from dataclasses import replace

    infos = []
    out.mkdir(parents=True, exist_ok=True)
    for t in rungs:
        sub = out / f"t{t:g}"
        info = _propose_one(replace(cfg, temperature=t), sub)
        infos.append({"temperature": t, "store": str(sub / "store.parquet"), "success_rate": info["success_rate"],
                      "trajectories": info["trajectories"], "prompts": info["prompts"]})
    ladder = {"temperatures": rungs, "rungs": infos}
    write_json(out / "ladder.json", ladder)
    return {"trajectories": sum(i["trajectories"] for i in infos), "prompts": infos[0]["prompts"],
            "success_rate": float(sum(i["success_rate"] for i in infos) / len(infos)), "ladder": infos,
            "config": asdict(cfg)}


def short_of_prompts(cfg, info: dict) -> None:
    """A split with fewer prompts than ``--n-prompts``: one warning line on stderr naming requested vs available
    (also kept in the manifest's summary); the store covers every prompt there is."""
    import sys

    if info["prompts"] < cfg.n_prompts:
        w = (f"--n-prompts {cfg.n_prompts} requested but the {cfg.task} {cfg.split} split yields only {info['prompts']} "
             f"prompts (the task's draw ran out of problems); the store covers those {info['prompts']} "
             f"({info['trajectories']} trajectories)")
        info.setdefault("warnings", []).append(w)
        print(f"warning: {w}", file=sys.stderr)


def _propose_one(cfg, out: Path) -> dict:
    from .propose import propose
    from .schema import number_draws, write_store
    from ..tasks import get_task

    m = Manifest("propose", asdict(cfg), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("propose"):
            rows, info = propose(cfg, bar=bar)
            number_draws(rows)  # rows come prompt by prompt, each prompt's k draws in draw order
        short_of_prompts(cfg, info)
        with m.phase("write"):
            write_store(tmp / "store.parquet", rows, reward_range=get_task(cfg.task).reward_range,
                        extra_meta={"propose": info["config"]})
        m.write(tmp, summary=info)
    return info
