"""Each method's loss against a hand formula on a fixed batch, one real optimizer step, and GSPO's off-policy ratios.

The hand formulas below are written out with Python floats and ``math`` only: they do not call the method
code they check.
"""

from __future__ import annotations

import math

import pytest
import torch

from disa_bench.methods import Batch, get_method

# 4 sequences of lengths 3, 2, 3, 1; groups (0, 0, 1, 1)
LOGP = [[-1.0, -0.5, -2.0], [-0.3, -1.2, 0.0], [-0.7, -0.9, -0.2], [-1.5, 0.0, 0.0]]
OLD = [[-1.1, -0.4, -2.3], [-0.3, -1.0, 0.0], [-0.6, -1.4, -0.1], [-1.0, 0.0, 0.0]]
REF = [[-1.2, -0.6, -1.8], [-0.5, -1.1, 0.0], [-0.9, -1.0, -0.4], [-1.3, 0.0, 0.0]]
LENS = [3, 2, 3, 1]
REWARD = [1.0, 0.0, 1.0, 0.0]
GROUP = [0, 0, 1, 1]
LOGZ = [0.8, 0.8, 1.7, 1.7]


pytestmark = pytest.mark.usefixtures("one_thread")


def make_batch(**kw) -> Batch:
    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(3)] for n in LENS])
    b = Batch(logp=torch.tensor(LOGP, requires_grad=True), mask=mask, reward=torch.tensor(REWARD),
              group=torch.tensor(GROUP), old_logp=torch.tensor(OLD), ref_logp=torch.tensor(REF),
              log_z=torch.tensor(LOGZ), extra={"offline": False, "max_new_tokens": 5})
    for k, v in kw.items():
        setattr(b, k, v)
    return b


def method(name, **cfg):
    cls = get_method(name)
    return cls(cls.Config(**cfg))


def toks(i, rows):
    return rows[i][: LENS[i]]


def zscore(rewards, groups, eps=1e-6):
    out = []
    for i, r in enumerate(rewards):
        g = [rewards[j] for j in range(len(rewards)) if groups[j] == groups[i]]
        mu = sum(g) / len(g)
        sd = math.sqrt(sum((x - mu) ** 2 for x in g) / (len(g) - 1))
        out.append((r - mu) / (sd + eps))
    return out


def test_disa_exact_loss_hand():
    beta, wmax = 5.0, 10.0
    per = []
    for i in range(4):
        d = LOGZ[i] + sum(toks(i, LOGP)) - sum(toks(i, REF)) - beta * REWARD[i]
        w = min(math.exp(sum(toks(i, LOGP)) - sum(toks(i, OLD))), wmax)
        per.append(w * d * d / LENS[i])
    loss, _ = method("disa", beta=beta).loss(make_batch())
    assert loss.item() == pytest.approx(sum(per) / 4, rel=1e-5)


def test_grpo_loss_hand_token_mean_with_kl_and_dual_clip():
    eps, c, kl = 0.2, 3.0, 0.001
    A = zscore(REWARD, GROUP)
    tot, ntok = 0.0, 0
    for i in range(4):
        for lp, old, ref in zip(toks(i, LOGP), toks(i, OLD), toks(i, REF)):
            rho = math.exp(lp - old)
            l = max(-A[i] * rho, -A[i] * min(max(rho, 1 - eps), 1 + eps))
            if A[i] < 0:
                l = min(l, -A[i] * c)
            k3 = math.exp(ref - lp) - (ref - lp) - 1
            tot += l + kl * k3
            ntok += 1
    m = method("grpo")
    assert m.needs == {"old", "ref"}
    loss, metrics = m.loss(make_batch())
    assert loss.item() == pytest.approx(tot / ntok, rel=1e-5)
    assert 0.0 < metrics["clip_frac"] < 1.0


def test_grpo_aggregations_and_no_kl_needs():
    A = zscore(REWARD, GROUP)
    eps = 0.2

    def tok_loss(i):
        return [max(-A[i] * math.exp(lp - o), -A[i] * min(max(math.exp(lp - o), 1 - eps), 1 + eps))
                for lp, o in zip(toks(i, LOGP), toks(i, OLD))]

    m = method("grpo", kl_coef=0.0, clip_ratio_c=None, loss_agg="seq-mean-token-mean")
    assert m.needs == {"old"}  # no pi_ref pass without KL
    want = sum(sum(tok_loss(i)) / LENS[i] for i in range(4)) / 4
    assert m.loss(make_batch())[0].item() == pytest.approx(want, rel=1e-5)
    m = method("grpo", kl_coef=0.0, clip_ratio_c=None, loss_agg="seq-mean-token-sum-norm")
    want = sum(sum(tok_loss(i)) for i in range(4)) / (4 * 5)  # Dr.GRPO: / (B * max_new_tokens)
    assert m.loss(make_batch())[0].item() == pytest.approx(want, rel=1e-5)


