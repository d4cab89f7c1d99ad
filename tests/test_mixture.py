"""The proposal mixture q_a = a q_s + (1-a) pi_ref and the temperature ladder (propose.py).

What each test checks:
- for a in {0, 0.5, 1} the stored ``proposal_logprob`` equals LSE(log a + log q_s^T, log(1-a) + log pi_ref^T)
  within 1e-5, with q_s and pi_ref sequence log-probs recomputed here independently (one unbatched forward
  per sequence, no shared scorer), and ``ref_logprob`` equals log pi_ref at T = 1;
- a = 0 reproduces pi_ref sampling: every row comes from pi_ref, proposal_logprob == ref_logprob, and the
  sample frequencies of coarse events match pi_ref's exact probabilities (enumerable world) within 4 s.e.;
- a temperature ladder writes one valid store per rung whose densities are exact at that rung's T;
- a outside [0, 1] (and a bad ladder) is one ``error:`` line with exit != 0.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import run_cli


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from disa_bench.world.enum_models import build_enum_model

    d = tmp_path_factory.mktemp("mix")
    return str(build_enum_model("enum-abc", d / "ref", seed=0)), str(build_enum_model("enum-abc", d / "q", seed=1, sft_steps=40))


def _seq_logprob(model, prompt_ids, comp_ids, temperature=1.0) -> float:
    import torch

    with torch.no_grad():
        ids = torch.tensor([list(prompt_ids) + list(comp_ids)])
        logits = model(input_ids=ids).logits[0].double() / temperature
        lp = torch.log_softmax(logits, -1)
        return float(sum(lp[len(prompt_ids) - 1 + t, c] for t, c in enumerate(comp_ids)))


def _propose(models, alpha, k=6, n=4, temperature=1.0):
    from disa_bench.store.propose import ProposeConfig, propose

    cfg = ProposeConfig(task="enum-abc", ref=models[0], proposal=models[1], proposal_mix=alpha, k=k, n_prompts=n,
                        temperature=temperature, seed=3)
    return propose(cfg)[0]


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_mixture_density_is_exact(models, alpha):
    from disa_bench.models import load_model

    ref, qs = load_model(models[0]), load_model(models[1])
    rows = _propose(models, alpha)
    comps = {r["component"] for r in rows}
    if alpha == 0.5:
        assert comps == {"proposal", "ref"}
    for r in rows:
        p = ref.tokenizer(r["prompt"])["input_ids"]
        lr = _seq_logprob(ref.model, p, r["completion_ids"])
        lq = _seq_logprob(qs.model, p, r["completion_ids"])
        terms = ([math.log(alpha) + lq] if alpha > 0 else []) + ([math.log1p(-alpha) + lr] if alpha < 1 else [])
        want = float(np.logaddexp.reduce(terms))
        assert abs(r["proposal_logprob"] - want) <= 1e-5, (r, want)
        assert abs(r["ref_logprob"] - lr) <= 1e-5


def test_alpha_zero_reproduces_pi_ref_sampling(models):
    from disa_bench.models import load_model
    from disa_bench.tasks import get_task
    from disa_bench.anchor.exact import exact_log_z

    w = get_task("enum-abc")
    rows = _propose(models, 0.0, k=400, n=2)
    assert {r["component"] for r in rows} == {"ref"}
    assert all(abs(r["proposal_logprob"] - r["ref_logprob"]) < 1e-9 for r in rows)
    ex = exact_log_z(load_model(models[0]).model, w, [w.problem_by_id(p) for p in dict.fromkeys(r["prompt_id"] for r in rows)], 1.0)
    resp = w.responses()
    trunc = np.array([t for _, t in resp])
    first = np.array([ids[0] for ids, _ in resp])
    for i, pid in enumerate(ex["prompt_id"]):
        mine = [r for r in rows if r["prompt_id"] == pid]
        pr = np.exp(ex["log_pi_ref"][i])
        events = {"truncated": (trunc, [r["truncated"] for r in mine]),
                  "correct": (ex["reward"][i] > 0, [r["reward"] > 0 for r in mine])}
        for tok in range(3):
            events[f"first={tok}"] = (first == tok, [r["completion_ids"][0] == tok for r in mine])
        for name, (mask, hits) in events.items():
            p = float(pr[mask].sum())
            se = math.sqrt(max(p * (1 - p), 1e-4) / len(hits))
            assert abs(np.mean(hits) - p) <= 4 * se, (pid, name, np.mean(hits), p)


def test_temperature_ladder(models, tmp_path):
    from disa_bench.models import load_model
    from disa_bench.store.schema import read_store

    r = run_cli("propose", "--task", "enum-abc", "--ref", models[0], "--proposal", models[1], "--proposal-mix", "0.5",
                "--k", "4", "--n-prompts", "3", "--temperature", "0.7,1.3", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    ladder = json.loads((tmp_path / "p" / "ladder.json").read_text())
    assert ladder["temperatures"] == [0.7, 1.3]
    ref, qs = load_model(models[0]), load_model(models[1])
    for t in (0.7, 1.3):
        table = read_store(tmp_path / "p" / f"t{t:g}" / "store.parquet")
        rows = table.to_pylist()
        assert {x["temperature"] for x in rows} == {t} and len(rows) == 12
        for x in rows[:6]:
            p = ref.tokenizer(x["prompt"])["input_ids"]
            want = np.logaddexp(math.log(0.5) + _seq_logprob(qs.model, p, x["completion_ids"], t),
                                math.log(0.5) + _seq_logprob(ref.model, p, x["completion_ids"], t))
            assert abs(x["proposal_logprob"] - want) <= 1e-5
            assert abs(x["ref_logprob"] - _seq_logprob(ref.model, p, x["completion_ids"])) <= 1e-5
    assert not (tmp_path / "p" / "store.parquet").exists()


@pytest.mark.parametrize("args,needle", [(["--proposal-mix", "1.5"], "--proposal-mix"),
                                         (["--proposal-mix", "-0.1"], "--proposal-mix"),
                                         (["--temperature", "0.7,0"], "--temperature")])
def test_bad_mixture_or_ladder_is_one_error_line(tmp_path, args, needle):
    r = run_cli("propose", "--task", "enum-abc", *args, "--out", tmp_path / "p")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
