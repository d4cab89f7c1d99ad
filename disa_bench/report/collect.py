"""Find and load everything a paper report needs from run dirs.

A RUN_DIR may be:
- a pipeline run dir (``eval/<name>/``, ``train/<name>/``, optional ``sweep/sweep.json``; ``variants.json``: the
  rows' methods and one-line notes, experiments/variants.py); ``<name>`` is a row: a method or a variant of one
  (``disa-offline`` is method ``disa`` trained offline), its method read from the train summary;
- one eval dir (``results.json`` with ``per_prompt``, ``samples.jsonl``, ``manifest.json``), or one with a
  ``seed<s>/`` eval dir per training seed (also ``eval/<name>/seed<s>/`` in a run dir; report/seeds.py);
- a multi-task eval dir (``results.json`` with ``tasks`` + one sub-dir per task);
- a train dir (``summary.json`` with ``method``): compute columns only;
- a sweep dir (``sweep.json`` from ``disa-bench sweep``).

Everything found becomes an :class:`Entry` (one row = a method, a variant of one, or the base model, one cell per
task). Method-specific lookups (the reference row, the claims) go through :meth:`Collection.by_method`, which
prefers the row named after the method (``disa``, not ``disa-ln``), and :meth:`Collection.by_row`.
Dirs without anything usable produce one warning line each and are listed as gaps.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


def method_order() -> tuple[str, ...]:
    """Row order: the base model, then the registered methods in registry order (other names after, by name)."""
    from ..methods import method_names

    return ("base", *method_names())


@dataclass
class TaskResult:
    task: str
    mean: float
    ci: tuple[float, float]
    per_prompt: dict[str, float]
    k: int
    split: str | None
    sampling: dict
    num_prompts: int
    eval_dir: Path
    results: dict
    manifest: dict | None = None
    samples_path: Path | None = None
    judge_summary: dict | None = None
    judge_rows: dict | None = None  # prompt_id -> judge.jsonl row
    seeds: list = field(default_factory=list)  # per-seed TaskResults when several training seeds (report/seeds.py)
    seed_labels: list = field(default_factory=list)

    @property
    def seed(self):
        s = self.sampling.get("seed")
        if s is None:
            s = (self.results.get("config") or {}).get("seed")
        return s


@dataclass
class Entry:
    name: str  # row label (the row name, plus the run dir's name when two run dirs have the same row)
    method: str  # disa, flowrl, grpo, gspo, sft, base or a dir name
    run_dir: Path
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    train: dict | None = None  # train summary.json
    train_dir: Path | None = None
    train_manifest: dict | None = None
    metrics: list[dict] = field(default_factory=list)  # metrics.jsonl rows
    gaps: list[str] = field(default_factory=list)
    train_seeds: list[dict] = field(default_factory=list)  # every seed's train summary (train/<name>/seed<s>/)
    metrics_seeds: list[list[dict]] = field(default_factory=list)  # every seed's metrics.jsonl rows (same order)
    row: str = ""  # the row / variant name as run (``name`` before any relabelling); "" = name
    note: str | None = None  # the variant's one-line note (variants.json)

    def __post_init__(self):
        self.row = self.row or self.name


@dataclass
class Collection:
    entries: list[Entry] = field(default_factory=list)
    sweeps: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    run_manifests: dict[str, dict] = field(default_factory=dict)

    def tasks(self) -> list[str]:
        seen: list[str] = []
        for e in self.entries:
            for t in e.tasks:
                if t not in seen:
                    seen.append(t)
        return seen

    def by_method(self, method: str) -> Entry | None:
        """The row of ``method`` with results: the one named after it, else the first of its variants."""
        own = self.by_row(method)
        if own is not None and own.method == method:
            return own
        return next((e for e in self.entries if e.method == method and e.tasks), None)

    def by_row(self, row: str) -> Entry | None:
        """The row called ``row`` (a method or variant name) with results."""
        return next((e for e in self.entries if e.row == row and e.tasks), None)

    def has_results(self) -> bool:
        return any(e.tasks for e in self.entries)


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    except OSError:
        pass
    return rows


def config_hash(cfg) -> str | None:
    if cfg is None:
        return None
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _load_task_result(d: Path, res: dict, task_name: str | None = None) -> TaskResult | None:
    k = (res.get("sampling") or {}).get("k") or (res.get("config") or {}).get("k") or 8
    key = f"mean@{k}"
    if key not in res:
        cands = [x for x in res if x.startswith("mean@") and not x.endswith("_ci")]
        if not cands:
            return None
        key = cands[0]
        k = int(key.split("@")[1])
    per_prompt = {str(p): float(v) for p, v in (res.get("per_prompt") or {}).items()}
    ci = res.get(f"{key}_ci") or [float("nan"), float("nan")]
    tr = TaskResult(task=task_name or res.get("task") or d.name, mean=float(res[key]), ci=(float(ci[0]), float(ci[1])),
                    per_prompt=per_prompt, k=int(k), split=res.get("split"), sampling=dict(res.get("sampling") or {}),
                    num_prompts=int(res.get("num_prompts") or len(per_prompt)), eval_dir=d, results=res)
    tr.manifest = read_json(d / "manifest.json")
    if (d / "samples.jsonl").is_file():
        tr.samples_path = d / "samples.jsonl"
    js = d / "judge" / "summary.json"
    if js.is_file():
        tr.judge_summary = read_json(js)
        jr = read_jsonl(d / "judge" / "judge.jsonl")
        tr.judge_rows = {str(r.get("prompt_id")): r for r in jr if "prompt_id" in r}
    return tr


def load_eval_dir(d: Path) -> dict[str, TaskResult]:
    """task -> TaskResult for a single- or multi-task eval dir; {} when it holds no usable results."""
    res = read_json(d / "results.json")
    if not isinstance(res, dict):
        return {}
    if "tasks" in res and isinstance(res["tasks"], dict) and "per_prompt" not in res:
        out = {}
        for t in res["tasks"]:
            sub = read_json(d / t / "results.json")
            if isinstance(sub, dict):
                tr = _load_task_result(d / t, sub, t)
                if tr is not None:
                    out[t] = tr
        return out
    tr = _load_task_result(d, res)
    return {tr.task: tr} if tr is not None else {}


def _method_of_eval(d: Path, tasks: dict[str, TaskResult]) -> tuple[str, Path | None]:
    """(method, train dir) for an eval dir: the train summary beside its adapter, else base / the dir name."""
    first = next(iter(tasks.values()), None)
    adapter = first.results.get("adapter") if first else None
    if adapter:
        tdir = Path(adapter).parent
        s = read_json(tdir / "summary.json")
        if isinstance(s, dict) and s.get("method"):
            return str(s["method"]), tdir
        return d.name, None
    if first is not None and d.name not in method_order():
        return "base", None
    return d.name, None


def _load_train(e: Entry, tdir: Path) -> None:
    """The train summary of ``tdir``; with ``seed<s>/`` sub-dirs the first seed's (all kept in train_seeds)."""
    from .seeds import seed_dirs

    s = read_json(tdir / "summary.json")
    if not isinstance(s, dict):
        seeded = [(p, read_json(p / "summary.json")) for _, p in seed_dirs(tdir)]
        seeded = [(p, x) for p, x in seeded if isinstance(x, dict) and "method" in x]
        if seeded:
            e.metrics_seeds = [read_jsonl(p / "metrics.jsonl") for p, _ in seeded]
            tdir, s = seeded[0]
            e.train_seeds = [x for _, x in seeded]
    if isinstance(s, dict) and "method" in s:
        e.train, e.train_dir = s, tdir
        e.train_manifest = read_json(tdir / "manifest.json")
        e.metrics = read_jsonl(tdir / "metrics.jsonl")
        e.train_seeds = e.train_seeds or [s]
        e.metrics_seeds = e.metrics_seeds or [e.metrics]


