"""``disa-bench base``: build or reuse the embedded tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from ..progress import console
from .app import app, ConfigOpt, flags, user_errors


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
    from ..config import check_seed, check_type, load_yaml
    from ..world.embedded import CHECKPOINTS, RECIPES, ensure_embedded, recipe_hash
    from ..io import check_out_dir, staged_outputs
    from ..manifest import Manifest
    from ..progress import bar

    yaml_opts = load_yaml(config, "base")
    unknown = sorted(set(yaml_opts) - {"seed", "retrain", "name"})
    if unknown:
        raise UserError(f"{config}: unknown option(s) {', '.join(unknown)} for base; valid: name, retrain, seed")
    for key, tp in {"seed": int, "retrain": bool, "name": str}.items():
        if yaml_opts.get(key) is not None:
            check_type(key, yaml_opts[key], tp, config)
    check_seed(seed)
    opts = yaml_opts | flags(seed=seed, retrain=retrain, name=name)
    names = [opts["name"]] if opts.get("name") else list(RECIPES)
    for n in names:
        if n not in RECIPES:
            raise UserError(f"unknown embedded model {n!r}; valid: {', '.join(RECIPES)}")
    if out is not None:
        check_out_dir(out)
    m = Manifest("base", opts, opts.get("seed"))
    built = {}
    for n in names:
        with m.phase(n), bar(f"base: embedded:{n}", CHECKPOINTS[n] if opts.get("retrain") else None) as adv:
            path = ensure_embedded(n, retrain=bool(opts.get("retrain")), progress=adv, seed=opts.get("seed"))
        built[n] = {"path": str(path), "recipe_hash": recipe_hash(n, opts.get("seed"))}
        console.print(f"embedded:{n} -> {path}")
    if out is not None:
        with staged_outputs(out) as tmp:
            m.write(tmp, models=built)
