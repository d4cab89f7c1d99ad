"""What the code benchmark families share (humaneval.py, livecodebench.py, codeforces.py; data formats:
shared/benchmarks/code/SOURCES.md).

Every program runs in :mod:`disa_bench.graders.sandbox` (fresh interpreter, rlimits, own uid / net / mount
namespaces where available). ``grade`` extracts the last fenced program and gives reward 1.0 iff every test
passes; it is both the RL reward and the eval score. ``grade_batch`` grades many (problem, response) pairs on
``workers`` threads. A family writes ``parse`` (rows -> items), ``limits`` (sandbox limits of one item) and
``run`` (one extracted program against one item's tests).

Prompt: ``plain`` = instruction + problem; ``chat`` = ChatML with the instruction as system message;
``hf:<tokenizer>`` = that tokenizer's chat template (system + user). Problem meta: ``line``, ``format`` (the
row's test format) and ``question`` (the user part of the prompt), plus the family's extras.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..graders.code import DEFAULT_WORKERS, extract_code, grade_many
from ..graders.sandbox import Limits
from ..io import read_jsonl_rows
from ..types import Grade, Problem
from .benchmark import Benchmark, Item
from .data import REPO

# the LiveCodeBench prompt pieces (codeforces problems are posed the same way)
LCB_SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
              "generate a correct Python program that matches the specification and passes all tests.")
STDIN_FORMAT = ("### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                "directly test on the sample inputs). Enclose your code within delimiters as follows. Ensure that "
                "when the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
                "```python\n# YOUR CODE HERE\n```")
ANSWER_CUE = "### Answer: (use the provided format with backticks)"


@dataclass
class CodeBench(Benchmark):
    workers: int = DEFAULT_WORKERS  # parallel sandboxes in grade_batch
    timeout_s: float | None = None  # humanevalplus: whole program (default 60); livecodebench: per test (default 6)
    time_scale: float = 1.0  # codeforces: multiplier on the statement's time limit
    memory_mb: int = 2048  # RLIMIT_AS for humanevalplus / livecodebench (codeforces: statement limit + 512)
    hide_data: bool = True  # cover the benchmark dir with an empty tmpfs inside the sandbox (if mount ns works)

    family = "code"
    system = LCB_SYSTEM

    # -------- the family's bits (besides parse)
    def limits(self, it: Item) -> Limits:
        raise NotImplementedError

    def run(self, it: Item, code: str, lim: Limits) -> Grade:
        raise NotImplementedError

    # -------- shared
    def plain(self, system: str, user: str) -> str:
        return f"{system}\n\n{user}\n\n"

    def meta(self, it: Item) -> dict:
        return {"line": it.line, "format": it.kind, "question": it.text, **it.extra}

    @property
    def grader_version(self) -> str:
        from ..graders.code import grader_version

        return grader_version()

    @property
    def _hide(self) -> tuple[str, ...]:
        """Paths covered inside the sandbox: the benchmark dir of a local file, if ``hide_data``."""
        self.items()
        return _hide_paths(self._dir) if (self._dir is not None and self.hide_data) else ()

    def grade(self, problem: Problem, response: str) -> Grade:
        return self.grade_code(problem, extract_code(response))

    def grade_code(self, problem: Problem, code: str) -> Grade:
        """Grade an already extracted program (tests, canonical solutions)."""
        it = self.item(problem)
        return self.run(it, code, self.limits(it))

    def grade_batch(self, pairs: list[tuple[Problem, str]]) -> list[Grade]:
        """Grade many (problem, response) pairs, ``workers`` sandboxes at a time; results in input order."""
        self.items()  # load once here, not racing in the worker threads
        return grade_many([(lambda p=p, r=r: self.grade(p, r)) for p, r in pairs], workers=self.workers)

    grade_many = grade_batch


# ---------------------------------------------------------------- row checks and side files


def need(row: dict, name: str, where: str, kind=str):
    """Field ``name`` of ``row`` (a non-empty string unless ``kind`` says otherwise), else a UserError."""
    v = row.get(name)
    if v is None or (kind is str and (not isinstance(v, str) or not v.strip())):
        raise UserError(f"{where}: missing field {name!r}")
    if not isinstance(v, kind):
        raise UserError(f"{where}: field {name!r} should be {kind.__name__}, got {type(v).__name__}")
    return v


def tests_field(row: dict, where: str) -> list:
    """The row's ``tests``: a non-empty list of {input, output} strings (a JSON string of one is accepted)."""
    t = row.get("tests")
    if isinstance(t, str):  # some HF exports store the list as a JSON string
        try:
            t = json.loads(t)
        except ValueError:
            raise UserError(f"{where}: field 'tests' is a string that is not JSON") from None
    if not isinstance(t, list) or not t:
        raise UserError(f"{where}: missing field 'tests' (a non-empty list)")
    for j, x in enumerate(t):
        if not isinstance(x, dict):
            raise UserError(f"{where}: tests[{j}] is not an object")
        for k in ("input", "output"):
            if not isinstance(x.get(k), str):
                raise UserError(f"{where}: missing field 'tests[{j}].{k}'")
    return t


def side_ids(side: Path | None, fname: str, n: int, key: str) -> list | None:
    """Field ``key`` of each row of the jsonl side file ``fname``, if it has ``n`` string values; else None."""
    p = side / fname if side else None
    if p is None or not p.exists():
        return None
    vals = [r.get(key) for _, r in read_jsonl_rows(p)]
    return vals if len(vals) == n and all(isinstance(v, str) for v in vals) else None


def side_list(side: Path | None, fname: str, n: int) -> list | None:
    """The JSON list in side file ``fname``, if it has ``n`` items; else None."""
    p = side / fname if side else None
    if p is None or not p.exists():
        return None
    try:
        vals = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return vals if isinstance(vals, list) and len(vals) == n else None


def _hide_paths(data_dir: Path) -> tuple[str, ...]:
    """The benchmark dir, unless hiding it would hide the interpreter or this package."""
    d = os.path.realpath(data_dir)
    keep = [os.path.realpath(x) for x in (sys.prefix, sys.base_prefix, sys.executable, REPO)]
    if d == "/" or any(k == d or k.startswith(d + os.sep) for k in keep):
        return ()
    return (d,)