def load_eval_or_seeds(d: Path) -> dict[str, TaskResult]:
    """:func:`load_eval_dir`, else the seeds under ``d/seed<s>/`` combined (report/seeds.py)."""
    from .seeds import load_seeded_eval

    return load_eval_dir(d) or load_seeded_eval(d, load_eval_dir)


def collect(run_dirs: list[Path], warn=None) -> Collection:
    from .seeds import seed_dirs

    warn = warn or (lambda msg: None)
    col = Collection()

    def note(msg: str):
        col.warnings.append(msg)
        warn(msg)

    raw: list[Entry] = []
    for rd in run_dirs:
        rd = Path(rd)
        if not rd.is_dir():
            note(f"warning: {rd}: not a directory; skipped")
            col.gaps.append(f"{rd}: not a directory")
            continue
        found = False
        sw = None
        for cand in (rd / "sweep.json", rd / "sweep" / "sweep.json"):
            if cand.is_file():
                sw = read_json(cand)
                if isinstance(sw, dict) and sw.get("cells"):
                    sw["_path"] = str(cand)
                    col.sweeps.append(sw)
                    found = True
        if (rd / "eval").is_dir() or (rd / "train").is_dir():  # pipeline run dir
            m = read_json(rd / "manifest.json")
            if isinstance(m, dict):
                col.run_manifests[str(rd)] = m
            names = sorted({p.name for p in (rd / "eval").glob("*") if p.is_dir()} |
                           {p.name for p in (rd / "train").glob("*") if p.is_dir()})
            variants = read_json(rd / "variants.json")
            variants = variants.get("rows") if isinstance(variants, dict) and isinstance(variants.get("rows"), dict) else {}
            for name in names:
                v = variants.get(name) if isinstance(variants.get(name), dict) else {}
                e = Entry(name=name, method=str(v.get("method") or name), run_dir=rd, note=v.get("note"))
                ed = rd / "eval" / name
                if ed.is_dir():
                    e.tasks = load_eval_or_seeds(ed)
                if (rd / "train" / name).is_dir():
                    _load_train(e, rd / "train" / name)
                    if e.train and e.train.get("method"):
                        e.method = str(e.train["method"])
                if not e.tasks:
                    msg = f"{rd}: no results for {name!r} (no {ed / 'results.json'})"
                    note(f"warning: {msg}; its cells are left empty")
                    e.gaps.append(msg)
                    col.gaps.append(msg)
                if e.tasks or e.train:
                    raw.append(e)
                    found = True
        elif (rd / "results.json").is_file() or seed_dirs(rd):
            tasks = load_eval_or_seeds(rd)
            if tasks:
                method, tdir = _method_of_eval(rd, tasks)
                e = Entry(name=method, method=method, run_dir=rd, tasks=tasks)
                if tdir is not None:
                    _load_train(e, tdir)
                raw.append(e)
                found = True
        elif (rd / "summary.json").is_file():
            e = Entry(name=rd.name, method=rd.name, run_dir=rd)
            _load_train(e, rd)
            if e.train:
                e.method = e.name = e.row = str(e.train["method"])
                msg = f"{rd}: a train dir without eval results ({e.method})"
                note(f"warning: {msg}; only its compute columns are shown")
                e.gaps.append(msg)
                col.gaps.append(msg)
                raw.append(e)
                found = True
        if not found:
            msg = f"{rd}: no results.json, eval/*/results.json, train summary or sweep.json found"
            note(f"warning: {msg}; skipped")
            col.gaps.append(msg)
    _merge(raw, col)
    return col


