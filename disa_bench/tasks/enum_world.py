"""Enumerable worlds: tasks small enough that every response can be listed, so Z_beta(x) is known exactly.

A world has a letter alphabet (e.g. ``abc``), prompts that are every string of ``prompt_len`` letters, and
responses of at most ``max_new_tokens`` tokens. The tokenizer has exactly the letters plus ``<eos>`` (which
doubles as the pad token), so the model can sample nothing else and the response set is finite:

    completed:  l letters followed by <eos>, for l = 0 .. L-1          (L = max_new_tokens)
    truncated:  L letters, no <eos> (the sampler hits max_new_tokens)

Under an autoregressive model the probabilities of these events sum to exactly 1 (a truncated response's
probability is the product of its L letter probabilities, the same density the sampler and the
teacher-forced scorer assign it). Exact quantities are computed from the model's own probabilities over
this full set:

    log Z_beta(x) = LSE_y( log pi_ref(y|x) + beta r(x,y) )      pi*_beta(y|x) = softmax_y(...)

Reward: a response is correct iff it completed (ends in <eos>), is non-empty, and starts with the prompt's
first letter and ends with its last letter; e.g. for ``aba`` the correct responses are a, aa, aaa, aba,
aca (5), for ``abc`` they are ac, aac, abc, acc (4). Truncated responses earn 0.

Registered worlds (``--task NAME``): ``enum-abc`` (27 prompts, 121 responses each) and ``enum-ab``
(8 prompts, 15 responses each). ``build_enum_model`` writes a tiny randomly initialised Llama for a world
as an ordinary HF dir (GPT-2 architecture, see there why), usable as ``--ref/--proposal/--model PATH``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..types import Grade, Problem
from .base import TASKS

EOS = "<eos>"


@dataclass
class EnumWorld:
    letters: str = "abc"
    prompt_len: int = 3
    max_new_tokens: int = 4
    test_frac: float = 0.2
    name: str = "enum-abc"
    reward_range: tuple[float, float] = (0.0, 1.0)
    enumerable: bool = True

    # ------------------------------------------------------------------ task protocol
    def _all_prompts(self) -> list[str]:
        return ["".join(t) for t in itertools.product(self.letters, repeat=self.prompt_len)]

    def _split_of(self, s: str) -> str:
        h = hashlib.sha256(f"{self.name}|{s}".encode()).digest()
        return "test" if int.from_bytes(h[:8], "big") / 2**64 < self.test_frac else "train"

    def problem(self, s: str) -> Problem:
        return Problem(prompt_id=f"{self.name}/{s}", task=self.name, prompt=s, answer=(s[0], s[-1]))

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        if split not in ("train", "test", "all"):
            raise UserError(f"unknown split {split!r} for task {self.name!r}; valid: train, test, all")
        pool = [s for s in self._all_prompts() if split == "all" or self._split_of(s) == split]
        if n is not None and n < len(pool):
            rng = np.random.default_rng(seed)
            pool = [pool[i] for i in sorted(rng.choice(len(pool), size=n, replace=False))]
        return [self.problem(s) for s in pool]

    def problem_by_id(self, prompt_id: str) -> Problem:
        s = prompt_id.split("/", 1)[-1]
        if len(s) != self.prompt_len or any(c not in self.letters for c in s):
            raise UserError(f"prompt_id {prompt_id!r} is not a prompt of task {self.name!r}")
        return self.problem(s)

    def grade(self, problem: Problem, response: str, truncated: bool | None = None) -> Grade:
        # a text of max_new_tokens letters can only come from a truncated response (no room for <eos>)
        if truncated is None:
            truncated = len(response) >= self.max_new_tokens
        first, last = problem.answer
        ok = (not truncated) and len(response) > 0 and response[0] == first and response[-1] == last
        return Grade(1.0 if ok else 0.0, response, response, "ok" if ok else "wrong")

    # ------------------------------------------------------------------ enumeration
    def vocab(self) -> dict[str, int]:
        return {EOS: 0} | {c: i + 1 for i, c in enumerate(self.letters)}

    def responses(self) -> list[tuple[list[int], bool]]:
        """Every response as (token ids, truncated), in a fixed order."""
        v = self.vocab()
        ids = [v[c] for c in self.letters]
        out = []
        for n in range(self.max_new_tokens):
            for t in itertools.product(ids, repeat=n):
                out.append((list(t) + [v[EOS]], False))
        for t in itertools.product(ids, repeat=self.max_new_tokens):
            out.append((list(t), True))
        return out

    def response_text(self, ids: list[int]) -> str:
        inv = {i: c for c, i in self.vocab().items()}
        return "".join(inv[i] for i in ids if inv[i] != EOS)

    def rewards(self, problem: Problem) -> np.ndarray:
        return np.array([self.grade(problem, self.response_text(ids), trunc).reward for ids, trunc in self.responses()])


TASKS.add("enum-abc", EnumWorld)
TASKS.add("enum-ab", lambda: EnumWorld(letters="ab", prompt_len=3, max_new_tokens=3, test_frac=0.0, name="enum-ab"))


def is_enumerable(task) -> bool:
    return bool(getattr(task, "enumerable", False)) and hasattr(task, "responses")


# ---------------------------------------------------------------------- model


def build_enum_tokenizer(world: EnumWorld):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=world.vocab(), unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=EOS, eos_token=EOS, unk_token=EOS)


def build_enum_model(world: EnumWorld | str, out: str | Path, seed: int = 0, hidden: int = 32, layers: int = 2,
                     heads: int = 2, init_std: float = 0.1, sft_steps: int = 0, lr: float = 1e-2) -> Path:
    """Write a tiny GPT-2 for ``world`` as an HF dir (seconds on a CPU).

    ``sft_steps = 0``: random init; a larger-than-usual ``init_std`` makes the next-token distributions
    prompt-dependent, so the pass rate and log Z vary across prompts (a reference policy).
    ``sft_steps > 0``: then that many full-batch Adam steps of SFT on every correct response of every
    prompt (a stronger proposal). Softmax keeps every response's probability > 0 either way (full support)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    if isinstance(world, str):
        from . import get_task

        world = get_task(world)
    V = len(world.vocab())
    # GPT-2 (learned absolute positions), not Llama: with RoPE and no absolute positions, a run of identical
    # tokens ("bbb" + response "b") gives identical hidden states at every position, so the model cannot
    # tell "after prompt bbb" from "after response b" and pi* is not representable.
    cfg = GPT2Config(vocab_size=V, n_embd=hidden, n_layer=layers, n_head=heads, n_inner=4 * hidden,
                     n_positions=world.prompt_len + world.max_new_tokens + 4, initializer_range=init_std,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=0, eos_token_id=0, bos_token_id=0,
                     tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    if sft_steps:
        from ..rollout.scoring import token_logprobs

        v = world.vocab()
        pairs = []
        for p in world.problems("all"):
            for (ids, trunc), r in zip(world.responses(), world.rewards(p)):
                if r > 0:
                    pairs.append(([v[c] for c in p.prompt], ids))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(sft_steps):
            lp, mask = token_logprobs(model, [a for a, _ in pairs], [b for _, b in pairs], 1.0, pad_id=0)
            loss = -(lp * mask).sum() / mask.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    build_enum_tokenizer(world).save_pretrained(out)
    return out


# ---------------------------------------------------------------------- exact quantities


def response_logprobs(model, world: EnumWorld, problems: list[Problem], temperature: float = 1.0,
                      grad: bool = False):
    """(P, R) tensor of log pi(y|x) for every prompt and every response of ``world.responses()``."""
    import contextlib

    import torch

    from ..rollout.scoring import token_logprobs

    resp = [ids for ids, _ in world.responses()]
    v = world.vocab()
    rows = []
    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx:
        for p in problems:
            pids = [[v[c] for c in p.prompt]] * len(resp)
            lp, mask = token_logprobs(model, pids, resp, temperature, pad_id=0)
            rows.append((lp * mask).sum(-1))
    return torch.stack(rows)


def exact_log_z(model, world: EnumWorld, problems: list[Problem], beta: float) -> dict:
    """Exact log Z_beta per prompt, pi*_beta and pi_ref over the full response set (numpy arrays).

    Returns {"prompt_id": [...], "log_z": (P,), "log_pi_ref": (P, R), "log_pi_star": (P, R), "reward": (P, R),
    "mass": (P,) total pi_ref mass of the set (1 up to float error)}."""
    lp = response_logprobs(model, world, problems).double().numpy()
    r = np.stack([world.rewards(p) for p in problems])
    ell = lp + beta * r
    m = ell.max(1, keepdims=True)
    log_z = (m + np.log(np.exp(ell - m).sum(1, keepdims=True)))[:, 0]
    return {"prompt_id": [p.prompt_id for p in problems], "log_z": log_z, "log_pi_ref": lp,
            "log_pi_star": ell - log_z[:, None], "reward": r, "mass": np.exp(lp).sum(1)}


def exact_for_model_path(ref: str, task, prompt_ids: list[str], beta: float) -> dict:
    from ..models import load_model

    loaded = load_model(ref)
    if loaded.tokenizer.get_vocab() != task.vocab():
        raise UserError(f"--ref {ref!r} does not use the vocabulary of task {task.name!r} "
                        f"(build one with disa_bench.tasks.enum_world.build_enum_model)")
    return exact_log_z(loaded.model, task, [task.problem_by_id(p) for p in prompt_ids], beta)
