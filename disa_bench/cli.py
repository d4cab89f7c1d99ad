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


def _flags(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


@app.command()
@user_errors
def base(
    retrain: bool = typer.Option(False, "--retrain", help="Train the embedded models from scratch into $DISA_BENCH_HOME."),
    name: Optional[str] = typer.Option(None, "--name", help="Only this embedded model: base or teacher."),
):
    """Build or reuse the embedded tiny models ([bold]embedded:base[/] = pi_ref, [bold]embedded:teacher[/] = proposal).

    Shipped weights are reused when their recipe matches; otherwise they are trained into
    $DISA_BENCH_HOME (default ~/.cache/disa-bench).

    Example: [bold]disa-bench base[/]   or   [bold]disa-bench base --retrain --name base[/]
    """
    from .embedded import RECIPES, ensure_embedded
    from .progress import bar

    names = [name] if name else list(RECIPES)
    for n in names:
        if n not in RECIPES:
            raise UserError(f"unknown embedded model {n!r}; valid: {', '.join(RECIPES)}")
        with bar(f"base: embedded:{n}", RECIPES[n]["steps"] if retrain else None) as adv:
            path = ensure_embedded(n, retrain=retrain, progress=adv)
        _console().print(f"embedded:{n} -> {path}")


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
    temperature: Optional[float] = typer.Option(None, help="Proposal sampling temperature (top_p is always 1)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
):
    """Sample K trajectories per prompt from a proposal into the shared trajectory store.

    Example: [bold]disa-bench propose --k 16 --n-prompts 512 --proposal-mix 0.5 --out runs/p[/]
    """
    from .config import load_yaml, resolve
    from .propose import ProposeConfig
    from .stages import propose_stage

    cfg = resolve(ProposeConfig, load_yaml(config, "propose"),
                  _flags(seed=seed, task=task, proposal=proposal, ref=ref, proposal_mix=proposal_mix, k=k,
                         n_prompts=n_prompts, temperature=temperature, max_new_tokens=max_new_tokens), where=config or "flags")
    cfg.check()
    info = propose_stage(cfg, out)
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
):
    """Estimate and freeze log Z per prompt from a store by importance sampling, with diagnostics.

    Example: [bold]disa-bench anchor --store runs/p/store.parquet --beta 5 --estimator snis --units exact --out runs/a[/]
    """
    from .anchor import AnchorConfig
    from .config import load_yaml, resolve
    from .stages import anchor_stage

    cfg = resolve(AnchorConfig, load_yaml(config, "anchor"),
                  _flags(seed=seed, beta=beta, estimator=estimator, units=units, bootstrap=bootstrap), where=config or "flags")
    cfg.check()
    s = anchor_stage(cfg, store, out)
    _print_anchor_table(out / "anchor.parquet", s)