def test_gspo_loss_hand():
    lo, hi = 3e-4, 4e-4
    A = zscore(REWARD, GROUP)
    per = []
    for i in range(4):
        s = math.exp(sum(a - b for a, b in zip(toks(i, LOGP), toks(i, OLD))) / LENS[i])
        per.append(max(-A[i] * s, -A[i] * min(max(s, 1 - lo), 1 + hi)))
    m = method("gspo")
    loss, metrics = m.loss(make_batch())
    assert loss.item() == pytest.approx(sum(per) / 4, rel=1e-4, abs=1e-7)  # float32 cancellation of ±A terms
    assert metrics["ratio_abs_dev"] > 0
    assert get_method("gspo").default_mini_batches >= 4


@pytest.mark.parametrize("variant", ["official", "original", "detached-head"])
def test_flowrl_loss_hand(variant):
    torch.manual_seed(0)
    m = method("flowrl", variant=variant)
    m.setup(torch.nn.Linear(8, 8), 8)
    m.head.eval()  # no dropout, so log Z is deterministic
    hidden = torch.randn(4, 8, requires_grad=True)
    log_z = [float(v) for v in m.head(hidden).squeeze(-1)]
    r_hat = zscore(REWARD, GROUP)
    per = []
    for i in range(4):
        d = log_z[i] + sum(toks(i, LOGP)) / LENS[i] - 15.0 * r_hat[i] - sum(toks(i, REF)) / LENS[i]
        w = math.exp(sum(toks(i, LOGP)) - sum(toks(i, OLD)))
        if variant != "original":
            w = min(w, 10.0)
        per.append(w * d * d)
    loss, metrics = m.loss(make_batch(prompt_hidden=hidden, log_z=None))
    assert loss.item() == pytest.approx(sum(per) / 4, rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    if variant == "detached-head":
        assert hidden.grad is None  # Z learns without moving the policy
    else:
        assert hidden.grad is not None and hidden.grad.abs().sum() > 0  # gradient flows into the policy (released code)


def test_sft_loss_hand():
    tot = sum(sum(toks(i, LOGP)) for i in range(4))
    loss, _ = method("sft").loss(make_batch())
    assert loss.item() == pytest.approx(-tot / sum(LENS), rel=1e-6)


# --------------------------------------------------------------------------- one real step on a tiny model
@pytest.fixture(scope="module")
def tiny(base_model_dir):
    from disa_bench.models import load_model

    return load_model(base_model_dir)


@pytest.mark.parametrize("name", ["disa", "flowrl", "grpo", "gspo", "sft"])
def test_one_real_optimizer_step(tiny, name):
    import copy

    from disa_bench.models import add_lora
    from disa_bench.rollout.scoring import token_logprobs

    torch.manual_seed(0)
    model = add_lora(copy.deepcopy(tiny.model), r=8, alpha=16, dropout=0.0)
    model.train()
    m = method(name)
    m.setup(model, model.config.hidden_size)
    params = [p for p in model.parameters() if p.requires_grad] + m.parameters()
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3)
    tok = tiny.tokenizer
    prompts = [tok("Use 3 5 to make 8:")["input_ids"]] * 2 + [tok("Use 2 4 to make 6:")["input_ids"]] * 2
    comps = [tok(c)["input_ids"] for c in ("3+5", "3*5", "2+4", "4-2")]
    logp, mask, hidden = token_logprobs(model, prompts, comps, 1.0, tok.pad_token_id, return_hidden=True)
    batch = Batch(logp=logp, mask=mask, reward=torch.tensor([1.0, 0.0, 1.0, 0.0]), group=torch.tensor([0, 0, 1, 1]),
                  old_logp=logp.detach() - 0.01, ref_logp=logp.detach() + 0.05, log_z=torch.tensor([1.0, 1.0, 2.0, 2.0]),
                  prompt_hidden=hidden, extra={"offline": False, "max_new_tokens": 20})
    loss, metrics = m.loss(batch)
    assert torch.isfinite(loss)
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = [not torch.equal(a, p.detach()) for a, p in zip(before, params)]
    assert any(changed), f"{name}: no parameter changed"
    assert all(torch.isfinite(p).all() for p in params)
    if name == "flowrl":
        n_head = len(m.parameters())
        assert all(changed[-n_head:]), "the log Z head must be trained"


