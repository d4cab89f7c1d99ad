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
(8 prompts, 15 responses each). ``disa_bench.world.enum_models.build_enum_model`` writes a tiny model for a world
(GPT-2 architecture, see there why); ``disa_bench.anchor.exact`` computes the exact log Z under any such model.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

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

    def solution_strategies(self, problem: Problem) -> set[str]:
        """Every correct response (the grader's strategy key of a response is its text)."""
        return {self.response_text(ids) for ids, trunc in self.responses()
                if self.grade(problem, self.response_text(ids), trunc).reward > 0}

    def rewards(self, problem: Problem) -> np.ndarray:
        return np.array([self.grade(problem, self.response_text(ids), trunc).reward for ids, trunc in self.responses()])


TASKS.add("enum-abc", EnumWorld)
TASKS.add("enum-ab", lambda: EnumWorld(letters="ab", prompt_len=3, max_new_tokens=3, test_frac=0.0, name="enum-ab"))


def is_enumerable(task) -> bool:
    return bool(getattr(task, "enumerable", False)) and hasattr(task, "responses")
