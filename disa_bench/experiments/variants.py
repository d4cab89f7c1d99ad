"""Rows and seeds of ``disa-bench run``: which trainings a run makes, from which anchors, into which dirs.

A **row** is a name the report prints: a registered method (its Config defaults) or a **variant**, a method plus
settings (``profiles.VARIANTS``: ``disa-offline``, ``flowrl-exact``, ``disa-ln``; a run ``--config`` adds its own
under ``variants:``). ``--methods`` lists rows. A row's method options are, later winning:
``train.method_args`` (every row), ``method_args: {METHOD: ...}`` (every row of that method), the variant's own
``method_args``, ``method_args: {ROW: ...}`` (that row), and last, unless given, what the method takes from the
run's anchor config (``Method.run_defaults``: DISA's beta and units). A variant's other keys are TrainConfig
fields (``data: offline``) applied over the run's train config.

**Anchors**: the run's anchor (``anchor/``) serves every row whose method needs one with the run's settings; a
row that needs another (``Method.anchor_settings``: DISA-LN's LN units, beta 15) gets one per distinct setting,
``anchor-<units>-beta<b>/``, from the same store (the run's store, estimator and seed).

**Seeds** (``--seeds 0,1,2``): every row is trained once per seed on the same store and anchors. With one seed the
layout is ``train/<row>/`` and ``eval/<row>/`` (as before seeds existed, so a default run's outputs are unchanged);
with several, ``train/<row>/seed<s>/`` and ``eval/<row>/seed<s>/``, which the report reads as one row per variant
(report/seeds.py). Only the training seed varies: the store, the anchors, the base model's eval and every
eval's sampling seed use the run's ``--seed``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UserError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_NOT_TRAIN = ("store", "anchor", "seed", "method", "method_args")  # set by the run, not by a variant


@dataclass
class AnchorJob:
    stage: str  # "anchor" (the run's) or "anchor:<units>-beta<b>"
    cfg: object  # AnchorConfig
    dir: Path


@dataclass
class Job:
    row: str
    method: str
    seed: int
    key: str  # dir under train/ and eval/: "<row>" or "<row>/seed<s>"
    train: object  # TrainConfig, checked
    anchor_stage: str  # the anchor stage it reads ("anchor" when it reads none: every job depends on the run's)
    note: str | None = None

    @property
    def label(self) -> str:
        """Its name for trackers and progress lines (no slash)."""
        return self.key.replace("/", "-")


@dataclass
class Plan:
    anchors: list[AnchorJob]
    jobs: list[Job]
    seeds: list[int]
    rows: dict = field(default_factory=dict)  # row -> {method, method_args, data, note, anchor}: variants.json


def variant_table(run) -> dict[str, dict]:
    """Every variant a run can name: the built-ins, then the run config's ``variants:`` (checked)."""
    from ..methods import method_names
    from .profiles import VARIANTS

    extra = run.variants
    if not isinstance(extra, dict):
        raise UserError(f"run.variants must map a row name to {{method: ..., method_args: ...}}, got {extra!r}")
    methods = set(method_names())
    table = {}
    for name, spec in {**VARIANTS, **extra}.items():
        name = str(name)
        if not _NAME.match(name) or name == "base" or re.match(r"^seed\d+$", name):
            raise UserError(f"run.variants: {name!r} is not a usable row name (letters, digits, . _ + -; not 'base' "
                            f"or seed<N>)")
        if name in methods:
            raise UserError(f"run.variants: {name!r} is a method's name; give the variant a name of its own")
        table[name] = _check_spec(name, spec)
    return table


def _check_spec(name: str, spec) -> dict:
    from ..methods import get_method
    from ..train.config import TrainConfig

    if not isinstance(spec, dict) or "method" not in spec:
        raise UserError(f"variant {name!r} must be a mapping with at least a method: NAME, got {spec!r}")
    allowed = {"method", "method_args", "note"} | ({f.name for f in fields(TrainConfig)} - set(_NOT_TRAIN))
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise UserError(f"variant {name!r}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}")
    get_method(spec["method"])  # unknown method -> one line listing the valid ones
    if not isinstance(spec.get("method_args") or {}, dict):
        raise UserError(f"variant {name!r}: method_args must be a mapping of option: value, got {spec['method_args']!r}")
    if spec.get("note") is not None and not isinstance(spec["note"], str):
        raise UserError(f"variant {name!r}: note must be a string, got {spec['note']!r}")
    return dict(spec)


def parse_seeds(run) -> list[int]:
    """The training seeds: ``run.seeds`` (a list or "0,1,2"), else ``[run.seed]``."""
    from ..config import check_seed

    seeds = run.seeds
    if seeds is None:
        return [run.seed]
    if isinstance(seeds, str):
        try:
            seeds = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seeds must be a comma list of integers, got {run.seeds!r}") from None
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise UserError(f"--seeds must list at least one seed, got {run.seeds!r}")
    for s in seeds:
        check_seed(s, "--seeds")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds lists a seed twice: {','.join(map(str, seeds))}")
    return list(seeds)