# --------------------------------------------------------------------------- GSPO through the engine
def test_gspo_four_minibatches_ratio_moves_off_one(tmp_path, base_model_dir):
    """On-policy at the first mini-batch (s = 1), off-policy after it: the ratio must move away from 1."""
    from disa_bench.rollout.graded import sample_and_grade  # noqa: F401  (engine import path)
    from disa_bench.store.schema import write_store
    from disa_bench.tasks import get_task
    from disa_bench.train.engine import Trainer
    from disa_bench.train.config import TrainConfig

    task = get_task("countdown")
    probs = task.problems("train")[:2]
    rows = []
    for p in probs:
        for j in range(2):
            ids = [5, 6, 7]
            rows.append({"prompt_id": p.prompt_id, "task": task.name, "prompt": p.prompt, "completion": "x",
                         "completion_ids": ids, "behavior_logprobs": [-1.0] * 3, "proposal_logprob": -3.0,
                         "ref_logprob": -3.0, "num_tokens": 3, "reward": float(j), "truncated": False,
                         "proposal_model": "test", "temperature": 1.0, "seed": 0})
    write_store(tmp_path / "store.parquet", rows)
    cfg = TrainConfig(method="gspo", store=str(tmp_path / "store.parquet"), steps=1, prompts_per_step=2, n=4)
    tr = Trainer(cfg, tmp_path / "out")
    orig = tr._rollout_batch

    def mixed_rewards(problems):  # force reward variance within every group, so the advantage is non-zero
        seqs = orig(problems)
        for k, s in enumerate(seqs):
            s["reward"] = float(k % 2)
        return seqs

    tr._rollout_batch = mixed_rewards
    s = tr.train()
    assert s["fairness"]["mini_batches"] == 4  # the GSPO default, not the engine's 1
    rec = [__import__("json").loads(l) for l in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()][0]
    dev = rec["per_minibatch"]["ratio_abs_dev"]
    assert len(dev) == 4
    assert dev[0] < 1e-5
    assert all(d > 1e-6 for d in dev[1:]), dev


# --------------------------------------------------------------------------- the hooks the engine calls
def test_registry_order_and_declared_hooks():
    from disa_bench.methods import Method, method_names

    assert method_names()[:5] == ["disa", "flowrl", "grpo", "gspo", "sft"]  # the report's row order
    base = Method.__new__(Method)
    assert base.advantages(torch.tensor([1.0]), torch.tensor([0])) is None
    assert base.state_dict() == {} and Method.state_file is None and Method.default_mini_batches == 1
    assert Method.run_defaults(object()) == {}
    rows = {"p": [0, 1]}
    assert base.select_store_rows(None, rows, "s") is rows and base.store_source() == "store"
    # every built-in declares its differences instead of the engine probing for them
    assert get_method("gspo").default_mini_batches == 4
    assert get_method("flowrl").state_file == "log_z_head.safetensors"
    assert method("grpo").advantages(torch.tensor(REWARD), torch.tensor(GROUP)) is not None


def test_disa_checks_every_anchor_row():
    from types import SimpleNamespace

    from disa_bench.errors import UserError

    m = method("disa", beta=5.0, units="exact")
    good = {f"p{i}": {"log_z": 1.0, "beta": 5.0, "units": "exact"} for i in range(3)}
    m.check_anchor(good, "a.parquet")
    with pytest.raises(UserError, match=r"a.parquet: anchor beta=2.0 \(prompt 'p2'\)"):
        m.check_anchor({**good, "p2": {"log_z": 1.0, "beta": 2.0, "units": "exact"}}, "a.parquet")  # not the first row
    with pytest.raises(UserError, match="anchor units='ln'"):
        m.check_anchor({**good, "p1": {"log_z": 1.0, "beta": 5.0, "units": "ln"}}, "a.parquet")
    assert get_method("disa").run_defaults(SimpleNamespace(beta=2.0, units="ln")) == {"beta": 2.0, "units": "ln"}
    assert get_method("flowrl").run_defaults(SimpleNamespace(beta=2.0, units="ln")) == {}


def test_sft_selects_its_store_rows():
    import pyarrow as pa

    from disa_bench.errors import UserError

    table = pa.table({"reward": [1.0, 0.0, 0.0, 0.0, 1.0]})
    rows = {"a": [0, 1], "b": [2, 3], "c": [4]}
    sft = method("sft")
    assert sft.select_store_rows(table, rows, "s") == {"a": [0], "c": [4]} and sft.store_source() == "store:correct"
    every = method("sft", sft_data="all")
    assert every.select_store_rows(table, rows, "s") == rows and every.store_source() == "store:all"
    with pytest.raises(UserError, match="s: the store has no correct trajectory"):
        sft.select_store_rows(pa.table({"reward": [0.0] * 5}), rows, "s")


def test_method_args_are_parsed_by_field_type():
    from disa_bench.errors import UserError
    from disa_bench.methods import method_config, method_options, parse_method_args

    grpo = get_method("grpo")
    got = parse_method_args(grpo, ["clip_eps=0.3", "clip-eps-high=None", "max_len_norm=7", "norm_adv_by_std=no"])
    assert got == {"clip_eps": 0.3, "clip_eps_high": None, "max_len_norm": 7, "norm_adv_by_std": False}
    assert parse_method_args(get_method("disa"), ["w_max=5"]) == {"w_max": 5.0}
    with pytest.raises(UserError, match="expected int | None"):
        parse_method_args(grpo, ["max_len_norm=7.5"])
    with pytest.raises(UserError, match="unknown option 'lr' for method 'grpo'; valid: adv_eps"):
        parse_method_args(grpo, ["lr=1"])
    with pytest.raises(UserError, match="unknown option"):
        method_config(grpo, {"beta": 1.0})
    opts = {name: (tp, default, doc) for name, tp, default, doc in method_options(get_method("sft"))}
    assert opts == {"sft_data": ("str", "correct", 'methods.md §5: correct-only default; "all" = ablation')}
