"""``disa-bench run``: the whole pipeline on the embedded default, ending in a Markdown report.

base models -> one shared proposal store -> anchor (frozen log Z) -> train DISA -> eval base and DISA on
the held-out split -> report.md. Every stage writes into its own sub-directory with its own manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .anchor import AnchorConfig
from .config import resolve
from .errors import UserError
from .evaluate import EvalConfig
from .propose import ProposeConfig
from .train import TrainConfig

PROFILES: dict[str, dict] = {
    "smoke": {
        "propose": {"n_prompts": 32, "k": 8},
        "train": {"steps": 8, "prompts_per_step": 8, "n": 8},
        "eval": {"n_prompts": 64},
    },
    # 2048 proposal prompts so 300 steps x 16 prompts visit each RL prompt about twice (RL on a few hundred
    # prompts memorizes them and does not move the held-out score); measured about 5 minutes on 2 cores
    "default": {
        "propose": {"n_prompts": 2048, "k": 8},
        "train": {"steps": 300, "prompts_per_step": 16, "n": 8, "lr": 1e-3},
        "eval": {"n_prompts": 512},
    },
}


@dataclass
class RunConfig:
    profile: str = "default"
    seed: int = 0
    methods: list = field(default_factory=lambda: ["disa"])
    propose: dict = field(default_factory=dict)
    anchor: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    eval: dict = field(default_factory=dict)


def stage_configs(run: RunConfig):
    if run.profile not in PROFILES:
        raise UserError(f"unknown --profile {run.profile!r}; valid: {', '.join(PROFILES)}")
    prof = PROFILES[run.profile]
    seed = {"seed": run.seed}
    pc = resolve(ProposeConfig, prof.get("propose"), run.propose, seed, where="run.propose")
    ac = resolve(AnchorConfig, prof.get("anchor"), run.anchor, seed, where="run.anchor")
    tc = resolve(TrainConfig, prof.get("train"), run.train, seed, where="run.train")
    ec = resolve(EvalConfig, prof.get("eval"), run.eval, seed, where="run.eval")
    return pc, ac, tc, ec


def run_pipeline(run: RunConfig, out: Path, console=None) -> Path:
    from .embedded import ensure_embedded
    from .io import write_text
    from .manifest import Manifest
    from .progress import bar
    from .report import render_markdown
    from .stages import anchor_stage, eval_stage, propose_stage, train_stage

    say = console.print if console else (lambda *a, **k: None)
    pc, ac, tc, ec = stage_configs(run)
    out = Path(out)
    m = Manifest("run", asdict(run) | {"resolved": {"propose": asdict(pc), "anchor": asdict(ac), "train": asdict(tc),
                                                     "eval": asdict(ec)}}, run.seed)
    with m.phase("base"):
        for name in ("base", "teacher"):
            with bar(f"base: building embedded:{name}", None) as adv:
                ensure_embedded(name, progress=adv)
    say(f"[bold]1/5 propose[/] {pc.n_prompts} prompts x {pc.k} from {pc.proposal} (mix {pc.proposal_mix})")
    with m.phase("propose"):
        prop = propose_stage(pc, out / "propose")
    store = out / "propose" / "store.parquet"
    say(f"[bold]2/5 anchor[/] {ac.estimator} / {ac.units} units, beta {ac.beta}")
    with m.phase("anchor"):
        anc = anchor_stage(ac, store, out / "anchor")
    trains, evals = {}, {}
    say("[bold]3/5 eval base[/]")
    with m.phase("eval:base"):
        evals["base"] = eval_stage(resolve(EvalConfig, asdict(ec), {"model": tc.model}), out / "eval" / "base")
    for method in run.methods:
        say(f"[bold]4/5 train {method}[/] {tc.steps} steps x {tc.prompts_per_step} prompts x {tc.n}")
        extra = {"anchor": str(out / "anchor" / "anchor.parquet")}
        method_args = dict(tc.method_args)
        if method == "disa":
            method_args.setdefault("beta", ac.beta)
            method_args.setdefault("units", ac.units)
        t = resolve(TrainConfig, asdict(tc), {"method": method, "store": str(store), "method_args": method_args} | extra)
        with m.phase(f"train:{method}"):
            trains[method] = train_stage(t, out / "train" / method)
        say(f"[bold]5/5 eval {method}[/]")
        with m.phase(f"eval:{method}"):
            evals[method] = eval_stage(resolve(EvalConfig, asdict(ec), {"model": tc.model,
                                                                       "adapter": str(out / "train" / method / "adapter")}),
                                       out / "eval" / method)
    md = render_markdown(f"disa-bench embedded run ({run.profile} profile)", evals, anc, trains, prop, m.data)
    write_text(out / "report.md", md)
    m.write(out, summary={name: {"mean@8": r["mean@8"], "ci": r["mean@8_ci"]} for name, r in evals.items()})
    return out / "report.md"


def load_run_config(path: str | None, overrides: dict) -> RunConfig:
    from .config import load_yaml

    data = load_yaml(path)
    if "run" in data and isinstance(data["run"], dict):
        data = data["run"] | {k: v for k, v in data.items() if k != "run"}
    return resolve(RunConfig, data, overrides, where=path or "run")


def dump(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
