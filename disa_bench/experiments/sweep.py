"""``disa-bench sweep``: the bias–variance grid over proposal strength α and inverse temperature β (methods.md §1.9(d)).

For each α one proposal store (q_α = α q_s + (1-α) π_ref, ``propose_stage``); for each β an anchor of that
store (``anchor_stage``). Per cell:

- anchor error against a reference log Z: on an enumerable task (enum-*) the exact log Z_β from π_ref's own
  probabilities (disa_bench/anchor/exact.py); otherwise the closed form log(1 + (e^β - 1) p̂) with p̂ the
  pass rate of a large-K store drawn from q = π_ref (``--ref-k``; EXACT units only), whose own sampling
  error is carried into the CI (each bootstrap replicate redraws p from its Jeffreys posterior). Reported as
  mean |error| with a 95% bootstrap CI over prompts, mean signed error (bias) and the share of prompts whose
  anchor CI covers the reference; ``per_prompt`` keeps each prompt's log Z-hat, reference and ESS/K, which
  the report's bias–variance tests resample (report/sweep_claims.py);
- mean ESS/K and coverage (share of prompts with at least one correct proposal);
- with ``--train-steps N``: a short DISA training from π_ref with that anchor, then Mean@8 (95% CI) and the
  diversity of the eval samples (correct-strategy entropy, else solution coverage, else distinct-n mean).

Writes ``OUT/sweep.json``, ``OUT/sweep.md``, ``OUT/sweep.png`` (+ ``manifest.json``); stage outputs live in
``OUT/propose/a{α}/``, ``OUT/anchor/a{α}_b{β}/``, ``OUT/train/…``, ``OUT/eval/…`` and ``OUT/reference/``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError


def parse_floats(s, name: str) -> list[float]:
    if isinstance(s, (list, tuple)):
        vals = [float(v) for v in s]
    else:
        try:
            vals = [float(v) for v in str(s).split(",") if v.strip()]
        except ValueError:
            raise UserError(f"{name} must be a comma-separated list of numbers, got {s!r}") from None
    if not vals:
        raise UserError(f"{name} is empty")
    if len(set(vals)) != len(vals):
        raise UserError(f"{name} has duplicate values: {s!r}")
    return vals


@dataclass
class SweepConfig:
    task: str = "countdown"
    proposal: str = "embedded:teacher"  # q_s
    ref: str = "embedded:base"  # pi_ref
    betas: list = field(default_factory=lambda: [1.0, 2.0, 5.0, 10.0])
    alphas: list = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    k: int = 16  # proposals per prompt
    n_prompts: int = 16
    ref_k: int = 128  # large-K q = pi_ref reference store (non-enumerable tasks)
    estimator: str = "snis"
    units: str = "exact"
    bootstrap: int = 200
    temperature: float = 1.0
    max_new_tokens: int | None = None
    train_steps: int = 0  # 0: anchors only
    prompts_per_step: int = 8
    n: int = 8
    lr: float = 5e-4
    eval_prompts: int = 32
    eval_k: int = 8
    seed: int = 0

    def check(self) -> None:
        from ..anchor.estimators import AnchorConfig

        self.betas = parse_floats(self.betas, "--beta")
        self.alphas = parse_floats(self.alphas, "--proposal-mix")
        for b in self.betas:
            AnchorConfig(beta=b, estimator=self.estimator, units=self.units, bootstrap=self.bootstrap).check()
        for a in self.alphas:
            if not 0.0 <= a <= 1.0:
                raise UserError(f"--proposal-mix values must be within [0, 1], got {a}")
        for name in ("k", "n_prompts", "ref_k", "prompts_per_step", "n", "eval_prompts", "eval_k"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.train_steps < 0:
            raise UserError(f"--train-steps must be >= 0, got {self.train_steps}")
        if not self.temperature > 0:
            raise UserError(f"--temperature must be > 0, got {self.temperature}")


def _tag(x: float) -> str:
    return f"{x:g}"


def _enumerable(task_name: str) -> bool:
    from ..tasks import get_task
    from ..tasks.enum_world import is_enumerable

    return is_enumerable(get_task(task_name))


def _read_anchor_rows(path: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    return {r["prompt_id"]: r for r in pq.read_table(path).to_pylist()}


def _reference_log_z(cfg: SweepConfig, out: Path, say) -> dict:
    """{"kind", "p_hat": {pid: p}} for the closed-form reference (non-enumerable tasks)."""
    from ..store.propose import ProposeConfig
    from ..store.stage import propose_stage
    from ..store.schema import group_by_prompt, read_store

    say(f"reference: {cfg.n_prompts} prompts x {cfg.ref_k} from pi_ref (q = pi_ref)")
    pc = ProposeConfig(task=cfg.task, proposal=cfg.proposal, ref=cfg.ref, proposal_mix=0.0, k=cfg.ref_k,
                       n_prompts=cfg.n_prompts, temperature=1.0, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    propose_stage(pc, out / "reference")
    groups = group_by_prompt(read_store(out / "reference" / "store.parquet"))
    correct = {pid: int(np.sum(np.asarray(g["reward"]) > 0)) for pid, g in groups.items()}
    return {"kind": "closed_form_q_ref", "k": cfg.ref_k, "correct": correct,
            "p_hat": {pid: c / cfg.ref_k for pid, c in correct.items()}}


def _errors_stats(log_z: np.ndarray, ref: np.ndarray, covered: list[bool], seed: int, beta: float,
                  reference: dict, pids: list[str], n_boot: int = 1000) -> dict:
    """Anchor error against the reference: mean |error| with a 95% CI over prompts. A sampled (closed-form)
    reference carries its own error: each bootstrap replicate also redraws every prompt's reference pass
    rate (anchor.estimators.pass_rate_draws)."""
    from ..anchor.estimators import pass_rate_draws

    e = log_z - ref
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, e.size, size=(n_boot, e.size))
    if reference["kind"] == "closed_form_q_ref":
        c = np.array([reference["correct"][p] for p in pids])
        refs = np.log1p(np.expm1(beta) * pass_rate_draws(c, reference["k"], n_boot, rng))
        abs_e = np.abs(log_z[None, :] - refs)
    else:
        abs_e = np.broadcast_to(np.abs(e), (n_boot, e.size))
    boots = np.take_along_axis(abs_e, idx, axis=1).mean(axis=1)
    lo, hi = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    return {"anchor_abs_err": float(np.abs(e).mean()), "anchor_abs_err_ci": [lo, hi], "anchor_err_mean": float(e.mean()),
            "anchor_err_sd": float(e.std(ddof=1)) if e.size > 1 else 0.0, "ci_coverage": float(np.mean(covered)),
            "reference_error_in_ci": reference["kind"] == "closed_form_q_ref"}


def _cell_prompts(anchor_rows: dict, ref: dict[str, float]) -> dict:
    """Per prompt of a cell: the anchor's log Z, the reference log Z, ESS/K (null without coverage)."""
    return {pid: {"log_z": r["log_z"], "ref": ref.get(pid), "ess_frac": r["ess_frac"], "no_coverage": bool(r["no_coverage"])}
            for pid, r in anchor_rows.items()}


