"""The embedded task: Countdown-3.

"Use 3 5 7 to make 22:" -> " 3*5+7=22". Use each given number exactly once with + - * and parentheses; any
expression that evaluates to the target earns reward 1. Most prompts have several genuinely different
solutions (different expression trees, not just reorderings), which is what lets the diversity measures tell
mode collapse from distribution matching.

The grader parses with its own small recursive-descent parser (no ``eval``) and returns the reward, the
value reached as the extracted answer, and a *strategy key*: the expression tree up to commutativity and
associativity (sums are multisets of signed terms, products multisets of factors).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
from dataclasses import dataclass, field

from ..types import Grade, Problem
from .base import TASKS

OPS = "+-*"
MIN_NUM, MAX_NUM = 1, 9
MIN_TARGET, MAX_TARGET = 1, 99


# ---------------------------------------------------------------- expression trees
# A tree is an int (leaf) or a tuple (op, left, right).


def evaluate(t) -> int:
    if isinstance(t, int):
        return t
    op, a, b = t
    x, y = evaluate(a), evaluate(b)
    return x + y if op == "+" else x - y if op == "-" else x * y


_PREC = {"+": 1, "-": 1, "*": 2}


def render(t) -> str:
    """Render with the fewest parentheses that keep the tree's meaning."""
    if isinstance(t, int):
        return str(t)
    op, a, b = t
    left = render(a)
    if not isinstance(a, int) and _PREC[a[0]] < _PREC[op]:
        left = f"({left})"
    right = render(b)
    if not isinstance(b, int) and (_PREC[b[0]] < _PREC[op] or (_PREC[b[0]] == _PREC[op] and op == "-")):
        right = f"({right})"
    return f"{left}{op}{right}"


def strategy_key(t) -> str:
    """Canonical form up to commutativity/associativity: S[...] signed-term multisets, P[...] factor multisets."""
    if isinstance(t, int):
        return str(t)
    if t[0] in "+-":
        terms: list[str] = []

        def collect(node, sign: str):
            if not isinstance(node, int) and node[0] in "+-":
                collect(node[1], sign)
                collect(node[2], sign if node[0] == "+" else ("-" if sign == "+" else "+"))
            else:
                terms.append(sign + strategy_key(node))

        collect(t, "+")
        return "S[" + ",".join(sorted(terms)) + "]"
    factors: list[str] = []

    def collect_p(node):
        if not isinstance(node, int) and node[0] == "*":
            collect_p(node[1])
            collect_p(node[2])
        else:
            factors.append(strategy_key(node))

    collect_p(t)
    return "P[" + ",".join(sorted(factors)) + "]"


def leaves(t) -> list[int]:
    return [t] if isinstance(t, int) else leaves(t[1]) + leaves(t[2])


class ParseError(ValueError):
    pass


def parse(s: str):
    """Parse an integer expression over + - * and parentheses into a tree. Raises ParseError."""
    if len(s) > 64:
        raise ParseError("expression too long")
    toks: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c.isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            toks.append(s[i:j])
            i = j
        elif c in "+-*()":
            toks.append(c)
            i += 1
        else:
            raise ParseError(f"unexpected character {c!r}")
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def expr():
        node = term()
        while peek() in ("+", "-"):
            op = take()
            node = (op, node, term())
        return node

    def term():
        node = atom()
        while peek() == "*":
            take()
            node = ("*", node, atom())
        return node

    def atom():
        tok = peek()
        if tok is None:
            raise ParseError("unexpected end")
        if tok == "(":
            take()
            node = expr()
            if peek() != ")":
                raise ParseError("missing ')'")
            take()
            return node
        if tok.isdigit():
            take()
            return int(tok)
        raise ParseError(f"unexpected {tok!r}")

    tree = expr()
    if pos != len(toks):
        raise ParseError(f"trailing {toks[pos]!r}")
    return tree


# ---------------------------------------------------------------- the solver


def all_trees(nums: tuple[int, ...]):
    """Every expression tree using each number exactly once (both shapes, all orders, all ops)."""
    if len(nums) == 1:
        yield nums[0]
        return
    n = len(nums)
    seen = set()
    for perm in itertools.permutations(range(n)):
        ordered = tuple(nums[i] for i in perm)
        if ordered in seen:
            continue
        seen.add(ordered)
        for split in range(1, n):
            for a in _trees_ordered_cached(ordered[:split]):
                for b in _trees_ordered_cached(ordered[split:]):
                    for op in OPS:
                        yield (op, a, b)


