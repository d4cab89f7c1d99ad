"""Rows of ``disa-bench run`` (variants), several training seeds, FlowRL-exact vs DISA, sampler support, clipping.

- DISA's loss equals FlowRL-exact's (EXACT units, beta 5, raw reward) on the same batch when FlowRL's head
  outputs the frozen anchor log Z: bitwise, values and gradients; official FlowRL (LN, group z-score) differs;
- DISA's LN loss against a hand formula (the DISA-LN ablation's degradation is not a loss bug);
- DISA / FlowRL refuse online sampling at temperature != 1 or top_p < 1 (one error line); GRPO and offline DISA
  do not;
- the run's plan: layout per seed count, one anchor per distinct (units, beta), method-option precedence, and
  bad rows / seeds / variants as one error line;
- baselines/embedded/<variant>.yaml agree with the run's variant table;
- the report's clipping table from a synthetic metrics.jsonl flags a row clipped more than half after the first
  mini-batch;
- acceptance, one real run (CLI, 2 steps, 16 eval prompts, no sweep): ``--methods disa,disa-offline,flowrl-exact,
  disa-ln --seeds 0,1`` trains and evaluates every row for both seeds into ``train|eval/<row>/seed<s>/``, builds
  the LN anchor beside the run's, DISA-offline generates no token and trains only on store rows, and the report
  shows one row per variant with its per-seed values, the notes and the claims against both FlowRL rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from conftest import ROOT, one_error_line, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

# 4 sequences of lengths 3, 2, 3, 1 in two groups (as tests/test_methods.py)
LOGP = [[-1.0, -0.5, -2.0], [-0.3, -1.2, 0.0], [-0.7, -0.9, -0.2], [-1.5, 0.0, 0.0]]
OLD = [[-1.1, -0.4, -2.3], [-0.3, -1.0, 0.0], [-0.6, -1.4, -0.1], [-3.5, 0.0, 0.0]]  # last: w = e^2.0, inside w_max
REF = [[-1.2, -0.6, -1.8], [-0.5, -1.1, 0.0], [-0.9, -1.0, -0.4], [-1.3, 0.0, 0.0]]
LENS = [3, 2, 3, 1]
REWARD = [1.0, 0.0, 1.0, 0.0]
GROUP = [0, 0, 1, 1]
LOGZ = [0.8, 0.8, 1.7, 1.7]


def batch(**kw):
    from disa_bench.methods import Batch

    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(3)] for n in LENS])
    b = Batch(logp=torch.tensor(LOGP, requires_grad=True), mask=mask, reward=torch.tensor(REWARD),
              group=torch.tensor(GROUP), old_logp=torch.tensor(OLD), ref_logp=torch.tensor(REF),
              log_z=torch.tensor(LOGZ), extra={"offline": False})
    for k, v in kw.items():
        setattr(b, k, v)
    return b


def method(name, **cfg):
    from disa_bench.methods import get_method, method_config

    cls = get_method(name)
    return cls(method_config(cls, cfg))


def flowrl_with_anchor_log_z(**cfg):
    """FlowRL whose log Z head outputs the frozen anchor value: the head is the identity on a 1-d 'hidden state'
    that holds log Z (so the residual, the IS weight and the reward are FlowRL's own code)."""
    m = method("flowrl", **cfg)
    m.setup(torch.nn.Linear(1, 1), 1)
    m.head = torch.nn.Identity()
    return m


def loss_and_grad(m, b):
    loss, _ = m.loss(b)
    loss.backward()
    return loss.detach(), b.logp.grad.clone()


@pytest.mark.parametrize("units, beta, w_max", [("exact", 5.0, 10.0), ("ln", 15.0, 10.0), ("exact", 5.0, 1.5)])
def test_disa_equals_flowrl_exact_when_the_head_outputs_the_anchor(units, beta, w_max):
    d_loss, d_grad = loss_and_grad(method("disa", units=units, beta=beta, w_max=w_max), batch())
    hidden = torch.tensor(LOGZ).unsqueeze(-1)
    f = flowrl_with_anchor_log_z(units=units, beta=beta, reward_norm="none", w_max=w_max)
    f_loss, f_grad = loss_and_grad(f, batch(prompt_hidden=hidden, log_z=None))
    assert torch.equal(d_loss, f_loss) and torch.equal(d_grad, f_grad), (d_loss, f_loss)
    assert d_loss > 0 and d_grad.abs().sum() > 0
    if w_max == 1.5:  # the weight clamp is active on a sequence, and applied the same way by both
        assert method("disa", units=units, beta=beta, w_max=w_max).loss(batch())[1]["w_clipped_frac"] > 0
    # the official recipe (group z-scored reward) and the other units are different targets: the check can fail
    for other in ({"units": units, "reward_norm": "group"}, {"units": "ln" if units == "exact" else "exact", "reward_norm": "none"}):
        g = flowrl_with_anchor_log_z(beta=beta, w_max=w_max, **other)
        assert not torch.equal(g.loss(batch(prompt_hidden=hidden, log_z=None))[0].detach(), d_loss), other


def test_flowrl_defaults_are_the_official_recipe_and_options_are_checked():
    from disa_bench.errors import UserError

    cfg = method("flowrl").cfg
    assert (cfg.units, cfg.reward_norm, cfg.beta, cfg.variant, cfg.w_max) == ("ln", "group", 15.0, "official", 10.0)
    assert method("flowrl", reward_norm="none").advantages(torch.tensor(REWARD), torch.tensor(GROUP)) is None
    with pytest.raises(UserError, match="units must be one of ln, exact"):
        method("flowrl", units="sum")
    with pytest.raises(UserError, match="reward_norm must be one of group, none"):
        method("flowrl", reward_norm="rank")


def test_disa_ln_loss_hand():
    import math

    per = []
    for i in range(4):
        lp, ref, old = (sum(x[i][: LENS[i]]) for x in (LOGP, REF, OLD))
        d = LOGZ[i] + lp / LENS[i] - 15.0 * REWARD[i] - ref / LENS[i]
        per.append(min(math.exp(lp - old), 10.0) * d * d)
    loss, metrics = method("disa", units="ln", beta=15.0).loss(batch())
    assert loss.item() == pytest.approx(sum(per) / 4, rel=1e-6)
    assert metrics["delta_incorrect"] > 0 > metrics["delta_correct"]


# --------------------------------------------------------------------------- pi_old under the sampler's distribution
@pytest.mark.parametrize("name", ["disa", "flowrl"])
@pytest.mark.parametrize("temperature, top_p", [(0.7, 1.0), (1.0, 0.95), (1.3, 0.9)])
def test_trajectory_balance_refuses_a_processed_sampler(name, temperature, top_p):
    from disa_bench.errors import UserError
    from disa_bench.train.config import TrainConfig

    with pytest.raises(UserError, match=f"method '{name}' needs online rollouts from the full, untempered policy"):
        TrainConfig(method=name, temperature=temperature, top_p=top_p).check()
    TrainConfig(method=name, temperature=temperature, top_p=top_p, data="offline").check()  # no sampling: fine
    TrainConfig(method=name).check()
    TrainConfig(method="grpo", temperature=temperature, top_p=top_p).check()  # not a TB objective


def test_tempered_disa_is_one_error_line(tmp_path):
    (tmp_path / "c.yaml").write_text("method: disa\ntemperature: 0.7\n")
    r = run_cli("train", "--config", tmp_path / "c.yaml", "--store", tmp_path / "none.parquet", "--out", tmp_path / "o")
    one_error_line(r, "method 'disa'", "temperature 0.7", out_dir=tmp_path / "o", code=2)
    (tmp_path / "r.yaml").write_text("train: {top_p: 0.9}\n")
    r = run_cli("run", "--profile", "smoke", "--methods", "flowrl-exact", "--config", tmp_path / "r.yaml",
                "--out", tmp_path / "run")
    one_error_line(r, "method 'flowrl'", "top_p 0.9", out_dir=tmp_path / "run", code=2)


# --------------------------------------------------------------------------- the plan of a run
def _plan(tmp_path, **run_kw):
    from disa_bench.experiments.pipeline import RunConfig, stage_configs
    from disa_bench.experiments.variants import plan

    run = RunConfig(profile="smoke", **run_kw)
    pc, ac, tc, ec = stage_configs(run)
    return plan(run, ac, tc, tmp_path / "propose" / "store.parquet", tmp_path)


def test_plan_layout_anchors_and_options(tmp_path):
    p = _plan(tmp_path, methods=["disa", "disa-ln", "flowrl-exact", "disa-offline", "grpo"])
    assert p.seeds == [0] and [j.key for j in p.jobs] == ["disa", "disa-ln", "flowrl-exact", "disa-offline", "grpo"]
    assert [(a.stage, a.dir.name, a.cfg.units, a.cfg.beta) for a in p.anchors] == [
        ("anchor", "anchor", "exact", 5.0), ("anchor:ln-beta15", "anchor-ln-beta15", "ln", 15.0)]
    by = {j.row: j.train for j in p.jobs}
    assert by["disa-ln"].anchor == str(tmp_path / "anchor-ln-beta15" / "anchor.parquet")
    assert by["disa"].anchor == by["disa-offline"].anchor == by["grpo"].anchor == str(tmp_path / "anchor" / "anchor.parquet")
    assert by["disa-ln"].method_args == {"units": "ln", "beta": 15.0}
    assert by["disa"].method_args == {"beta": 5.0, "units": "exact"} and by["disa-offline"].data == "offline"
    assert by["flowrl-exact"].method == "flowrl" and by["flowrl-exact"].method_args == {
        "units": "exact", "beta": 5.0, "reward_norm": "none"}
    assert {j.seed for j in p.jobs} == {0} and all(j.train.seed == 0 for j in p.jobs)

    p = _plan(tmp_path, methods="disa,flowrl-exact", seeds="3,1", seed=7)
    assert [(j.key, j.train.seed) for j in p.jobs] == [("disa/seed3", 3), ("disa/seed1", 1), ("flowrl-exact/seed3", 3),
                                                       ("flowrl-exact/seed1", 1)]
    assert p.anchors[0].cfg.seed == 7  # the store, anchor and evals keep the run's --seed
    assert [j.key for j in _plan(tmp_path, methods=["disa"], seeds=[5]).jobs] == ["disa"]  # one seed: no seed dir

    # precedence: train.method_args < method_args.METHOD < the variant's < method_args.ROW; then run_defaults
    p = _plan(tmp_path, methods=["disa", "disa-ln"], train={"method_args": {"w_max": 3.0}},
              method_args={"disa": {"w_max": 4.0, "units": "exact"}, "disa-ln": {"beta": 10.0}})
    by = {j.row: j.train.method_args for j in p.jobs}
    assert by["disa"] == {"w_max": 4.0, "units": "exact", "beta": 5.0}
    assert by["disa-ln"] == {"w_max": 4.0, "units": "ln", "beta": 10.0}
    assert [a.dir.name for a in p.anchors] == ["anchor", "anchor-ln-beta10"]
    # a user's own variant (run config `variants:`)
    p = _plan(tmp_path, methods=["disa-b2"], variants={"disa-b2": {"method": "disa", "method_args": {"beta": 2.0},
                                                                    "lr": 1e-4, "note": "beta 2"}})
    assert p.jobs[0].train.lr == 1e-4 and p.jobs[0].note == "beta 2" and p.anchors[1].cfg.beta == 2.0


@pytest.mark.parametrize("kw, needles", [
    ({"methods": "disa,dpo"}, ["unknown row 'dpo'", "disa-offline", "flowrl-exact", "disa-ln"]),
    ({"methods": "disa-ln,disa-ln"}, ["twice"]),
    ({"seeds": "0,x"}, ["--seeds must be a comma list of integers"]),
    ({"seeds": "1,1"}, ["--seeds lists a seed twice"]),
    ({"seeds": "-1"}, ["--seeds must be an integer within"]),
    ({"methods": "disa", "method_args": {"flowrl": {"beta": 1.0}}}, ["run.method_args names 'flowrl'"]),
    ({"methods": "flowrl-exact", "method_args": {"flowrl-exact": {"units": "sum"}}}, ["units must be one of"]),
    ({"variants": {"disa": {"method": "disa"}}}, ["'disa' is a method's name"]),
    ({"variants": {"x/y": {"method": "disa"}}}, ["'x/y' is not a usable row name"]),
    ({"variants": {"v": {"method": "disa", "store": "s"}}}, ["variant 'v': unknown key(s) store"]),
    ({"variants": {"v": {"method": "dpo"}}}, ["unknown method 'dpo'"]),
])
def test_bad_rows_seeds_and_variants(tmp_path, kw, needles):
    from disa_bench.errors import UserError

    with pytest.raises(UserError) as e:
        _plan(tmp_path, **kw)
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


def test_baseline_recipes_agree_with_the_run_variants():
    """baselines/embedded/<variant>.yaml (``train --config`` recipes) = the run's variant (resolved options, data)."""
    import yaml

    from disa_bench.anchor.estimators import AnchorConfig
    from disa_bench.config import resolve
    from disa_bench.experiments.profiles import VARIANTS
    from disa_bench.methods import get_method, method_config
    from disa_bench.train.config import TrainConfig

    for name, spec in VARIANTS.items():
        y = yaml.safe_load((ROOT / "baselines" / "embedded" / f"{name}.yaml").read_text())
        cls = get_method(spec["method"])
        args = dict(spec.get("method_args") or {})
        for k, v in cls.run_defaults(AnchorConfig()).items():
            args.setdefault(k, v)
        assert y["method"] == spec["method"], name
        assert asdict(method_config(cls, y["method_args"])) == asdict(method_config(cls, args)), name
        assert y.get("data", "online") == spec.get("data", "online"), name
        resolve(TrainConfig, y, where=name).check()  # a valid train config as it stands


# --------------------------------------------------------------------------- clipping in the report
def test_report_shows_clipping_per_minibatch_and_flags_over_half(tmp_path):
    from test_paper_report import make_eval, make_train

    from disa_bench.report import build_report

    run = tmp_path / "run"
    clip = {"gspo": [0.0, 0.55, 0.6, 0.7], "grpo": [0.0, 0.004, 0.006, 0.01]}
    for m in ("disa", "grpo", "gspo"):
        make_eval(run / "eval" / m, "countdown", [0.5] * 20, adapter=str(run / "train" / m / "adapter"))
        make_train(run / "train" / m, m, steps=3)
        recs = [json.loads(x) for x in (run / "train" / m / "metrics.jsonl").read_text().splitlines()]
        for i, r in enumerate(recs):
            key = "w_clipped_frac" if m == "disa" else "clip_frac"
            vals = [0.0] * 4 if m == "disa" else [0.0] + [v + 0.05 * (i - 1) for v in clip[m][1:]]
            r[key], r["per_minibatch"] = sum(vals) / 4, {key: vals}
        (run / "train" / m / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rep = build_report([run], tmp_path / "rep", formats=["md", "json", "html"], n_boot=200)
    rows = {r["name"]: r for r in rep["clipping"]["rows"]}
    assert rows["gspo"]["per_minibatch"] == pytest.approx(clip["gspo"]) and rows["gspo"]["metric"] == "clip_frac"
    assert rows["gspo"]["after_first"] == pytest.approx((0.55 + 0.6 + 0.7) / 3) and rows["gspo"]["flag"]
    assert not rows["grpo"]["flag"] and not rows["disa"]["flag"] and rows["disa"]["metric"] == "w_clipped_frac"
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Clipping" in md and "**Flag:** `gspo`: 62% clipped on average after the first mini-batch" in md
    assert "Flag:** `grpo`" not in md and "Clipping</h2>" in (tmp_path / "rep" / "report.html").read_text()


# --------------------------------------------------------------------------- acceptance: rows x seeds, one real run
SMALL = """propose: {n_prompts: 16, k: 8}
train: {steps: 2, prompts_per_step: 4, n: 4, mini_batches: 2}
eval: {n_prompts: 16}
"""
ROWS = ("disa", "disa-offline", "flowrl-exact", "disa-ln")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeded")
    (d / "small.yaml").write_text(SMALL)
    r = run_cli("run", "--profile", "smoke", "--no-sweep", "--config", d / "small.yaml", "--methods", ",".join(ROWS),
                "--seeds", "0,1", "--out", d / "run")
    assert r.exit_code == 0, r.output[-3000:]
    return d / "run"


def _j(p: Path):
    return json.loads(p.read_text())


def test_every_row_is_trained_and_evaluated_per_seed(seeded):
    for row in ROWS:
        sha = set()
        for s in (0, 1):
            summ = _j(seeded / "train" / row / f"seed{s}" / "summary.json")
            assert summ["fairness"]["seed"] == s and summ["steps"] == 2, row
            sha.add(summ["params_sha256"])
            res = _j(seeded / "eval" / row / f"seed{s}" / "results.json")
            assert res["num_prompts"] == 16 and res["sampling"]["seed"] == 0  # only the training seed varies
            assert (seeded / "eval" / row / f"seed{s}" / "judge" / "summary.json").is_file()
        assert len(sha) == 2, row  # two seeds, two different adapters
        assert not (seeded / "train" / row / "summary.json").exists()
    cfg = {row: _j(seeded / "train" / row / "seed0" / "manifest.json")["config"] for row in ROWS}
    assert len({cfg[r]["store"] for r in ROWS}) == 1
    assert cfg["disa-ln"]["anchor"].endswith("anchor-ln-beta15/anchor.parquet")
    assert cfg["disa"]["anchor"] == cfg["disa-offline"]["anchor"] and cfg["disa"]["anchor"].endswith("/anchor/anchor.parquet")
    ln = _j(seeded / "anchor-ln-beta15" / "manifest.json")["config"]
    assert (ln["units"], ln["beta"], ln["store"]) == ("ln", 15.0, cfg["disa"]["store"])
    mc = _j(seeded / "train" / "flowrl-exact" / "seed1" / "summary.json")["method_config"]
    assert (mc["units"], mc["beta"], mc["reward_norm"], mc["variant"]) == ("exact", 5.0, "none", "official")


def test_disa_offline_generates_nothing_and_reads_only_the_store(seeded):
    for s in (0, 1):
        summ = _j(seeded / "train" / "disa-offline" / f"seed{s}" / "summary.json")
        assert summ["compute"]["tokens_generated"] == 0 and summ["data_source"] == "store" and summ["data"] == "offline"
        online = _j(seeded / "train" / "disa" / f"seed{s}" / "summary.json")
        assert online["compute"]["tokens_generated"] > 0

    # the same config in the engine: every training sequence is a row of the store; nothing is sampled
    import pyarrow.parquet as pq

    from disa_bench.config import resolve
    from disa_bench.train.config import TrainConfig
    from disa_bench.train.engine import Trainer

    cfg = resolve(TrainConfig, _j(seeded / "train" / "disa-offline" / "seed0" / "manifest.json")["config"])
    store = pq.read_table(cfg.store).to_pydict()
    rows = {(p, tuple(c)) for p, c in zip(store["prompt_id"], store["completion_ids"])}
    seen = []

    class Watched(Trainer):
        def setup(self):
            super().setup()
            read = self.store.batch

            def batch(*a, **k):
                seqs = read(*a, **k)
                seen.extend((s["problem"].prompt_id, tuple(s["ids"])) for s in seqs)
                return seqs
            self.store.batch = batch

        def _rollout_batch(self, problems):
            raise AssertionError("DISA-offline sampled")

    summ = Watched(cfg, seeded.parent / "watch").train()
    assert len(seen) == cfg.steps * cfg.prompts_per_step * cfg.n and set(seen) <= rows
    assert summ["compute"]["tokens_generated"] == 0


def test_report_has_one_row_per_variant_with_per_seed_values(seeded):
    rep = _j(seeded / "report" / "report.json")
    rows = {r["name"]: r for r in rep["accuracy"]["rows"]}
    assert list(rows) == ["base", "disa", "disa-ln", "disa-offline", "flowrl-exact"]
    assert [rows[r]["method"] for r in ROWS] == ["disa", "disa", "flowrl", "disa"]
    for row in ROWS:
        cell = rows[row]["cells"]["countdown"]
        want = [_j(seeded / "eval" / row / f"seed{s}" / "results.json")["mean@8"] for s in (0, 1)]
        assert cell["seeds"] == pytest.approx(want) and cell["seed_labels"] == [0, 1], row
        assert cell["mean"] == pytest.approx(sum(want) / 2)
        if row != "disa":
            assert cell["vs_ref"]["p_seeds"] is not None  # the seed-aware test against DISA
    assert "13 nats per token" in rows["disa-ln"]["note"] and "note" not in rows["disa"]
    assert rep["accuracy"]["reference_row"] == "disa"
    claims = {c["id"]: c for c in rep["claims"]}
    fx = claims["disa_vs_flowrl-exact"]
    assert fx["claim"] == "DISA matches or exceeds FlowRL (`flowrl-exact`)" and fx["kind"] == "noninferiority"
    assert fx["numbers"].startswith("countdown: DISA ") and " vs flowrl-exact " in fx["numbers"] and fx["test"] == "seeds"
    assert "no eval results for flowrl" in claims["disa_vs_flowrl"]["numbers"]  # the official row was not run
    assert "disa-offline_vs_sft" in claims and "no eval results for sft" in claims["disa-offline_vs_sft"]["numbers"]
    comp = {r["name"]: r for r in rep["compute"]["rows"]}
    assert comp["disa-offline"]["tokens_generated"] == 0 and comp["disa-offline"]["seeds"] == 2
    md = (seeded / "report" / "report.md").read_text()
    assert "Per-seed Mean@8" in md and "- `disa-ln`: ablation" in md
    assert set(_j(seeded / "variants.json")["rows"]) == set(ROWS)


def test_worker_processes_give_the_same_numbers(seeded, tmp_path):
    """The same run with its (row, seed) jobs in 2 worker processes of one torch thread each: every adapter and every
    eval number equals the one-process run's (bitwise: params_sha256 and the per-sample rewards)."""
    (tmp_path / "small.yaml").write_text(SMALL)
    r = run_cli("run", "--profile", "smoke", "--no-sweep", "--config", tmp_path / "small.yaml", "--methods",
                ",".join(ROWS), "--seeds", "0,1", "--workers", "2", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output[-3000:]
    man = _j(tmp_path / "run" / "manifest.json")
    assert "train+eval (parallel wall)" in man["timings"] and "train:disa/seed1" in man["timings"]
    for row in ROWS:
        for s in (0, 1):
            a, b = (_j(d / "train" / row / f"seed{s}" / "summary.json") for d in (seeded, tmp_path / "run"))
            assert a["params_sha256"] == b["params_sha256"], (row, s)
            ea, eb = ((d / "eval" / row / f"seed{s}" / "samples.jsonl").read_text() for d in (seeded, tmp_path / "run"))
            assert [json.loads(x)["reward"] for x in ea.splitlines()] == [json.loads(x)["reward"] for x in eb.splitlines()]
    rep = [_j(d / "report" / "report.json")["accuracy"] for d in (seeded, tmp_path / "run")]
    assert rep[0] == rep[1]


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_bad_workers(tmp_path, workers):
    r = run_cli("run", "--profile", "smoke", "--workers", workers, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "workers" in one_error_line(r) and not (tmp_path / "o").exists()


def test_baseline_recipes_carry_the_default_profiles_budget_and_committed_lrs():
    """baselines/embedded/<row>.yaml repeat the default run: its budget per step and steps, and each row's lr from the
    committed tuning (disa_bench/experiments/tuned/default.json), which covers every row of the default profile."""
    import yaml

    from disa_bench.experiments.profiles import PROFILES
    from disa_bench.experiments.tune import TUNED

    prof = PROFILES["default"]
    tuned = json.loads((TUNED / "default.json").read_text())
    assert set(tuned["chosen"]) == set(prof["methods"]) and tuned["protocol"]["lrs"] == prof["tune"]["lrs"]
    for row in prof["methods"]:
        y = yaml.safe_load((ROOT / "baselines" / "embedded" / f"{row}.yaml").read_text())
        assert y["lr"] == tuned["chosen"][row], row
        for k in ("steps", "prompts_per_step", "n", "mini_batches"):
            assert y[k] == prof["train"][k], (row, k)
        cells = tuned["cells"][row]
        assert cells[f"{y['lr']:g}"]["mean"] == max(c["mean"] for c in cells.values()), row
