"""``disa-bench run``: the paper's whole comparison on the embedded default, ending in a paper-style report.

base models -> one shared proposal store -> anchor (frozen log Z) -> eval base -> for each method (every
registered one by default: DISA, FlowRL, GRPO, GSPO, LoRA-SFT): train with the same budget, eval on the held-out
split -> judge
(offline diversity measures; the LLM judge too when an endpoint is configured) -> sweep (β × proposal
strength, anchors only) -> ``report/`` (Markdown, LaTeX, HTML, JSON, PNG figures, claims table).

Every stage writes into its own sub-directory with its own manifest; the run's manifest records the per-stage
wall time. The stages are the same functions the single commands call, so ``disa-bench report RUN_DIR``
re-renders the report from the files. The pipeline never names a method: the method list comes from the
registry, and a method's options are ``train.method_args`` (every method), then ``method_args: {name: {...}}``
(one method), then what the method takes from the run's anchor config (``Method.run_defaults``: DISA's beta
and units) unless given.

Rows and seeds (``experiments/variants.py``): ``--methods`` names rows, each a method or a variant (a method plus
settings under its own name: ``disa-offline``, ``flowrl-exact``, ``disa-ln``, or a run config's ``variants:``);
the run builds one anchor per distinct (units, beta) its rows need, from the same store; ``--seeds 0,1,2``
trains and evaluates every row once per seed (``train/<row>/seed<s>/``, ``eval/<row>/seed<s>/``), one seed
keeps ``train/<row>/``, ``eval/<row>/``.

Resume (``--resume``, :class:`Stages`): a stage whose manifest exists, whose config equals the manifest's recorded
config, and none of whose inputs was re-made in this invocation is skipped (its outputs are read back); a train
stage that was cut short continues from its newest checkpoint (``train/checkpoint.py``); a stage whose config
changed re-runs, and so does everything that reads its outputs. The report is always re-rendered. Without
``--resume`` every stage runs afresh (old checkpoints are discarded).

Trackers (``--report-to``): one tracker run per trained method (``OUT/<tracker>/<method>``, grouped by the run)
gets the per-step training metrics and, at the last step, the method's eval results (``eval/...``); the base
model's eval goes to a run named ``base`` at step 0.

Simplifications, stated: the RL methods train online (methods.md §6 #8) for the same number of steps,
prompts per step, rollouts per prompt, learning rate, LoRA config and seed; LoRA-SFT reads the shared store's
correct trajectories for the same number of steps. Every method takes 4 optimizer steps per rollout
batch at the same lr. The default budget (200 steps x 16 prompts x 8) is what
fits the 20-minute target on 2 CPU cores with all five methods.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..anchor.estimators import AnchorConfig
from ..config import resolve
from ..errors import UserError
from ..eval.config import EvalConfig
from ..store.propose import ProposeConfig
from ..train.config import TrainConfig

from .profiles import PROFILES, all_methods
from .variants import plan as plan_rows, write_rows


@dataclass
class RunConfig:
    profile: str = "default"
    seed: int = 0
    methods: list | None = None  # rows: methods or variants (experiments/variants.py); None: the profile's, else every registered method
    seeds: list | None = None  # training seeds (--seeds 0,1,2: every row once per seed); None: the profile's, else [seed]
    variants: dict = field(default_factory=dict)  # extra rows {name: {method, method_args, note, data, ...}}
    model: str | None = None  # --model: the policy / pi_ref of every stage (experiments/recipes.py); None: the profile's
    proposal: str | None = None  # --proposal: the strong proposal q_s (needs --model); None: the model itself, mix 0
    workers: int | None = None  # (row, seed) jobs in this many worker processes (cores split evenly); None: the profile's
    tune: str = "committed"  # lrs per row: committed | run (--tune: tune now) | none | PATH/tune.json (experiments/tune.py)
    tune_grid: dict = field(default_factory=dict)  # TuneConfig fields over the profile's (lrs, steps, seed, n_prompts)
    sweep_enabled: bool = True  # --no-sweep skips the β × proposal-strength grid
    propose: dict = field(default_factory=dict)
    anchor: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    eval: dict = field(default_factory=dict)
    judge: dict = field(default_factory=dict)  # JudgeConfig fields; base_url + model turn the LLM judge on
    sweep: dict = field(default_factory=dict)  # SweepConfig fields
    method_args: dict = field(default_factory=dict)  # {method: {option: value}}, over train.method_args

    def check(self) -> None:
        from .variants import check_rows

        prof = PROFILES.get(self.profile, {})
        if self.methods is None:
            self.methods = list(prof.get("methods") or all_methods())
        if self.seeds is None and prof.get("seeds") is not None:
            self.seeds = list(prof["seeds"])

        check_rows(self)  # rows are methods or variants, options valid for their method, seeds parse
        from .tune import check_mode

        check_mode(self)
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1):
            raise UserError(f"run.workers must be an integer >= 1 (worker processes for the trainings), got {self.workers!r}")


def stage_configs(run: RunConfig):
    if run.profile not in PROFILES:
        raise UserError(f"unknown --profile {run.profile!r}; valid: {', '.join(PROFILES)}")
    run.check()
    from .recipes import stage_layers

    L = stage_layers(run)  # profile (and its recipes) < run config < --model/--proposal, per stage
    pc = resolve(ProposeConfig, *L["propose"], where="run.propose")
    ac = resolve(AnchorConfig, *L["anchor"], where="run.anchor")
    tc = resolve(TrainConfig, *L["train"], where="run.train")
    ec = resolve(EvalConfig, *L["eval"], where="run.eval")
    if L["eval_all_prompts"]:
        ec.n_prompts = None  # every prompt of each benchmark
    return pc, ac, tc, ec


def judge_config(run: RunConfig):
    from ..judge.llm import JudgeConfig

    jc = resolve(JudgeConfig, run.judge, where="run.judge")
    jc.check()
    return jc


def sweep_config(run: RunConfig, pc: ProposeConfig):
    from .sweep import SweepConfig

    base = {"task": pc.task, "proposal": pc.proposal, "ref": pc.ref, "seed": run.seed}
    sc = resolve(SweepConfig, base, PROFILES[run.profile].get("sweep"), run.sweep, where="run.sweep")
    sc.check()
    return sc


class Stages:
    """Which stages ``--resume`` may skip: a stage is up to date when its ``manifest.json`` (and the named output
    files) exist, the manifest's ``config`` holds the same values as the config about to be used (JSON-normalized),
    and none of the stages it reads was run in this invocation. Every stage not skipped is recorded as run."""

    def __init__(self, resume: bool, say):
        self.resume, self.say, self.ran = resume, say, set()

    def skip(self, name: str, d: Path, config: dict, needs=(), deps=()) -> bool:
        if self.resume and not (set(deps) & self.ran) and _same_config(Path(d), config) \
                and all((Path(d) / f).exists() for f in needs):
            self.say(f"  {name}: up to date, skipped", markup=False, soft_wrap=True)
            return True
        self.ran.add(name)
        return False


def _same_config(d: Path, config: dict) -> bool:
    try:
        recorded = json.loads((d / "manifest.json").read_text()).get("config")
    except (OSError, ValueError):
        return False
    want = json.loads(json.dumps(config, default=str))
    return isinstance(recorded, dict) and all(recorded.get(k, _MISSING) == v for k, v in want.items())


_MISSING = object()


def run_pipeline(run: RunConfig, out: Path, console=None, resume: bool = False, report_to: str = "none",
                 tune_only: bool = False) -> Path:
    """The run into ``out``; returns the report's path (``tune_only``: stop after tuning, return tune.json's)."""
    from ..world.embedded import ensure_embedded
    from ..judge import run_judge
    from ..manifest import Manifest
    from ..report import build_report
    from ..progress import bar
    from ..anchor.stage import anchor_stage
    from ..eval.stage import eval_stage
    from ..store.stage import propose_stage
    from .sweep import run_sweep
    from .tune import load_tuning, tune_config

    from ..anchor.options import AnchorOptions
    from ..train.trackers import check as check_tracker, eval_scalars, open_tracker, tracker_dir

    say = console.print if console else (lambda *a, **k: None)
    pc, ac, tc, ec = stage_configs(run)
    jc = judge_config(run)
    from .recipes import check_models, has_sweep

    check_models(run, pc)  # --model / --proposal load and share a tokenizer: one line before anything is written
    sc = sweep_config(run, pc) if run.sweep_enabled and has_sweep(run) else None
    check_tracker(report_to)
    out = Path(out)
    rows = plan_rows(run, ac, tc, out / "propose" / "store.parquet", out)  # every (row, seed) resolved and checked now
    tcfg = tune_config(run) if run.tune == "run" else None  # the grid, or the tuning to read: checked before any work
    tuning = None if tcfg else load_tuning(run)
    stages = Stages(resume, say)
    trk_root = tracker_dir(out, report_to)

    def log_eval(name: str, results: dict, step: int, config: dict) -> None:
        if report_to != "none":
            t = open_tracker(report_to, trk_root, name, config, start_step=step, group=out.name)
            t.log({"eval": eval_scalars(results)}, step)
            t.close()

    resolved = {"propose": asdict(pc), "anchor": asdict(ac), "train": asdict(tc), "eval": asdict(ec), "judge": jc.public(),
                "sweep": asdict(sc) if sc else None}
    m = Manifest("run", asdict(run) | {"resolved": resolved}, run.seed)
    if resume:
        m.data["resumed"] = True
    n_stages = (3 if tune_only else 6 + (1 if sc else 0)) + (1 if run.tune == "run" else 0)
    step = iter(range(1, n_stages + 1))

    def head(title, detail=""):
        say(f"[bold]{next(step)}/{n_stages} {title}[/] {detail}".rstrip(), soft_wrap=True)

    with m.phase("base"):
        for name in [n for n in ("base", "teacher") if f"embedded:{n}" in (pc.ref, pc.proposal, tc.model)]:
            with bar(f"base: building embedded:{name}", None) as adv:
                ensure_embedded(name, progress=adv)
    head("propose", f"{pc.n_prompts} prompts x {pc.k} from {pc.proposal} (mix {pc.proposal_mix})")
    with m.phase("propose"):
        from dataclasses import replace

        from ..store.propose import temperature_ladder

        one = replace(pc, temperature=temperature_ladder(pc.temperature)[0])  # what its manifest records
        if not stages.skip("propose", out / "propose", asdict(one), needs=["store.parquet"]):
            propose_stage(pc, out / "propose")
    store = out / "propose" / "store.parquet"
    head("anchor", "; ".join(f"{a.cfg.estimator} / {a.cfg.units} units, beta {a.cfg.beta}" for a in rows.anchors))
    with m.phase("anchor"):
        for a in rows.anchors:  # the run's anchor, then one per other (units, beta) a row needs
            if not stages.skip(a.stage, a.dir, asdict(a.cfg) | {"store": str(store)} | asdict(AnchorOptions()),
                               needs=["anchor.parquet"], deps=["propose"]):
                anchor_stage(a.cfg, store, a.dir)
    workers = run.workers or PROFILES[run.profile].get("workers", 1)

    def run_jobs(jobs, root: Path, eval_over: dict, tag: str, on_done) -> list[str]:
        """Train + eval each job into root/train|eval/<key> (skipping what --resume finds up to date), in this
        process or in ``workers`` worker processes; ``on_done(spec, eval_results)`` in job order."""
        specs = []
        for job in jobs:  # key: <row>, <row>/seed<s> or <row>/lr<lr> (experiments/variants.py, tune.py)
            key, t = job.key, job.train
            e = resolve(EvalConfig, asdict(ec), {"model": tc.model, "adapter": str(root / "train" / key / "adapter")},
                        eval_over)
            skip_train = stages.skip(f"{tag}train:{key}", root / "train" / key, asdict(t),
                                     needs=["summary.json", "adapter"], deps=["propose", "anchor", job.anchor_stage])
            skip_eval = stages.skip(f"{tag}eval:{key}", root / "eval" / key, asdict(e),
                                    needs=["results.json", "samples.jsonl"], deps=[f"{tag}train:{key}"])
            specs.append(_JobSpec(key, job.label, t, e, root, skip_train, skip_eval, resume, report_to if not tag else "none",
                                  str(trk_root) if trk_root else None, out.name, _threads(workers)))
        results = {}

        def done(spec: "_JobSpec", res: dict) -> None:
            for name, sec in res["timings"].items():
                name = tag + name
                m.data["timings"][name] = round(m.data["timings"].get(name, 0.0) + sec, 3)
            for msg in res["said"]:
                say(f"  {msg}", markup=False, soft_wrap=True)
            results[spec.key] = res["eval"]
            if workers > 1:
                on_done(spec, res["eval"])

        if workers == 1 or len(specs) <= 1:
            for spec in specs:
                done(spec, _run_job(spec, say=lambda msg: say(f"  {msg}", markup=False, soft_wrap=True)))
                if workers == 1:
                    on_done(spec, results[spec.key])
        else:
            with m.phase(f"{tag}train+eval (parallel wall)"):
                _run_parallel(specs, workers, done)
        return {s.key: results[s.key] for s in specs}  # job order, whatever finished first

    if tcfg is not None:
        from .tune import cell_key, tune_record, write_tuning

        head("tune", f"lr {', '.join(f'{x:g}' for x in tcfg.lrs)} x {len(run.methods)} rows, {tcfg.steps} steps each, "
             f"seed {tcfg.seed}, val Mean@{ec.k} on {tcfg.n_prompts} prompts")
        grid = plan_rows(run, ac, replace(tc, steps=tcfg.steps), store, out, seeds=[tcfg.seed],
                         lr_grid=tcfg.lrs)
        val = {"split": tcfg.split, "n_prompts": tcfg.n_prompts}
        with m.phase("tune"):
            eb = resolve(EvalConfig, asdict(ec), {"model": tc.model}, val)
            base_val = _eval(stages, "tune:eval:base", eb, out / "tune" / "eval" / "base", (), eval_stage)
            cells: dict = {}
            key_of = {cell_key(j.row, j.train.lr): (j.row, j.train.lr) for j in grid.jobs}

            def cell_done(spec, res):
                row, lr = key_of[spec.key]
                cells.setdefault(row, {})[f"{lr:g}"] = {"mean": res[f"mean@{ec.k}"], "ci": res.get(f"mean@{ec.k}_ci")}
                say(f"  tune {spec.key}: val Mean@{ec.k} {res[f'mean@{ec.k}']:.1f}", markup=False)

            run_jobs(grid.jobs, out / "tune", val, "tune:", cell_done)
            tuning = tune_record(tcfg, tc, ec.k, {r: cells[r] for r in run.methods}, list(run.methods),
                                 {"mean": base_val[f"mean@{ec.k}"], "ci": base_val.get(f"mean@{ec.k}_ci")})
            tuning["source"] = "tuned in this run (run --tune)"
            write_tuning(tuning, out / "tune")
        if tune_only:
            m.write(out, summary={"chosen": tuning["chosen"]})
            return out / "tune" / "tune.json"
    elif tuning is not None:
        from .tune import write_tuning

        write_tuning(tuning, out / "tune")
    if tuning is not None:
        rows = plan_rows(run, ac, tc, store, out, lrs=tuning["chosen"])
    head("eval base")
    evals = {}
    with m.phase("eval:base"):
        ebase = resolve(EvalConfig, asdict(ec), {"model": tc.model})
        evals["base"] = _eval(stages, "eval:base", ebase, out / "eval" / "base", (), eval_stage)
        log_eval("base", evals["base"], 0, asdict(ebase))
    head("train + eval", f"{', '.join(run.methods)}: each {tc.steps} steps x {tc.prompts_per_step} prompts x {tc.n}"
         + (f", seeds {','.join(map(str, rows.seeds))}" if len(rows.seeds) > 1 else ""))
    write_rows(rows, out)

    def job_done(spec, res):
        evals[spec.key] = res
        log_eval(spec.label, res, spec.train.steps, asdict(spec.train))
        say(f"  {spec.key}: Mean@{ec.k} {res[f'mean@{ec.k}']:.1f} (base {evals['base'][f'mean@{ec.k}']:.1f})")

    got = run_jobs(rows.jobs, out, {}, "", job_done)
    for key in got:  # base first, then the jobs in plan order (workers finish in any order)
        evals.pop(key, None)
    evals.update(got)
    head("judge", (f"LLM judge {jc.model} at {jc.base_url} + offline measures" if jc.configured
                        else "offline diversity measures (no --judge-base-url)"))
    with m.phase("judge"):
        for name in evals:
            ed = out / "eval" / name
            if not stages.skip(f"judge:{name}", ed / "judge", jc.public() | {"eval_dir": str(ed)}, needs=["summary.json"],
                               deps=[f"eval:{name}"]):
                run_judge(ed, ed / "judge", jc, warn=lambda msg: say(msg, markup=False))
    if sc:
        head("sweep", f"β {','.join(f'{b:g}' for b in sc.betas)} x α {','.join(f'{a:g}' for a in sc.alphas)}, "
             f"{sc.n_prompts} prompts x {sc.k}")
        with m.phase("sweep"):
            if not stages.skip("sweep", out / "sweep", asdict(sc), needs=["sweep.json"]):
                run_sweep(sc, out / "sweep")
    head("report")
    with m.phase("report"):
        title = (f"disa-bench embedded run ({run.profile} profile)" if tc.model.startswith("embedded:")
                 else f"disa-bench run ({run.profile} profile, {tc.model})")
        rep = build_report([out], out / "report", title=title,
                           warn=lambda msg: say(msg, markup=False))
    k = ec.k
    m.write(out, summary={"mean@k": {name: {f"mean@{k}": r[f"mean@{k}"], "ci": r.get(f"mean@{k}_ci")} for name, r in evals.items()},
                          "claims": {c["id"]: c["verdict"] for c in rep["claims"]}})
    return out / "report" / "report.md"


@dataclass
class _JobSpec:
    """One (row, seed): train then eval, in this process or a worker process (everything here pickles)."""

    key: str
    label: str
    train: TrainConfig
    eval: EvalConfig
    out: Path
    skip_train: bool
    skip_eval: bool
    resume: bool
    report_to: str
    tracker_root: str | None
    group: str
    threads: int | None


def _threads(workers: int) -> int | None:
    """Torch threads per worker: the machine's cores split evenly (None: one process, torch's own default)."""
    import os

    if workers <= 1:
        return None
    return max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) // workers)


def _run_job(spec: _JobSpec, say=None) -> dict:
    """Train (unless up to date) and eval one job; returns its eval results, per-stage seconds and notices.
    Thread count does not change the numbers: training and sampling are bitwise identical at 1 and 2 torch
    threads on this model (tests/test_workers.py runs a run with 1 and 2 workers and compares)."""
    import time

    from ..eval.stage import eval_stage
    from ..train.stage import train_stage

    said, timings = [], {}
    tell = say or said.append
    if spec.threads is not None:
        import torch

        torch.set_num_threads(spec.threads)
    t0 = time.time()
    if not spec.skip_train:
        train_stage(spec.train, spec.out / "train" / spec.key, resume=None if spec.resume else False,
                    report_to=spec.report_to, tracker_root=Path(spec.tracker_root) if spec.tracker_root else None,
                    name=spec.label, group=spec.group, say=tell)
    timings[f"train:{spec.key}"] = time.time() - t0
    t0 = time.time()
    d = spec.out / "eval" / spec.key
    if spec.skip_eval:
        res = json.loads((d / "results.json").read_text())
    else:
        res = eval_stage(spec.eval, d)
    timings[f"eval:{spec.key}"] = time.time() - t0
    return {"eval": res, "timings": timings, "said": said}


def _worker_init() -> None:
    import os
    import signal

    os.environ["DISA_BENCH_QUIET"] = "1"  # one progress bar (the parent's, over jobs), not one per worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops the workers (SIGTERM)


def _run_parallel(specs: list, workers: int, done) -> None:
    """Jobs in ``workers`` spawned processes; results are handed to ``done`` in completion order. The numbers do
    not depend on ``workers`` (each job seeds itself; see _run_job). Ctrl-C or a failing job stops the others:
    a worker's training checkpoints on SIGTERM like a foreground one (train/resume.py), so ``--resume`` continues."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    from ..progress import bar

    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=ctx, initializer=_worker_init)
    try:
        with bar(f"train + eval: {len(specs)} jobs in {min(workers, len(specs))} worker processes", len(specs)) as adv:
            futs = {pool.submit(_run_job, s): s for s in specs}
            pending = set(futs)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in finished:
                    done(futs[f], f.result())  # re-raises a worker's exception (a UserError keeps its message)
                    adv(1)
    except BaseException:
        for p in list(getattr(pool, "_processes", {}).values()):
            if p.is_alive():
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _eval(stages: Stages, name: str, cfg: EvalConfig, d: Path, deps, eval_stage) -> dict:
    """Run the eval stage into ``d``, or read its results back when ``--resume`` finds it up to date."""
    if stages.skip(name, d, asdict(cfg), needs=["results.json", "samples.jsonl"], deps=deps):
        return json.loads((d / "results.json").read_text())
    return eval_stage(cfg, d)


def load_run_config(path: str | None, overrides: dict) -> RunConfig:
    from ..config import load_yaml

    data = load_yaml(path)
    if "run" in data and isinstance(data["run"], dict):
        data = data["run"] | {k: v for k, v in data.items() if k != "run"}
    return resolve(RunConfig, data, overrides, where=path or "run")


def dump(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
