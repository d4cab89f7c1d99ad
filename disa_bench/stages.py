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
    """One store at ``out/store.parquet``; with a temperature ladder (``cfg.temperature`` a list of several
    rungs) one complete store per rung at ``out/t{T}/store.parquet`` plus ``out/ladder.json``."""
    from .propose import temperature_ladder

    rungs = temperature_ladder(cfg.temperature)
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


def _propose_one(cfg, out: Path) -> dict:
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


def anchor_stage(cfg, store: Path, out: Path, opts=None) -> dict:
    """Write anchor.parquet (+ summary.json, PNG diagnostics). ``opts`` (anchor_options.AnchorOptions) adds
    ``--check-exact`` (check_exact.parquet, exact_scatter.png) and the regressor / shrinkage modes."""
    from .anchor import anchor_summary, build_anchor, write_anchor
    from .anchor_options import AnchorOptions
    from .store import read_store

    opts = opts or AnchorOptions()
    opts.check()
    m = Manifest("anchor", asdict(cfg) | {"store": str(store)} | asdict(opts), cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("read"):
            table = read_store(store)
        with m.phase("estimate"):
            n = len(set(table.column("prompt_id").to_pylist()))
            with bar("anchor: log Z per prompt", n) as adv:
                rows = build_anchor(table, cfg, progress=adv)
        summary = anchor_summary(rows)
        summary["source"] = opts.mode
        if opts.check_exact:
            from .anchor_exact import check_exact, write_check

            with m.phase("check_exact"):
                check_rows, check = check_exact(table, cfg, opts.ref, opts.k_list, opts.task)
            write_check(tmp / "check_exact.parquet", check_rows)
            write_json(tmp / "check_exact.json", check)
            summary["check_exact"] = check
            summary["check_exact_rows"] = check_rows
        if opts.mode != "table":
            from .regressor import RegressorConfig, apply_regressor

            with m.phase("regressor"):
                prompts = _anchor_prompts(table, opts)
                rows, reg = apply_regressor(rows, prompts, opts.ref or _store_ref(table), opts.mode, opts.kappa,
                                            RegressorConfig(seed=cfg.seed))
            write_json(tmp / "regressor.json", reg)
            summary["regressor"] = reg
        write_anchor(tmp / "anchor.parquet", rows)
        if opts.plots:
            from .anchor_plots import exact_scatter, histograms

            with m.phase("plots"):
                summary["plots"] = histograms(rows, tmp)
                if opts.check_exact:
                    summary["plots"] += exact_scatter(summary["check_exact_rows"], summary["check_exact"], tmp)
        written = {k: v for k, v in summary.items() if k != "check_exact_rows"}
        write_json(tmp / "summary.json", written)
        m.write(tmp, summary=written)
    return summary


def _store_ref(table) -> str:
    from .store import store_meta

    ref = store_meta(table).get("propose", {}).get("ref")
    if not ref:
        from .errors import UserError

        raise UserError("the regressor needs the reference model: pass --ref MODEL")
    return ref


def _anchor_prompts(table, opts) -> dict[str, str]:
    """prompt_id -> prompt text for every prompt the regressor should cover: the store's prompts, plus, with
    --n-prompts, that many prompts of the task's split (as propose would draw them, same seed)."""
    pids = table.column("prompt_id").to_pylist()
    texts = table.column("prompt").to_pylist()
    prompts = dict(zip(pids, texts))
    if opts.n_prompts:
        from .tasks import get_task

        task = get_task(opts.task or table.column("task")[0].as_py())
        for p in task.problems(opts.split, opts.n_prompts, seed=opts.prompt_seed):
            prompts.setdefault(p.prompt_id, p.prompt)
    return prompts


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