def _diversity(samples_path: Path, task: str) -> dict:
    """Diversity of a cell's eval samples: correct-strategy entropy (wrong answers do not count), else
    solution coverage, else the distinct-n mean of all samples."""
    from ..judge.offline import dataset_means, load_samples, problem_measures
    from ..judge.solution import solution_measures, solution_set_for, summarize_solution

    groups = load_samples(samples_path)
    sol = summarize_solution([solution_measures(rows, solution_set_for(task, pid)) for pid, rows in groups.items()])
    for key in ("correct_entropy", "solution_coverage"):
        if sol[key] is not None:
            return {"diversity": sol[key], "diversity_measure": key}
    means = dataset_means([problem_measures(rows) for rows in groups.values()])["all"]
    return {"diversity": means.get("distinct_mean"), "diversity_measure": "distinct_mean"}


def run_sweep(cfg: SweepConfig, out: Path, say=None) -> dict:
    from ..anchor.estimators import AnchorConfig, closed_form_log_z
    from ..anchor.options import AnchorOptions
    from ..eval.config import EvalConfig
    from ..io import write_json, write_text
    from ..manifest import Manifest
    from ..store.propose import ProposeConfig
    from ..anchor.stage import anchor_stage
    from ..eval.stage import eval_stage
    from ..store.stage import propose_stage
    from ..train.stage import train_stage
    from ..train.config import TrainConfig

    say = say or (lambda *a, **k: None)
    cfg.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = Manifest("sweep", asdict(cfg), cfg.seed)
    exact = _enumerable(cfg.task)
    reference: dict
    if exact:
        if cfg.units != "exact":
            raise UserError("the exact reference needs --units exact")
        reference = {"kind": "exact", "source": "disa_bench.anchor.exact (pi_ref probabilities over the full response set)"}
    elif cfg.units == "exact":
        with m.phase("reference"):
            reference = _reference_log_z(cfg, out, say)
    else:
        reference = {"kind": "none", "note": "no reference log Z in LN units: anchor error not computed"}
    cells = []
    for a in cfg.alphas:
        store_dir = out / "propose" / f"a{_tag(a)}"
        say(f"propose: α={a:g}, {cfg.n_prompts} prompts x {cfg.k}")
        with m.phase("propose"):
            prop = propose_stage(ProposeConfig(task=cfg.task, proposal=cfg.proposal, ref=cfg.ref, proposal_mix=a, k=cfg.k,
                                               n_prompts=cfg.n_prompts, temperature=cfg.temperature,
                                               max_new_tokens=cfg.max_new_tokens, seed=cfg.seed), store_dir)
        store = store_dir / "store.parquet"
        for b in cfg.betas:
            tag = f"a{_tag(a)}_b{_tag(b)}"
            ac = AnchorConfig(beta=b, estimator=cfg.estimator, units=cfg.units, bootstrap=cfg.bootstrap, seed=cfg.seed)
            opts = AnchorOptions(plots=False, check_exact=exact, ref=cfg.ref if exact else None)
            with m.phase("anchor"):
                s = anchor_stage(ac, store, out / "anchor" / tag, opts)
            arows = _read_anchor_rows(out / "anchor" / tag / "anchor.parquet")
            cell = {"alpha": a, "beta": b, "proposal_success_rate": prop["success_rate"],
                    "ess_frac_mean": s["ess_frac_mean"], "coverage": 1.0 - s["no_coverage"] / s["prompts"],
                    "ess_frac_below_0.1": s["ess_frac_below_0.1"], "log_z_mean": s["log_z_mean"], "prompts": s["prompts"],
                    "anchor": str(out / "anchor" / tag / "anchor.parquet")}
            if exact:
                ref = {r["prompt_id"]: r["log_z_exact"] for r in s["check_exact_rows"]}
            elif reference["kind"] == "closed_form_q_ref":
                ref = {pid: closed_form_log_z(p, b) for pid, p in reference["p_hat"].items()}
            else:
                ref = {}
            pids = [pid for pid in arows if pid in ref]
            if pids:
                lz = np.array([arows[p]["log_z"] for p in pids])
                cov = [arows[p]["log_z_ci_low"] is not None and arows[p]["log_z_ci_low"] <= ref[p] <= arows[p]["log_z_ci_high"]
                       for p in pids]
                cell.update(_errors_stats(lz, np.array([ref[p] for p in pids]), cov, cfg.seed, b, reference, pids))
            cell["per_prompt"] = _cell_prompts(arows, ref)
            if cfg.train_steps:
                say(f"train DISA: α={a:g}, β={b:g}, {cfg.train_steps} steps")
                tc = TrainConfig(method="disa", task=cfg.task, model=cfg.ref, store=str(store), anchor=cell["anchor"],
                                 steps=cfg.train_steps, prompts_per_step=min(cfg.prompts_per_step, cfg.n_prompts), n=cfg.n,
                                 lr=cfg.lr, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens,
                                 method_args={"beta": b, "units": cfg.units})
                with m.phase("train"):
                    ts = train_stage(tc, out / "train" / tag)
                ec = EvalConfig(task=cfg.task, model=cfg.ref, adapter=str(out / "train" / tag / "adapter"), k=cfg.eval_k,
                                n_prompts=cfg.eval_prompts, seed=cfg.seed, max_new_tokens=cfg.max_new_tokens)
                with m.phase("eval"):
                    res = eval_stage(ec, out / "eval" / tag)
                cell.update({"mean@8": float(res[f"mean@{cfg.eval_k}"]), "mean@8_ci": res[f"mean@{cfg.eval_k}_ci"],
                             "reward_last": ts["reward_last"], "eval": str(out / "eval" / tag)})
                cell.update(_diversity(out / "eval" / tag / "samples.jsonl", cfg.task))
            cells.append(cell)
    result = {"config": asdict(cfg), "reference": dict(reference), "cells": cells,
              "git_commit": m.data["git_commit"], "versions": m.data["versions"]}
    if "p_hat" in reference:
        result["reference"]["p_hat_mean"] = float(np.mean(list(reference["p_hat"].values())))
    from ..report.figures import sensitivity

    write_json(out / "sweep.json", result)
    write_text(out / "sweep.md", sweep_markdown(result))
    sensitivity(result, out / "sweep.png")
    m.write(out, summary={"cells": len(cells), "reference": result["reference"]})
    return result


