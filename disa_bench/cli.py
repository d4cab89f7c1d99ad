"""The ``disa-bench`` command line. One small function per command: parse, resolve config, call the stage.

Config precedence for every command: built-in defaults < ``--config FILE.yaml`` < explicit flags.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    help="Train and compare DISA, FlowRL, GRPO, GSPO and LoRA-SFT on one shared offline trajectory store.\n\n"
    "Quick start: [bold]disa-bench run --profile smoke[/]",
)

ConfigOpt = typer.Option(None, "--config", help="YAML file with options for this command (flags override it).")
SeedOpt = typer.Option(None, "--seed", help="Random seed (default 0).")


def _console():
    from .progress import console

    return console


def user_errors(fn):
    """Turn a UserError into one line on stderr and exit status 2; never a traceback for a user mistake."""

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(2)

    return wrapper


def _rank_line(rank: int, world: int, s: dict) -> None:
    """One line per DDP rank, written with a single write so ranks sharing a pipe do not interleave mid-line."""
    import os

    sys.stdout.flush()
    os.write(1, f"rank {rank}/{world}: params_sha256 {s['params_sha256']} loss_last {s['loss_last']}\n".encode())


def _flags(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


@app.command()
@user_errors
def base(
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Write manifest.json (model dirs, recipe hashes, timings) here."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Recipe seed (default the shipped recipe's); another seed "
                                                             "builds a variant into $DISA_BENCH_HOME."),
    retrain: Optional[bool] = typer.Option(None, "--retrain/--reuse", help="Train from scratch into $DISA_BENCH_HOME."),
    name: Optional[str] = typer.Option(None, "--name", help="Only this embedded model: base or teacher."),
):
    """Build or reuse the embedded tiny models ([bold]embedded:base[/] = pi_ref, [bold]embedded:teacher[/] = proposal).

    Shipped weights are reused when their recipe matches; otherwise they are trained into
    $DISA_BENCH_HOME (default ~/.cache/disa-bench).

    Example: [bold]disa-bench base[/]   or   [bold]disa-bench base --retrain --name base --out runs/base[/]
    """
    from .config import load_yaml
    from .embedded import CHECKPOINTS, RECIPES, ensure_embedded, recipe_hash
    from .io import staged_outputs
    from .manifest import Manifest
    from .progress import bar

    opts = load_yaml(config, "base") | _flags(seed=seed, retrain=retrain, name=name)
    unknown = sorted(set(opts) - {"seed", "retrain", "name"})
    if unknown:
        raise UserError(f"{config}: unknown option(s) {', '.join(unknown)} for base; valid: name, retrain, seed")
    names = [opts["name"]] if opts.get("name") else list(RECIPES)
    for n in names:
        if n not in RECIPES:
            raise UserError(f"unknown embedded model {n!r}; valid: {', '.join(RECIPES)}")
    m = Manifest("base", opts, opts.get("seed"))
    built = {}
    for n in names:
        with m.phase(n), bar(f"base: embedded:{n}", CHECKPOINTS[n] if opts.get("retrain") else None) as adv:
            path = ensure_embedded(n, retrain=bool(opts.get("retrain")), progress=adv, seed=opts.get("seed"))
        built[n] = {"path": str(path), "recipe_hash": recipe_hash(n, opts.get("seed"))}
        _console().print(f"embedded:{n} -> {path}")
    if out is not None:
        with staged_outputs(out) as tmp:
            m.write(tmp, models=built)


@app.command()
@user_errors
def propose(
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/propose"), "--out", help="Output dir (store.parquet + manifest.json)."),
    seed: Optional[int] = SeedOpt,
    task: Optional[str] = typer.Option(None, help="Task name (default countdown)."),
    proposal: Optional[str] = typer.Option(None, help="Proposal model q_s: HF id, local path, or embedded:teacher."),
    ref: Optional[str] = typer.Option(None, help="Reference policy pi_ref (default embedded:base)."),
    proposal_mix: Optional[float] = typer.Option(None, "--proposal-mix", help="a in q_a = a q_s + (1-a) pi_ref, within [0, 1]."),
    k: Optional[int] = typer.Option(None, "--k", help="Trajectories per prompt (default 16)."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Training prompts to cover."),
    temperature: Optional[str] = typer.Option(None, help="Proposal sampling temperature (top_p is always 1); a ladder "
                                              "'0.7,1.0,1.3' writes one store per rung under OUT/t{T}/ (see ladder.json)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; densities are always scored with HF)."),
):
    """Sample K trajectories per prompt from a proposal into the shared trajectory store.

    Example: [bold]disa-bench propose --k 16 --n-prompts 512 --proposal-mix 0.5 --out runs/p[/]
    """
    from .config import load_yaml, resolve
    from .propose import ProposeConfig
    from .stages import propose_stage

    cfg = resolve(ProposeConfig, load_yaml(config, "propose"),
                  _flags(seed=seed, task=task, proposal=proposal, ref=ref, proposal_mix=proposal_mix, k=k,
                         n_prompts=n_prompts, temperature=temperature, max_new_tokens=max_new_tokens, backend=backend),
                  where=config or "flags")
    cfg.check()
    info = propose_stage(cfg, out)
    for rung in info.get("ladder", []):
        _console().print(f"T={rung['temperature']:g}: wrote {rung['store']}: {rung['trajectories']} trajectories, "
                         f"success rate {100 * rung['success_rate']:.1f}%")
    if "ladder" not in info:
        _console().print(f"wrote {out / 'store.parquet'}: {info['trajectories']} trajectories, "
                         f"{info['prompts']} prompts, success rate {100 * info['success_rate']:.1f}%")


@app.command()
@user_errors
def anchor(
    store: Path = typer.Option(..., "--store", help="Trajectory store (store.parquet)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/anchor"), "--out", help="Output dir (anchor.parquet, summary.json, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    beta: Optional[float] = typer.Option(None, "--beta", help="Inverse temperature beta > 0 (default 5)."),
    estimator: Optional[str] = typer.Option(None, "--estimator", help="snis (default) or is."),
    units: Optional[str] = typer.Option(None, "--units", help="exact (sequence log-ratios) or ln (length-normalized)."),
    bootstrap: Optional[int] = typer.Option(None, "--bootstrap", help="Bootstrap resamples for the CI (default 200)."),
    check_exact: bool = typer.Option(False, "--check-exact", help="Enumerable tasks (enum-*): compare with the exact log Z (needs --ref)."),
    ref: Optional[str] = typer.Option(None, "--ref", help="Reference policy pi_ref (exact check, regressor features; default: the store's)."),
    k: Optional[str] = typer.Option(None, "--k", help="With --check-exact: K values for the error-vs-K slope, e.g. 4,16,64,256."),
    regressor: bool = typer.Option(False, "--regressor", help="Write the prompt-conditioned regressor's log Z (= --mode regressor)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="table (default: IS estimates), regressor, or shrunk (lambda = ESS/(ESS+kappa))."),
    kappa: Optional[float] = typer.Option(None, "--kappa", help="Shrinkage kappa (default 2)."),
    task: Optional[str] = typer.Option(None, "--task", help="Task of the prompts (default: the store's)."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Regressor: also predict this many prompts of --split (as propose draws them)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split for --n-prompts (default train)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG histograms (and the exact scatter)."),
):
    """Estimate and freeze log Z per prompt from a store by importance sampling, with diagnostics.

    Writes anchor.parquet, summary.json, ess_frac_hist.png, log_z_hist.png; with --check-exact also
    check_exact.parquet/json and exact_scatter.png (error_vs_k.png with --k); with --regressor regressor.json.

    Example: [bold]disa-bench anchor --store runs/p/store.parquet --beta 5 --estimator snis --units exact --out runs/a[/]
    """
    from .anchor import AnchorConfig
    from .anchor_exact import parse_k_list
    from .anchor_options import AnchorOptions
    from .config import load_yaml, resolve
    from .stages import anchor_stage

    cfg = resolve(AnchorConfig, load_yaml(config, "anchor"),
                  _flags(seed=seed, beta=beta, estimator=estimator, units=units, bootstrap=bootstrap), where=config or "flags")
    cfg.check()
    if regressor and mode not in (None, "regressor"):
        raise UserError(f"--regressor conflicts with --mode {mode}")
    opts = AnchorOptions(**_flags(mode="regressor" if regressor else mode, kappa=kappa, ref=ref, task=task,
                                  n_prompts=n_prompts, split=split),
                         check_exact=check_exact, k_list=parse_k_list(k), plots=plots)
    if check_exact and not ref:
        raise UserError("--check-exact needs the reference model: pass --ref MODEL (the pi_ref the store was scored with)")
    opts.check()
    s = anchor_stage(cfg, store, out, opts)
    _print_anchor_table(out / "anchor.parquet", s)
    if "check_exact" in s:
        _print_check_exact(s)
    if "regressor" in s:
        h = s["regressor"]["holdout"]
        _console().print(f"regressor ({s['regressor']['mode']}): held-out MAE {h['mae']:.4f} vs mean-baseline "
                         f"{h['mae_mean_baseline']:.4f}, R^2 {h['r2']:.3f}, calibration slope {h['calibration_slope']:.3f} "
                         f"on {h['n']} held-out prompts; wrote {s['regressor']['prompts_written']} prompts "
                         f"({s['regressor']['prompts_without_proposals']} without proposals)")


def _print_check_exact(s: dict) -> None:
    from rich.table import Table

    c = s["check_exact"]
    rows = s["check_exact_rows"]
    t = Table(title=f"exact check: K={c['k']}, {c['prompts']} prompts (worst |error| first)")
    for col in ("prompt_id", "exact log Z", "log Z-hat", "95% CI", "|error|", "covered"):
        t.add_column(col)
    for r in sorted(rows, key=lambda r: -r["abs_err"])[:10]:
        t.add_row(r["prompt_id"], f"{r['log_z_exact']:.4f}", f"{r['log_z']:.4f}",
                  f"[{r['log_z_ci_low']:.3f}, {r['log_z_ci_high']:.3f}]", f"{r['abs_err']:.4f}", "yes" if r["covered"] else "NO")
    _console().print(t)
    _console().print(f"CI covers exact log Z on {100 * c['coverage']:.1f}% of prompts; mean |error| {c['mean_abs_err']:.4f}")
    for p in c.get("per_k", []):
        _console().print(f"  K={p['k']:>4}: mean |error| {p['mean_abs_err']:.4f}, mean error {p['mean_err']:+.4f}, "
                         f"CI coverage {100 * p['coverage']:.1f}% ({p['estimates']} estimates)")
    if "slope" in c:
        _console().print(f"error-vs-K log-log slope {c['slope']:.3f} (1/sqrt(K) would be -0.5)")


def _print_anchor_table(path: Path, s: dict) -> None:
    import pyarrow.parquet as pq
    from rich.table import Table

    rows = pq.read_table(path).to_pylist()
    t = Table(title=f"log Z ({s['estimator']}, {s['units']} units, beta={s['beta']}) — {s['prompts']} prompts")
    for c in ("prompt_id", "log_z", "95% CI", "ESS/K", "success", "flags"):
        t.add_column(c)
    rows = [r for r in rows if r.get("ess_frac") is not None]  # regressor-only prompts have no IS diagnostics
    worst = sorted(rows, key=lambda r: (not (r["ess_frac"] < 0.1 or r["no_coverage"]), r["ess_frac"]))[:8]
    for r in worst:
        flags = ", ".join(f for f, on in (("ESS/K<0.1", r["ess_frac"] < 0.1), ("no coverage", r["no_coverage"])) if on)
        t.add_row(r["prompt_id"], f"{r['log_z']:.3f}", f"[{r['log_z_ci_low']:.2f}, {r['log_z_ci_high']:.2f}]",
                  f"{r['ess_frac']:.2f}", f"{r['success_rate']:.2f}", flags)
    _console().print(t)
    _console().print(f"mean log Z {s['log_z_mean']:.3f}; mean ESS/K {s['ess_frac_mean']:.3f}; "
                     f"{s['ess_frac_below_0.1']} prompts ESS/K < 0.1; {s['no_coverage']} with no correct proposal (kept, flagged)")


@app.command()
@user_errors
def train(
    method: Optional[str] = typer.Option(None, "--method", help="disa, flowrl, grpo, gspo or sft."),
    store: Optional[str] = typer.Option(None, "--store", help="Trajectory store: defines the training prompts (and offline data)."),
    anchor: Optional[str] = typer.Option(None, "--anchor", help="anchor.parquet (DISA)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/train"), "--out", help="Output dir (adapter/, metrics.jsonl, summary.json, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Initial policy = pi_ref (default embedded:base)."),
    task: Optional[str] = typer.Option(None, "--task"),
    data: Optional[str] = typer.Option(None, "--data", help="online (fresh rollouts, default) or offline (the store). SFT always reads the store."),
    steps: Optional[int] = typer.Option(None, "--steps"),
    prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step"),
    n: Optional[int] = typer.Option(None, "--n", help="Rollouts (offline: stored trajectories) per prompt."),
    mini_batches: Optional[int] = typer.Option(None, "--mini-batches", help="Optimizer steps per rollout batch (default: the method's, 1; GSPO 4)."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Rollout length cap (default: the task's)."),
    full: Optional[bool] = typer.Option(None, "--full/--lora", help="Full fine-tuning instead of LoRA (default LoRA)."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Method beta (DISA: must match the anchor; FlowRL default 15)."),
    units: Optional[str] = typer.Option(None, "--units", help="DISA residual units: exact or ln (must match the anchor)."),
    flowrl_variant: Optional[str] = typer.Option(None, "--flowrl-variant", help="FlowRL: official (clamp w at 10), original (unclipped w) or detached-head."),
    kl_coef: Optional[float] = typer.Option(None, "--kl-coef", help="GRPO k3 KL coefficient (default 0.001; 0 = no pi_ref pass)."),
    loss_agg: Optional[str] = typer.Option(None, "--loss-agg", help="GRPO: token-mean, seq-mean-token-mean, seq-mean-token-sum or seq-mean-token-sum-norm."),
    clip_eps: Optional[float] = typer.Option(None, "--clip-eps", help="GRPO clip epsilon (low; default 0.2)."),
    clip_eps_high: Optional[float] = typer.Option(None, "--clip-eps-high", help="GRPO/GSPO upper clip epsilon."),
    sft_data: Optional[str] = typer.Option(None, "--sft-data", help="SFT: correct (default, reward > 0) or all store trajectories."),
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke or default: the run profile's training budget."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; online rollouts; the LoRA is synced to it each step; single process, not with --full)."),
):
    """Train a policy (LoRA by default) with one method on the shared engine.

    Method options (--beta, --flowrl-variant, --kl-coef, ...) go into the method config; a YAML config may
    also set them under [bold]method_args:[/]. Multi-process: [bold]accelerate launch -m disa_bench.cli train ...[/]

    Example: [bold]disa-bench train --method disa --store runs/p/store.parquet --anchor runs/a/anchor.parquet --steps 100 --out runs/t[/]
    """
    import os

    from .config import load_yaml, resolve
    from .pipeline import PROFILES
    from .stages import train_stage
    from .train import Trainer, TrainConfig

    prof = {}
    if profile is not None:
        if profile not in PROFILES:
            raise UserError(f"unknown --profile {profile!r}; valid: {', '.join(PROFILES)}")
        prof = PROFILES[profile]["train"]
    method_args = _flags(beta=beta, units=units, variant=flowrl_variant, kl_coef=kl_coef, loss_agg=loss_agg,
                         clip_eps=clip_eps, sft_data=sft_data)
    if clip_eps_high is not None:
        method_args["clip_eps_high"] = clip_eps_high
    yaml_cfg = load_yaml(config, "train")
    if method_args:
        method_args = {**(yaml_cfg.get("method_args") or {}), **method_args}
    cfg = resolve(TrainConfig, prof, yaml_cfg,
                  _flags(method=method, store=store, anchor=anchor, seed=seed, model=model, task=task, data=data,
                         steps=steps, prompts_per_step=prompts_per_step, n=n, mini_batches=mini_batches, lr=lr,
                         max_new_tokens=max_new_tokens, full=full, backend=backend, method_args=method_args or None),
                  where=config or "flags")
    cfg.check()
    if method_args:  # a flag that does not apply to the chosen method (e.g. --kl-coef with disa) is an error
        from .methods import get_method
        from .train import _method_config

        _method_config(get_method(cfg.method), cfg.method_args)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if rank != 0:  # accelerate / torchrun worker: trains in lockstep, writes nothing
        import tempfile

        t = Trainer(cfg, Path(tempfile.mkdtemp(prefix="disa-bench-rank")))
        s = t.train()
        _rank_line(rank, world, s)
        return
    s = train_stage(cfg, out)
    if world > 1:
        _rank_line(rank, world, s)
    _console().print(f"trained {s['method']} ({s['data_source']}) for {s['steps']} steps: reward {s['reward_first']:.3f} -> "
                     f"{s['reward_last']:.3f}; adapter at {out / 'adapter'}")


@app.command("eval")
@user_errors
def eval_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="HF id, local path or embedded:base (default)."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="peft adapter dir on top of --model (e.g. runs/t/adapter)."),
    task: Optional[str] = typer.Option(None, "--task"),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Several tasks and groups, e.g. math6,code3,gsm8k (per-task results under OUT/<task>/)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="ours (default) or lm-eval (lm_eval.simple_evaluate, same grader)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Output dir (results.json, samples.jsonl, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    k: Optional[int] = typer.Option(None, "--k", help="Samples per prompt (default 8): Mean@k."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Prompts per task (default 256; benchmarks: all)."),
    split: Optional[str] = typer.Option(None, "--split", help="test (default) or train."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Default 0.6."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Default 0.95."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; engine ours only)."),
):
    """Mean@k (default k = 8) with a 95% bootstrap CI, pass@k and maj@k of a model or adapter on one or more tasks.

    Example: [bold]disa-bench eval --adapter runs/t/adapter --k 8 --out runs/e[/]
    or [bold]disa-bench eval --model Qwen/Qwen2.5-Math-1.5B --tasks math6,code3 --k 8 --out runs/e[/]
    """
    from .config import load_yaml, resolve
    from .evaluate import EvalConfig, eval_suite_stage, headline, markdown_table
    from .stages import eval_stage
    from .tasks import get_task

    yaml_cfg = load_yaml(config, "eval")
    cfg = resolve(EvalConfig, yaml_cfg,
                  _flags(model=model, adapter=adapter, task=task, tasks=tasks, engine=engine, seed=seed, k=k,
                         n_prompts=n_prompts, split=split, temperature=temperature, top_p=top_p,
                         max_new_tokens=max_new_tokens, backend=backend), where=config or "flags")
    cfg.check()
    names = cfg.task_list()
    given = n_prompts is not None or yaml_cfg.get("n_prompts", yaml_cfg.get("n-prompts")) is not None
    if len(names) == 1:
        cfg.task, cfg.tasks = names[0], None
        t = get_task(cfg.task)
        if not given and hasattr(t, "default_eval_prompts"):
            cfg.n_prompts = t.default_eval_prompts
        r = eval_stage(cfg, out)
        typer.echo(markdown_table({cfg.task: headline(r, cfg.k)}, cfg.k))
        lo, hi = r[f"mean@{cfg.k}_ci"]
        _console().print(f"{cfg.task}: Mean@{cfg.k} = {r[f'mean@{cfg.k}']:.1f} [95% CI {lo:.1f}, {hi:.1f}], "
                         f"pass@{cfg.k} = {r[f'pass@{cfg.k}']:.1f} over {r['num_prompts']} prompts -> {out / 'results.json'}")
        return
    s = eval_suite_stage(cfg, names, out, n_prompts_given=given)
    typer.echo(markdown_table(s["tasks"], cfg.k))
    _console().print(f"{len(names)} tasks ({cfg.engine}) -> {out / 'results.json'} and {out}/<task>/results.json")


@app.command()
@user_errors
def run(
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke (about a minute) or default (the full embedded paper run)."),
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default runs/embedded-PROFILE)."),
    seed: Optional[int] = SeedOpt,
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma list of methods to train (default all five: disa,flowrl,grpo,gspo,sft)."),
    sweep: Optional[bool] = typer.Option(None, "--sweep/--no-sweep", help="Run the β × proposal-strength sweep (default on)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint for the LLM diversity judge (default: offline measures only)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name at that endpoint."),
    judge_api_key_env: Optional[str] = typer.Option(None, "--judge-api-key-env", help="Environment variable holding the judge API key (default OPENAI_API_KEY; never logged)."),
):
    """The paper's comparison on the embedded default, ending in a paper-style report.

    base models -> shared proposal store -> anchor -> eval base -> train + eval DISA, FlowRL, GRPO, GSPO,
    LoRA-SFT (same budget) -> judge -> sweep -> report/ (report.md, .tex, .html, .json, figures/)

    Example: [bold]disa-bench run --profile smoke[/]
    """
    from .pipeline import load_run_config, run_pipeline

    judge = {k: v for k, v in {"base_url": judge_base_url, "model": judge_model, "api_key_env": judge_api_key_env}.items()
             if v is not None}
    cfg = load_run_config(config, _flags(profile=profile, seed=seed, methods=methods, sweep_enabled=sweep))
    if judge:
        cfg.judge = dict(cfg.judge) | judge
    out = out or Path(f"runs/embedded-{cfg.profile}")
    report = run_pipeline(cfg, out, console=_console())
    _console().print(f"report: {report}", markup=False)
    print(report.read_text())


def _register_command_modules() -> None:
    import importlib
    import pkgutil

    from . import commands

    for mod in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"{commands.__name__}.{mod}")


_register_command_modules()


def main():
    app()


if __name__ == "__main__":
    main()
