"""Recipe-backed run profiles (``disa-bench run --profile paper|paper-smoke``) and the ``--model`` / ``--proposal``
flags of ``run``.

A profile with ``"recipes": "gpu"`` takes its training settings from the ``train --config`` recipes
``baselines/gpu/<method>.yaml``, the one place they are written: every recipe must agree on everything but
``method`` and ``method_args`` (the fair-comparison budget: model, task, steps, batch, lr, LoRA, lengths), so the
run trains each method exactly as its recipe would. Those shared settings are the run's train layer (under the
profile's own ``train`` overrides: paper-smoke shrinks the budget), each recipe's ``method_args`` becomes that
method's options (under the profile's ``method_args`` and the run config's), and what the other stages must share
with training is derived from it:

- propose: ``task`` (the store defines the training prompts), ``ref`` = the policy's model, ``max_new_tokens``
  and ``template``; the proposal is the policy model itself with ``proposal_mix`` 0 (pure pi_ref samples, exact
  weights 1) unless ``--proposal Q`` names a stronger one (then the ``proposal_mix`` default 0.5 applies);
- eval: ``max_new_tokens`` (methods.md §6 #12: the training response length) and ``template``.

The profile adds what only the run has (propose size, the anchor's units and beta, the eval benchmarks). A profile
without ``recipes`` (smoke, default) is used exactly as before; ``--model M`` there replaces the policy and pi_ref
(and the proposal, as above).

Layer order per stage, later winning: TrainConfig/ProposeConfig/... defaults < derived < profile < ``run --config``
< ``--model`` / ``--proposal`` (and ``--seed``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError

# The stated keys of a recipe that may differ between methods; everything else is the shared budget.
PER_METHOD = ("method", "method_args")


def baselines_dir() -> Path:
    """``baselines/`` of the source tree this package runs from (recipes are not package data)."""
    return Path(__file__).resolve().parents[2] / "baselines"


def load_recipes(name: str) -> dict[str, dict]:
    """``{method: recipe}`` of ``baselines/<name>/*.yaml`` (each a ``train --config`` file), in file-name order."""
    from ..config import load_yaml

    d = baselines_dir() / name
    files = sorted(d.glob("*.yaml"))
    if not files:
        raise UserError(f"no recipes in {d} (the recipe profiles read baselines/{name}/*.yaml of a source checkout: "
                        f"pip install -e .)")
    out = {}
    for f in files:
        r = load_yaml(str(f), "train")
        m = r.get("method")
        if not isinstance(m, str):
            raise UserError(f"{f}: a recipe must name its method (method: NAME)")
        if m in out:
            raise UserError(f"{f}: a second recipe for method {m!r}")
        out[m] = r
    return out


def shared_settings(name: str) -> tuple[dict, dict]:
    """(shared train settings, ``{method: method_args}``) of the recipes ``baselines/<name>/``; recipes that differ
    in anything but ``method`` / ``method_args`` are an error naming the key."""
    recipes = load_recipes(name)
    first_m, first = next(iter(recipes.items()))
    shared = {k: v for k, v in first.items() if k not in PER_METHOD}
    for m, r in recipes.items():
        mine = {k: v for k, v in r.items() if k not in PER_METHOD}
        for k in sorted(set(shared) | set(mine)):
            if shared.get(k) != mine.get(k):
                raise UserError(f"baselines/{name}/: recipe {m!r} sets {k}: {mine.get(k)!r} but {first_m!r} sets "
                                f"{shared.get(k)!r}; the recipes of one profile share everything but method and "
                                f"method_args (one budget for every method)")
    from ..methods import get_method, method_config

    margs = {}
    for m, r in recipes.items():
        margs[m] = dict(r.get("method_args") or {})
        method_config(get_method(m), margs[m])  # an unknown method or option: one line naming it
    return shared, margs


def check_recipe(path) -> object:
    """Resolve one ``train --config`` recipe as ``train`` would and check the names in it: the method and its
    options, the task (or each task of a mixture) and the TrainConfig values. The model is not loaded (it may be
    a hub id this machine cannot reach). Returns the TrainConfig; a bad name is one UserError naming the file."""
    from ..config import load_yaml, resolve
    from ..methods import get_method, method_config
    from ..train.config import TrainConfig

    data = load_yaml(str(path), "train")
    cfg = resolve(TrainConfig, data, where=str(path))
    try:
        cfg.check()  # the method's name, budget, sampling
        method_config(get_method(cfg.method), cfg.method_args)
        check_task_names(cfg.task, "task")
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    return cfg


def check_task_names(spec: str, what: str) -> None:
    """Every name of a task, a mixture (``a,b``) or a group list (``math6,code3``) is a registered task or group."""
    from ..tasks.groups import expand_tasks

    try:
        expand_tasks(spec)
    except UserError as e:
        raise UserError(f"{what} {spec!r}: {e}") from None


def train_layer(profile: str) -> dict:
    """The train settings of a profile (``train --profile``): the recipes' shared budget under the profile's own."""
    from .profiles import PROFILES

    prof = PROFILES[profile]
    base = shared_settings(prof["recipes"])[0] if prof.get("recipes") else {}
    return base | dict(prof.get("train") or {})


def check_model(ref: str, what: str) -> None:
    """A model reference that cannot serve: a missing local path, or a tokenizer that does not load (an HF id neither
    cached nor reachable). One line, before any output is written."""
    from ..models import load_tokenizer, resolve

    try:
        load_tokenizer(resolve(ref))
    except UserError as e:
        raise UserError(f"{what} {ref!r}: {e}") from None


def check_models(run, pc) -> None:
    """``run --model`` / ``--proposal`` (and a recipe profile's model): both load, and a proposal shares the policy's tokenizer (its densities are
    scored on pi_ref's token ids)."""
    from ..models import load_tokenizer, resolve
    from .profiles import PROFILES

    if run.model is None and run.proposal is None and not PROFILES[run.profile].get("recipes"):
        return  # the embedded profiles: their models are built in the run's first stage

    check_model(pc.ref, "--model" if run.model is not None else "model (the profile's; --model replaces it)")
    if pc.proposal != pc.ref and pc.proposal_mix > 0:
        check_model(pc.proposal, "--proposal")
        if load_tokenizer(resolve(pc.proposal)).get_vocab() != load_tokenizer(resolve(pc.ref)).get_vocab():
            raise UserError(f"--proposal {pc.proposal!r} and --model {pc.ref!r} must share a tokenizer (the proposal's "
                            f"samples are scored under pi_ref token by token)")


def stage_layers(run) -> dict[str, list]:
    """``{stage: [layer, ...]}`` for propose, anchor, train and eval (lowest first; ``resolve`` merges them), plus
    ``"eval_all_prompts"``: True when the profile asks for every prompt of each benchmark (``n_prompts: None``) and
    the run config does not set a count."""

    from ..config import Flags, resolve
    from ..train.config import TrainConfig
    from .profiles import PROFILES

    if run.proposal is not None and run.model is None:
        raise UserError("--proposal needs --model (the policy pi_ref it proposes for; it must share its tokenizer)")
    prof = PROFILES[run.profile]
    seed = {"seed": run.seed}
    model_flag = Flags({"model": run.model}) if run.model is not None else {}
    recipes = prof.get("recipes")
    shared, margs = shared_settings(recipes) if recipes else ({}, {})
    train = [shared, prof.get("train"), run.train, seed, model_flag]
    derived_p, derived_e = {}, {}
    if recipes or run.model is not None:
        tc = resolve(TrainConfig, *train, where="run.train")
        derived_p = {"ref": tc.model, "template": tc.template}
        if recipes:
            derived_p |= {"task": tc.task, "max_new_tokens": tc.max_new_tokens}
            derived_e = {"max_new_tokens": tc.max_new_tokens, "template": tc.template}
        if run.proposal is None:
            derived_p |= {"proposal": tc.model, "proposal_mix": 0.0}
    prop_flag = Flags({k: v for k, v in {"ref": run.model, "proposal": run.proposal}.items() if v is not None})
    if recipes:  # each recipe's options for its method, under the profile's and the run config's
        pm = prof.get("method_args") or {}
        for m in sorted({_method_of(run, r) for r in run.methods}):
            args = margs.get(m, {}) | dict(pm.get(m) or {}) | dict(run.method_args.get(m) or {})
            if args:
                run.method_args = dict(run.method_args) | {m: args}
    if recipes or run.model is not None:
        check_task_names(tc.task, "run.train: task")
    ev = dict(prof.get("eval") or {})
    from ..eval.config import EvalConfig

    e = resolve(EvalConfig, derived_e, ev, run.eval, seed, where="run.eval")
    check_task_names(e.tasks or e.task, "run.eval: tasks")  # before hours of training, not after
    all_prompts = "n_prompts" in ev and ev["n_prompts"] is None and (run.eval or {}).get("n_prompts") is None
    return {"propose": [derived_p, prof.get("propose"), run.propose, seed, prop_flag],
            "anchor": [prof.get("anchor"), run.anchor, seed],
            "train": train,
            "eval": [derived_e, ev, run.eval, seed],
            "eval_all_prompts": all_prompts}


def _method_of(run, row: str) -> str:
    from .variants import row_spec

    return row_spec(run, row)["method"]


def has_sweep(run) -> bool:
    """Whether the run's profile has a β × proposal-strength sweep (the recipe profiles have none)."""
    from .profiles import PROFILES

    return PROFILES[run.profile].get("sweep") is not None
