"""The anchor stage: estimate and freeze log Z per prompt from a store; writes ``anchor.parquet``, ``summary.json``,
the diagnostics PNGs and a manifest (staged, then moved). The CLI's ``anchor`` and ``disa-bench run`` call it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io import staged_outputs, write_json
from ..manifest import Manifest
from ..progress import bar

def anchor_stage(cfg, store: Path, out: Path, opts=None) -> dict:
    """Write anchor.parquet (+ summary.json, PNG diagnostics). ``opts`` (anchor_options.AnchorOptions) adds
    ``--check-exact`` (check_exact.parquet, exact_scatter.png) and the regressor / shrinkage modes."""
    from .estimators import anchor_summary, build_anchor, write_anchor
    from .options import AnchorOptions
    from ..store.schema import read_store

    opts = opts or AnchorOptions()
    opts.check()
    m = Manifest("anchor", asdict(cfg) | {"store": str(store)} | asdict(opts), cfg.seed)
    with staged_outputs(out, replace=True) as tmp:  # a re-used dir holds only this run's files
        with m.phase("read"):
            table = read_store(store)
        with m.phase("estimate"):
            n = len(set(table.column("prompt_id").to_pylist()))
            with bar("anchor: log Z per prompt", n) as adv:
                rows = build_anchor(table, cfg, progress=adv)
        summary = anchor_summary(rows)
        summary["source"] = opts.mode
        if opts.check_exact:
            from .exact import check_exact, write_check

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
            from .plots import exact_scatter, histograms

            with m.phase("plots"):
                summary["plots"] = histograms(rows, tmp)
                if opts.check_exact:
                    summary["plots"] += exact_scatter(summary["check_exact_rows"], summary["check_exact"], tmp)
        written = {k: v for k, v in summary.items() if k != "check_exact_rows"}
        write_json(tmp / "summary.json", written)
        m.write(tmp, summary=written)
    return summary


def _store_ref(table) -> str:
    from ..store.schema import store_meta

    ref = store_meta(table).get("propose", {}).get("ref")
    if not ref:
        from ..errors import UserError

        raise UserError("the regressor needs the reference model: pass --ref MODEL")
    return ref


def _anchor_prompts(table, opts) -> dict[str, str]:
    """prompt_id -> prompt text for every prompt the regressor should cover: the store's prompts, plus, with
    --n-prompts, that many prompts of the task's split (as propose would draw them, same seed)."""
    pids = table.column("prompt_id").to_pylist()
    texts = table.column("prompt").to_pylist()
    prompts = dict(zip(pids, texts))
    if opts.n_prompts:
        from ..tasks import get_task

        task = get_task(opts.task or table.column("task")[0].as_py())
        for p in task.problems(opts.split, opts.n_prompts, seed=opts.prompt_seed):
            prompts.setdefault(p.prompt_id, p.prompt)
    return prompts