@functools.lru_cache(maxsize=None)
def _trees_ordered_cached(nums: tuple[int, ...]) -> tuple:
    if len(nums) == 1:
        return (nums[0],)
    out = []
    for split in range(1, len(nums)):
        for a in _trees_ordered_cached(nums[:split]):
            for b in _trees_ordered_cached(nums[split:]):
                for op in OPS:
                    out.append((op, a, b))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _solutions_by_value(nums: tuple[int, ...]) -> dict[int, tuple[str, ...]]:
    by: dict[int, set[str]] = {}
    for t in all_trees(nums):
        by.setdefault(evaluate(t), set()).add(render(t))
    return {v: tuple(sorted(s)) for v, s in by.items()}


def solutions(nums: tuple[int, ...], target: int) -> tuple[str, ...]:
    """All distinct minimal-parenthesis solution strings for (nums, target), sorted."""
    return _solutions_by_value(tuple(sorted(nums))).get(target, ())


@functools.lru_cache(maxsize=None)
def reachable(nums: tuple[int, ...]) -> frozenset[int]:
    """Values reachable using each of the (sorted) numbers exactly once: a DP over sub-multisets."""
    if len(nums) == 1:
        return frozenset(nums)
    out: set[int] = set()
    n = len(nums)
    for mask in range(1, 2 ** (n - 1)):  # the last number always sits in the right part: no mirror twice
        left = tuple(nums[i] for i in range(n) if mask >> i & 1)
        right = tuple(nums[i] for i in range(n) if not mask >> i & 1)
        for x in reachable(left):
            for y in reachable(right):
                out.update((x + y, x - y, y - x, x * y))
    return frozenset(out)


SPLITS = ("test", "val", "train", "sft")  # in the order of their bands of u