def _print_anchor_table(path: Path, s: dict) -> None:
    import pyarrow.parquet as pq
    from rich.table import Table

    rows = pq.read_table(path).to_pylist()
    t = Table(title=f"log Z ({s['estimator']}, {s['units']} units, beta={s['beta']}) — {s['prompts']} prompts")
    for c in ("prompt_id", "log_z", "95% CI", "ESS/K", "success", "flags"):
        t.add_column(c)
    worst = sorted(rows, key=lambda r: r["ess_frac"])[:8]
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
    data: Optional[str] = typer.Option(None, "--data", help="online (fresh rollouts, default) or offline (the store)."),
    steps: Optional[int] = typer.Option(None, "--steps"),
    prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step"),
    n: Optional[int] = typer.Option(None, "--n", help="Rollouts per prompt."),
    mini_batches: Optional[int] = typer.Option(None, "--mini-batches", help="Optimizer steps per rollout batch."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    full: Optional[bool] = typer.Option(None, "--full/--lora", help="Full fine-tuning instead of LoRA (default LoRA)."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Method beta (DISA: must match the anchor)."),
    units: Optional[str] = typer.Option(None, "--units", help="DISA residual units: exact or ln (must match the anchor)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke or default: the run profile's training budget."),
):
    """Train a policy (LoRA by default) with one method on the shared engine.

    Example: [bold]disa-bench train --method disa --store runs/p/store.parquet --anchor runs/a/anchor.parquet --steps 100 --out runs/t[/]
    """
    from .config import load_yaml, resolve
    from .pipeline import PROFILES
    from .stages import train_stage
    from .train import TrainConfig

    prof = {}
    if profile is not None:
        if profile not in PROFILES:
            raise UserError(f"unknown --profile {profile!r}; valid: {', '.join(PROFILES)}")
        prof = PROFILES[profile]["train"]
    method_args = {k: v for k, v in (("beta", beta), ("units", units)) if v is not None}
    yaml_cfg = load_yaml(config, "train")
    if method_args:
        method_args = {**yaml_cfg.get("method_args", {}), **method_args}
    cfg = resolve(TrainConfig, prof, yaml_cfg,
                  _flags(method=method, store=store, anchor=anchor, seed=seed, model=model, task=task, data=data,
                         steps=steps, prompts_per_step=prompts_per_step, n=n, mini_batches=mini_batches, lr=lr, full=full,
                         method_args=method_args or None), where=config or "flags")
    cfg.check()
    s = train_stage(cfg, out)
    _console().print(f"trained {s['method']} for {s['steps']} steps: reward {s['reward_first']:.3f} -> {s['reward_last']:.3f}; "
                     f"adapter at {out / 'adapter'}")


@app.command("eval")
@user_errors
def eval_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="HF id, local path or embedded:base (default)."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="peft adapter dir on top of --model (e.g. runs/t/adapter)."),
    task: Optional[str] = typer.Option(None, "--task"),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Output dir (results.json, samples.jsonl, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    k: Optional[int] = typer.Option(None, "--k", help="Samples per prompt (default 8): Mean@k."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts"),
    split: Optional[str] = typer.Option(None, "--split", help="test (default) or train."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Default 0.6."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Default 0.95."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
):
    """Mean@k (default k = 8) with a 95% bootstrap CI, pass@k and maj@k of a model or adapter on a task.

    Example: [bold]disa-bench eval --adapter runs/t/adapter --k 8 --out runs/e[/]
    """
    from .config import load_yaml, resolve
    from .evaluate import EvalConfig
    from .stages import eval_stage

    cfg = resolve(EvalConfig, load_yaml(config, "eval"),
                  _flags(model=model, adapter=adapter, task=task, seed=seed, k=k, n_prompts=n_prompts, split=split,
                         temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens), where=config or "flags")
    cfg.check()
    r = eval_stage(cfg, out)
    lo, hi = r[f"mean@{cfg.k}_ci"]
    _console().print(f"{cfg.task}: Mean@{cfg.k} = {r[f'mean@{cfg.k}']:.1f} [95% CI {lo:.1f}, {hi:.1f}], "
                     f"pass@{cfg.k} = {r[f'pass@{cfg.k}']:.1f} over {r['num_prompts']} prompts -> {out / 'results.json'}")


@app.command()
@user_errors
def run(
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke (about a minute) or default (the full embedded run)."),
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default runs/embedded-PROFILE)."),
    seed: Optional[int] = SeedOpt,
):
    """The whole pipeline on the embedded default, ending in a Markdown report.

    base models -> shared proposal store -> anchor -> train -> eval -> report.md

    Example: [bold]disa-bench run --profile smoke[/]
    """
    from .pipeline import load_run_config, run_pipeline

    cfg = load_run_config(config, _flags(profile=profile, seed=seed))
    out = out or Path(f"runs/embedded-{cfg.profile}")
    report = run_pipeline(cfg, out, console=_console())
    _console().print(f"report: {report}")
    _console().print(report.read_text())


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