def check_rows(run) -> None:
    """``RunConfig.check``: rows (``--methods``) are methods or variants, no row twice, ``method_args`` keys name a
    run row or its method, every option is valid for its method, and the seeds parse. Normalises ``run.methods``
    to a list and ``run.seeds`` to a list (or None)."""
    from ..methods import get_method, method_config, method_names

    if isinstance(run.methods, str):
        run.methods = [m.strip() for m in run.methods.split(",") if m.strip()]
    table = variant_table(run)
    valid = method_names() + list(table)
    if not run.methods:
        raise UserError("--methods is empty; valid: " + ", ".join(valid))
    for m in run.methods:
        if m not in table:
            try:
                get_method(m)
            except UserError:
                raise UserError(f"unknown row {m!r} in --methods; valid: {', '.join(valid)} (methods and variants)") from None
    if len(set(run.methods)) != len(run.methods):
        raise UserError(f"--methods lists a row twice: {','.join(run.methods)}")
    if run.seeds is not None:
        run.seeds = parse_seeds(run)
    if not isinstance(run.method_args, dict):
        raise UserError(f"run.method_args must map a method or row name to its options, got {run.method_args!r}")
    run_methods = {table[r]["method"] if r in table else r for r in run.methods}
    for m, args in run.method_args.items():
        if m not in run.methods and m not in run_methods:
            raise UserError(f"run.method_args names {m!r}, which is neither a row nor the method of a row that is run; "
                            f"--methods: {','.join(run.methods)}")
        if not isinstance(args, dict):
            raise UserError(f"run.method_args.{m} must be a mapping of option: value, got {args!r}")
        method = table[m]["method"] if m in table else m
        method_config(get_method(method), args)  # unknown option -> one line listing the valid ones


def row_spec(run, row: str) -> dict:
    """``{method, method_args, note, **train overrides}`` of a row (a bare method: its name, no settings)."""
    table = variant_table(run)
    return dict(table[row]) if row in table else {"method": row}


def plan(run, ac, tc, store: Path, out: Path, lrs: dict | None = None, seeds: list | None = None,
         lr_grid: list | None = None) -> Plan:
    """Every anchor and every (row, seed) training of the run, resolved and checked before any stage runs. ``lrs``
    (row -> lr, from a tuning: experiments/tune.py) replaces the profile's shared lr of the rows it names, unless
    the run config's ``train`` or the variant sets ``lr`` itself. ``lr_grid`` (tuning) makes one job per (row, lr)
    instead, keyed ``<row>/lr<lr>``, for the given ``seeds``."""
    from ..config import resolve
    from ..methods import get_method, method_config
    from ..train.config import TrainConfig

    grid = lr_grid is not None
    seeds = list(seeds) if seeds is not None else parse_seeds(run)
    anchors = [AnchorJob("anchor", ac, out / "anchor")]
    jobs, rows = [], {}
    for row in run.methods:
        spec = row_spec(run, row)
        method = spec["method"]
        cls = get_method(method)
        args = dict(tc.method_args) | dict(run.method_args.get(method) or {}) | dict(spec.get("method_args") or {})
        if row != method:
            args |= dict(run.method_args.get(row) or {})
        for k, v in cls.run_defaults(ac).items():
            args.setdefault(k, v)
        anchor = anchors[0]
        if "anchor" in cls.needs:
            settings = cls(method_config(cls, args)).anchor_settings()
            a = replace(ac, **settings)
            if asdict(a) != asdict(ac):
                a.check()
                tag = "-".join(str(v) if isinstance(v, str) else f"{k}{v:g}" for k, v in settings.items())
                anchor = next((x for x in anchors if asdict(x.cfg) == asdict(a)), None) \
                    or AnchorJob(f"anchor:{tag}", a, out / f"anchor-{tag}")
                if anchor not in anchors:
                    anchors.append(anchor)
        over = {k: v for k, v in spec.items() if k not in ("method", "method_args", "note")}
        lr_source = "variant" if "lr" in over else "run config" if "lr" in (run.train or {}) else "shared"
        if lrs and row in lrs and lr_source == "shared":
            over["lr"], lr_source = lrs[row], "tuned"
        for s in seeds:
            for lr in (lr_grid if grid else [None]):
                key = f"{row}/lr{lr:g}" if grid else row if len(seeds) == 1 else f"{row}/seed{s}"
                set_ = {"method": method, "store": str(store), "method_args": args,
                        "anchor": str(anchor.dir / "anchor.parquet"), "seed": s} | ({"lr": lr} if grid else {})
                t = resolve(TrainConfig, asdict(tc), over, set_, where=f"row {row!r}")
                t.check()
                jobs.append(Job(row, method, s, key, t, anchor.stage, spec.get("note")))
        rows[row] = {"method": method, "method_args": args, "data": jobs[-1].train.data, "note": spec.get("note"),
                     "lr": jobs[-1].train.lr, "lr_source": lr_source,
                     "anchor": str(anchor.dir / "anchor.parquet") if "anchor" in cls.needs else None}
    return Plan(anchors, jobs, seeds, rows)


def write_rows(p: Plan, out: Path) -> None:
    """``OUT/variants.json``: each row's method, resolved options, data, note and anchor, and the seeds; the report
    reads the row notes from it."""
    from ..io import write_json

    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "variants.json", {"seeds": p.seeds, "rows": p.rows})
