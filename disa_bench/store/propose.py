"""Offline phase A: sample K proposal trajectories per prompt into the trajectory store (methods.md §1.4).

Proposal strength has two axes.
- Mixture weight a: q_a = a*q_s + (1-a)*pi_ref; each trajectory is drawn from the strong proposal q_s with
  probability a, else from pi_ref (both at temperature tau, top_p = 1 so the density is well defined).
- Temperature ladder: ``--temperature 0.7,1.0,1.3`` writes one complete store per rung
  (``OUT/t0.7/store.parquet`` ...; index in ``OUT/ladder.json``); every row also carries its ``temperature``.
  A single temperature writes ``OUT/store.parquet`` as before. The density is always exact at the rung's tau.

Densities are recomputed by teacher forcing, never trusted from the sampler:

    proposal_logprob = log q_a(y) = LSE(log a + log q_s^tau(y), log(1-a) + log pi_ref^tau(y))
    ref_logprob      = log pi_ref(y)  (temperature 1: the reference policy itself)

``behavior_logprobs`` are the per-token log-probs of the component that drew the trajectory.

Sampling goes through the rollout backend ``--backend`` (hf, default, or vllm: one engine per mixture
component, opened on its model reference and closed before the next); the teacher-forced densities above
are always HF ``sequence_logprobs`` of the same prompt ids the sampler saw (``rollout.tokens.prompt_ids``)
and of the completion ids as sampled (ending with the stop token when the sample stopped).

Prompts are the task's, rendered for the reference model (``--template``, default ``auto``: pi_ref's own chat
template when its tokenizer has one; tasks/prompts.py), the same text train and eval render for that model.
All trajectories are graded in one call (the task's ``grade_batch`` when it has one).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UserError


@dataclass
class ProposeConfig:
    task: str = "countdown"
    proposal: str = "embedded:teacher"  # q_s
    ref: str = "embedded:base"  # pi_ref
    proposal_mix: float = 0.5  # a; methods.md §6 #2 (bounded weights pi_ref/q_a <= 1/(1-a))
    k: int = 16  # methods.md §1.4 (recommended 16, minimum 8)
    n_prompts: int = 256
    split: str = "train"
    temperature: float | str | list = 1.0  # one rung, or a ladder: "0.7,1.0,1.3" or a list (temperature_ladder)
    max_new_tokens: int | None = None  # task default
    seed: int = 0
    batch_size: int = 512  # sequences per generate call
    backend: str = "hf"  # rollout backend that samples the trajectories: hf or vllm
    template: str = "auto"  # prompt template (tasks/prompts.py): auto = pi_ref's chat template if it has one

    def check(self) -> None:
        from ..rollout import check_backend

        if self.k < 1:
            raise UserError(f"--k must be >= 1, got {self.k}")
        if not 0.0 <= self.proposal_mix <= 1.0:
            raise UserError(f"--proposal-mix must be within [0, 1], got {self.proposal_mix}")
        if self.n_prompts < 1:
            raise UserError(f"--n-prompts must be >= 1, got {self.n_prompts}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1 (leave it out for the task's default), got {self.max_new_tokens}")
        temperature_ladder(self.temperature)
        check_backend(self.backend)


def temperature_ladder(t) -> list[float]:
    """Temperatures as a list: a number, a list, or a comma-separated string "0.7,1.0,1.3" (one store per
    rung; see propose_stage). Each rung must be > 0; duplicates are an error."""
    if isinstance(t, str):
        try:
            rungs = [float(v) for v in t.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--temperature must be a number or a comma-separated list, got {t!r}") from None
    elif isinstance(t, (list, tuple)):
        rungs = [float(v) for v in t]
    else:
        rungs = [float(t)]
    if not rungs:
        raise UserError("--temperature is empty")
    for v in rungs:
        if not (v > 0 and math.isfinite(v)):
            raise UserError(f"--temperature must be > 0, got {v}")
    if len(set(rungs)) != len(rungs):
        raise UserError(f"--temperature ladder has duplicate rungs: {t!r}")
    return rungs


def mixture_logprob(log_qs: float, log_ref: float, alpha: float) -> float:
    if alpha >= 1.0:
        return log_qs
    if alpha <= 0.0:
        return log_ref
    return float(np.logaddexp(math.log(alpha) + log_qs, math.log1p(-alpha) + log_ref))


def propose(cfg: ProposeConfig, bar=None) -> tuple[list[dict], dict]:
    """Return (store rows, info). ``bar(desc, total)`` is a progress context (see progress.bar)."""
    from ..models import load_model
    from ..rollout import close_backend, get_backend, open_backend, sequence_logprobs
    from ..rollout.graded import grade_pairs
    from ..rollout.tokens import prompt_ids as encode_prompt
    from ..tasks import get_task
    from ..types import SamplingParams

    cfg.check()
    if len(temperature_ladder(cfg.temperature)) != 1:
        raise UserError("propose() samples one temperature; a ladder goes through propose_stage")
    cfg.temperature = temperature_ladder(cfg.temperature)[0]
    task = get_task(cfg.task, model=cfg.ref, template=cfg.template)
    problems = task.problems(cfg.split, cfg.n_prompts, seed=cfg.seed)
    ref = load_model(cfg.ref)
    strong = load_model(cfg.proposal) if cfg.proposal_mix > 0 else None
    if strong is not None and strong.tokenizer.get_vocab() != ref.tokenizer.get_vocab():
        raise UserError(f"--proposal {cfg.proposal!r} and --ref {cfg.ref!r} must share a tokenizer")
    tok = ref.tokenizer
    max_new = cfg.max_new_tokens or task.max_new_tokens
    rng = np.random.default_rng(cfg.seed)
    # per trajectory: which component draws it (Bernoulli(a))
    from_strong = rng.random((len(problems), cfg.k)) < cfg.proposal_mix
    draws = {True: [], False: []}  # component -> [(problem index, slot)]
    for i in range(len(problems)):
        for j in range(cfg.k):
            draws[bool(from_strong[i, j])].append((i, j))
    samples: dict[tuple[int, int], tuple] = {}
    total = len(problems) * cfg.k
    ctx = bar("propose: sampling", total) if bar else _null()
    with ctx as adv:
        for comp, loaded, model_ref, seed_off in ((True, strong, cfg.proposal, 1), (False, ref, cfg.ref, 2)):
            slots = draws[comp]
            if not slots:
                continue
            if cfg.backend == "hf":  # reuse the HF models loaded for scoring
                backend = get_backend("hf", loaded.model, loaded.tokenizer, batch_size=cfg.batch_size)
            else:
                backend = open_backend(cfg.backend, model_ref, batch_size=cfg.batch_size)
            params = SamplingParams(n=1, temperature=cfg.temperature, top_p=1.0, max_new_tokens=max_new,
                                    seed=cfg.seed * 1000 + seed_off)
            try:
                outs = backend.generate([problems[i].prompt for i, _ in slots], params, progress=adv)
            finally:
                close_backend(backend)  # free the engine before the next component's
            for (i, j), group in zip(slots, outs):
                samples[(i, j)] = (comp, group[0])
    keys = [(i, j) for i in range(len(problems)) for j in range(cfg.k)]
    by_problem = [encode_prompt(tok, p.prompt) for p in problems]
    prompt_ids = [by_problem[i] for i, _ in keys]
    comp_ids = [samples[key][1].token_ids for key in keys]
    ctx = bar("propose: scoring", 3) if bar else _null()
    with ctx as adv:
        lp_ref = [sum(x) for x in sequence_logprobs(ref.model, prompt_ids, comp_ids, 1.0, tok.pad_token_id)]
        adv(1)
        lp_ref_t = lp_ref if cfg.temperature == 1.0 else [
            sum(x) for x in sequence_logprobs(ref.model, prompt_ids, comp_ids, cfg.temperature, tok.pad_token_id)]
        adv(1)
        lp_qs = [sum(x) for x in sequence_logprobs(strong.model, prompt_ids, comp_ids, cfg.temperature, tok.pad_token_id)] if strong else None
        adv(1)
    grades = grade_pairs(task, [(problems[i], samples[(i, j)][1].text) for i, j in keys])
    rows = []
    for n, (i, j) in enumerate(keys):
        comp, c = samples[(i, j)]
        p = problems[i]
        g = grades[n]
        log_q = mixture_logprob(lp_qs[n] if lp_qs else 0.0, lp_ref_t[n], cfg.proposal_mix)
        rows.append({
            "prompt_id": p.prompt_id, "task": task.name, "prompt": p.prompt, "completion": c.text,
            "completion_ids": c.token_ids, "behavior_logprobs": c.logprobs, "proposal_logprob": log_q,
            "ref_logprob": lp_ref[n], "num_tokens": c.num_tokens, "reward": float(g.reward),
            "truncated": c.truncated, "proposal_model": cfg.proposal if comp else cfg.ref,
            "temperature": cfg.temperature, "seed": cfg.seed, "component": "proposal" if comp else "ref",
            "answer": g.answer, "strategy": g.strategy,
        })
    rewards = np.array([r["reward"] for r in rows])
    info = {"trajectories": len(rows), "prompts": len(problems), "success_rate": float(rewards.mean()),
            "from_proposal": int(from_strong.sum()), "tokens_generated": int(sum(r["num_tokens"] for r in rows)),
            "config": asdict(cfg)}
    return rows, info


class _null:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *a):
        return False