def _merge(raw: list[Entry], col: Collection) -> None:
    """One row per row name (a method or variant): a train-only entry joins the eval entry of the same row; the same
    row from different run dirs gets the run dir's name in its label."""
    merged: list[Entry] = []
    for e in raw:
        same = [m for m in merged if m.row == e.row]
        if same and not e.tasks and same[0].train is None and e.train is not None:
            same[0].train, same[0].train_dir, same[0].metrics = e.train, e.train_dir, e.metrics
            same[0].train_seeds, same[0].metrics_seeds = e.train_seeds, e.metrics_seeds
            same[0].train_manifest = e.train_manifest
            continue
        if same and not same[0].tasks and e.tasks and same[0].train is not None and e.train is None:
            e.train, e.train_dir, e.metrics, e.train_manifest = same[0].train, same[0].train_dir, same[0].metrics, same[0].train_manifest
            e.train_seeds, e.metrics_seeds = same[0].train_seeds, same[0].metrics_seeds
            e.gaps = []
            merged.remove(same[0])
            col.gaps = [g for g in col.gaps if "a train dir without eval results" not in g or e.method not in g]
            merged.append(e)
            continue
        if same:
            for m in same:
                if m.name == m.row:
                    m.name = f"{m.row} ({m.run_dir.name})"
            e.name = f"{e.row} ({e.run_dir.name})"
        merged.append(e)

    rank = method_order()

    def order(e: Entry):  # by method, the method's own row before its variants, then by name
        return (rank.index(e.method) if e.method in rank else len(rank), e.row != e.method, e.name)

    col.entries = sorted(merged, key=order)