def _split_of(split_seed: int, fracs: tuple[float, float, float], nums, target) -> str:
    """The split of a pair: u in [0, 1) from a hash of (split_seed, pair); bands of width ``fracs`` (test, val,
    train) from 0, the rest sft."""
    h = hashlib.sha256(f"{split_seed}|{nums}|{target}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    edge = 0.0
    for name, frac in zip(SPLITS, fracs):
        edge += frac
        if u < edge:
            return name
    return "sft"


@functools.lru_cache(maxsize=None)
def _split_pairs(size: int, split: str, split_seed: int, fracs: tuple[float, float, float]) -> tuple:
    """The (numbers, target) pairs of one size in one split (a hash of the pair decides; stable across runs)."""
    return tuple(p for p in _universe(size) if _split_of(split_seed, fracs, *p) == split)


@functools.lru_cache(maxsize=None)
def _universe(n_numbers: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """All (sorted numbers, target) pairs with at least one solution and a target in range."""
    out = []
    for nums in itertools.combinations_with_replacement(range(MIN_NUM, MAX_NUM + 1), n_numbers):
        for v in sorted(reachable(nums)):
            if MIN_TARGET <= v <= MAX_TARGET:
                out.append((nums, v))
    return tuple(out)


# ---------------------------------------------------------------- the task


def format_prompt(nums: tuple[int, ...], target: int) -> str:
    return f"Use {' '.join(map(str, nums))} to make {target}:"


@dataclass
class Countdown:
    """Countdown with 3 or 4 numbers in 1..9 and targets in 1..99; by default 4/5 of the problems use three
    numbers and 1/5 use four (``weights``).

    Three-number problems are mostly easy with one strategy; four-number problems are harder and usually
    have several distinct strategies (2.1 on average), so the mix spreads both difficulty (log Z varies
    across prompts) and strategy diversity while keeping a tiny model's accuracy in a useful band.

    Splits: every (number multiset, target) pair gets a uniform number u from a hash of (pair, split_seed):
    ``test`` (u < test_frac) is held out for evaluation, ``val`` (the next val_frac) is held out for tuning
    (``disa-bench tune`` picks each method's learning rate by val Mean@8), ``train`` (the next train_frac) is where
    RL and the offline proposals draw their prompts, and ``sft`` (u >= 0.4, the rest) is the only data the embedded
    models were pre-trained on — so RL and val prompts are as unseen by the base model as test prompts. The splits
    never share a pair and are stable across runs. ``val`` was cut from the upper half of what was ``train`` (u in
    [0.2, 0.4)), so ``test`` and ``sft`` — and with them the embedded models — are the same as before it existed.
    """

    sizes: tuple[int, ...] = (3, 4)
    weights: tuple[int, ...] = (4, 1)  # share of problems per size
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    test_frac: float = 0.2
    val_frac: float = 0.1
    train_frac: float = 0.1
    split_seed: int = 0
    name: str = "countdown"
    reward_range: tuple[float, float] = (0.0, 1.0)
    max_new_tokens: int = 20

    @property
    def _fracs(self) -> tuple[float, float, float]:
        return (self.test_frac, self.val_frac, self.train_frac)

    def _split_of(self, nums, target) -> str:
        return _split_of(self.split_seed, self._fracs, nums, target)

    def pairs(self, split: str):
        if split not in SPLITS:
            from ..errors import UserError

            raise UserError(f"unknown split {split!r} for task {self.name!r}; valid: {', '.join(SPLITS)}")
        if split not in self._cache:  # per instance, from a per-process cache of the hashed splits
            self._cache[split] = {size: list(_split_pairs(size, split, self.split_seed, self._fracs))
                                  for size in self.sizes}
        return self._cache[split]

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        by_size = self.pairs(split)
        rng = random.Random(f"{self.name}|{split}|{seed}")
        pairs = []
        for i, size in enumerate(self.sizes):
            pool = by_size[size]
            if n is None:
                pairs += pool
            else:  # shares by weight, the remainder to the first sizes
                shares = [n * w // sum(self.weights) for w in self.weights]
                share = shares[i] + (1 if i < n - sum(shares) else 0)
                pairs += rng.sample(pool, min(share, len(pool)))
        if n is not None:
            rng.shuffle(pairs)
        return [self._problem(nums, target) for nums, target in pairs]

    def _problem(self, nums: tuple[int, ...], target: int) -> Problem:
        shown = list(nums)
        random.Random(f"{nums}|{target}").shuffle(shown)  # the order shown is part of the problem, fixed by the pair
        return Problem(prompt_id=f"{self.name}/{''.join(map(str, nums))}-{target}", task=self.name,
                       prompt=format_prompt(tuple(shown), target), answer=target, meta={"numbers": shown})

    def problem_by_id(self, prompt_id: str) -> Problem:
        """The problem of a prompt id (``countdown/357-22``: the sorted numbers, one digit each, and the target)."""
        digits, _, target = prompt_id.split("/", 1)[-1].partition("-")
        if not (digits.isdigit() and target.isdigit()):
            from ..errors import UserError

            raise UserError(f"prompt_id {prompt_id!r} is not a prompt of task {self.name!r}")
        return self._problem(tuple(sorted(int(c) for c in digits)), int(target))

    def solution_strategies(self, problem: Problem) -> set[str]:
        """Every distinct correct strategy of the problem: the strategy keys (the grader's) of all expression
        trees that use each number once and reach the target."""
        return set(_strategies(tuple(sorted(problem.meta["numbers"])), int(problem.answer)))

    def grade(self, problem: Problem, response: str) -> Grade:
        return grade_countdown(problem.meta["numbers"], int(problem.answer), response)


@functools.lru_cache(maxsize=4096)
def _strategies(nums: tuple[int, ...], target: int) -> frozenset[str]:
    return frozenset(strategy_key(t) for t in all_trees(nums) if evaluate(t) == target)


def grade_countdown(numbers, target: int, response: str) -> Grade:
    text = response.strip().split("\n")[0]
    expr, _, claimed = text.partition("=")
    try:
        tree = parse(expr)
    except ParseError as e:
        return Grade(0.0, None, None, "parse_error", str(e))
    value = evaluate(tree)
    key = strategy_key(tree)
    if sorted(leaves(tree)) != sorted(numbers):
        return Grade(0.0, str(value), key, "wrong", "does not use each given number exactly once")
    if claimed.strip() and claimed.strip() != str(target):
        return Grade(0.0, str(value), key, "wrong", f"claims {claimed.strip()!r}, target {target}")
    if value != target:
        return Grade(0.0, str(value), key, "wrong", f"evaluates to {value}, target {target}")
    return Grade(1.0, str(value), key, "ok", "")


TASKS.add("countdown", Countdown)