def _f(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def sweep_markdown(result: dict) -> str:
    from ..report.claims import apply_family
    from ..report.sweep_claims import sweep_claims

    cfg, ref = result["config"], result["reference"]
    trained = any("mean@8" in c for c in result["cells"])
    L = ["# Sensitivity sweep: proposal strength α × inverse temperature β", "",
         f"Task `{cfg['task']}`, {cfg['n_prompts']} prompts × K = {cfg['k']} proposals, {cfg['estimator'].upper()} in "
         f"{cfg['units'].upper()} units; proposal `{cfg['proposal']}` mixed with π_ref `{cfg['ref']}`. Reference log Z: "
         + {"exact": "exact (enumerable world).",
            "closed_form_q_ref": f"closed form from a K = {ref.get('k')} store drawn from π_ref; its sampling error is "
                         "carried into the error CIs and the tests (Jeffreys draws of each pass rate).",
            "none": "none (LN units)."}.get(ref["kind"], ref["kind"]), ""]
    head = ["α", "β", "mean abs err [95% CI]", "bias", "CI covers ref", "ESS/K", "coverage"]
    if trained:
        head += ["Mean@8 [95% CI]", "diversity"]
    L += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for c in sorted(result["cells"], key=lambda c: (c["beta"], c["alpha"])):
        err = (f"{_f(c.get('anchor_abs_err'))} [{_f(c['anchor_abs_err_ci'][0])}, {_f(c['anchor_abs_err_ci'][1])}]"
               if c.get("anchor_abs_err_ci") else "n/a")
        row = [f"{c['alpha']:g}", f"{c['beta']:g}", err, _f(c.get("anchor_err_mean")), _f(c.get("ci_coverage"), 2),
               _f(c["ess_frac_mean"]), _f(c["coverage"], 2)]
        if trained:
            row += [f"{_f(c.get('mean@8'), 1)} [{_f(c['mean@8_ci'][0], 1)}, {_f(c['mean@8_ci'][1], 1)}]" if c.get("mean@8_ci") else "n/a",
                    _f(c.get("diversity"))]
        L.append("| " + " | ".join(row) + " |")
    L += ["", "## Bias–variance pattern (methods.md §1.9(d))", ""]
    for cl in apply_family(sweep_claims([result])):
        L.append(f"- **{cl['verdict']}**: {cl['claim']} — {cl['numbers']}")
    L += ["", "![sensitivity](sweep.png)", ""]
    return "\n".join(L)
