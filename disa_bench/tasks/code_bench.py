"""The code benchmarks: ``humanevalplus``, ``livecodebench`` and ``codeforces`` (data formats: shared/benchmarks/code/SOURCES.md).

* ``humanevalplus`` (164): the evalplus OriginFmt ``check(candidate)`` harness with the base+plus inputs;
  HumanEval/32 (``find_zero``, whose shipped check is broken) is judged with the evalplus native inputs and
  ``abs(_poly(*inp, out)) <= 1e-4``, so all 164 count.
* ``livecodebench`` (279, release_v5 2024-08..2025-02, **public tests only**): stdin tests with the official
  line / ``Decimal`` comparison, LeetCode functional tests via ``Solution().<method>(*json args)``; the official
  import prelude is prepended to every program; 6 s per test.
* ``codeforces`` (408 rows, **statement examples only**): stdin, token comparison (real-number tokens within
  1e-6), the statement's time limit x ``time_scale`` + 1 s interpreter start-up. Interactive problems (tag
  ``interactive``) cannot be judged from examples: they are excluded and counted (:attr:`CodeBench.excluded`).

Every program runs in :mod:`disa_bench.graders.sandbox` (fresh interpreter, rlimits, own uid / net / mount
namespaces where available). ``grade`` gives reward 1.0 iff every test passes; it is both the RL reward and the
eval score. ``grade_batch`` grades many (problem, response) pairs on ``workers`` threads.

Data (``data=``): a dir holding the file (or ``code/<file>``), a ``.jsonl`` path, or a Hugging Face dataset id with
the same fields (loaded with ``datasets`` only then). Default: ``$DISA_BENCH_BENCHMARKS`` or
``<repo>/../shared/benchmarks``. Only a ``test`` split. A row missing a field is a UserError naming file:line and
the field.

Prompt (``template=``): ``plain`` = instruction + problem; ``chat`` = ChatML with the instruction as system
message; ``hf:<tokenizer>`` = that tokenizer's chat template.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import read_jsonl_rows
from ..graders.code import (
    DEFAULT_WORKERS,
    LCB_IMPORTS,
    extract_code,
    find_zero_check,
    grade_function_check,
    grade_functional,
    grade_many,
    grade_stdin,
    humaneval_program_head,
    lcb_outputs_match,
    tokens_match,
)
from ..graders.sandbox import Limits
from ..types import Grade, Problem
from .base import TASKS
from .data import REPO, default_data_root, load_hf_rows, locate  # noqa: F401  (re-exported)



# ---------------------------------------------------------------- prompts

HUMANEVAL_SYSTEM = ("You are an expert Python programmer. Complete the given Python function. Write the complete "
                    "function, with any imports it needs, in one ```python code block.")
LCB_SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
              "generate a correct Python program that matches the specification and passes all tests.")
STDIN_FORMAT = ("### Format: Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                "directly test on the sample inputs). Enclose your code within delimiters as follows. Ensure that "
                "when the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n"
                "```python\n# YOUR CODE HERE\n```")
STARTER_FORMAT = ("### Format: You will use the following starter code to write the solution to the problem and "
                  "enclose your code within delimiters.\n```python\n{starter}\n```")
ANSWER_CUE = "### Answer: (use the provided format with backticks)"


def render_prompt(system: str, user: str, template: str) -> str:
    if template == "plain":
        return f"{system}\n\n{user}\n\n"
    if template == "chat":
        return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
                "<|im_start|>assistant\n")
    if template.startswith("hf:"):
        tok = _tokenizer(template[3:])
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    raise UserError(f"unknown code prompt template {template!r}; valid: plain, chat, hf:<tokenizer dir or id>")


_TOKENIZERS: dict = {}


def _tokenizer(name: str):
    if name not in _TOKENIZERS:
        from ..models import load_tokenizer

        tok = load_tokenizer(name)
        if not getattr(tok, "chat_template", None):
            raise UserError(f"tokenizer {name!r} has no chat template; use template 'plain' or 'chat'")
        _TOKENIZERS[name] = tok
    return _TOKENIZERS[name]


# ---------------------------------------------------------------- loading helpers


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank line of a jsonl file; a bad line is a UserError naming it."""
    return read_jsonl_rows(path)


def _need(row: dict, name: str, where: str, kind=str):
    v = row.get(name)
    if v is None or (kind is str and (not isinstance(v, str) or not v.strip())):
        raise UserError(f"{where}: missing field {name!r}")
    if not isinstance(v, kind):
        raise UserError(f"{where}: field {name!r} should be {kind.__name__}, got {type(v).__name__}")
    return v


def _tests_field(row: dict, where: str) -> list:
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


_DEF = re.compile(r"def\s+(\w+)\s*\(\s*self\b")
_TL = re.compile(r"Time Limit:\s*([\d.]+)\s*ms")
_ML = re.compile(r"Memory Limit:\s*([\d.]+)\s*MB")
_TAGS = re.compile(r"Tags:\s*\n?\s*(\[[^\]]*\])")


@dataclass(frozen=True)
class CodeSpec:
    file: str
    kind: str  # humaneval / lcb / codeforces
    hf_split: str = "test"


SPECS: dict[str, CodeSpec] = {
    "humanevalplus": CodeSpec("humanevalplus.jsonl", "humaneval"),
    "livecodebench": CodeSpec("livecodebench.jsonl", "lcb"),
    "codeforces": CodeSpec("codeforces.jsonl", "codeforces"),
}


@dataclass
class Item:
    """One parsed benchmark row: everything ``grade`` needs (kept off ``Problem.meta`` to keep problems small)."""

    pid: str
    line: int
    text: str  # the user part of the prompt
    kind: str  # function / stdin / functional
    data: dict


# ---------------------------------------------------------------- the task


@dataclass
class CodeBench:
    name: str
    data: str | None = None
    template: str = "plain"
    max_new_tokens: int = 4096
    workers: int = DEFAULT_WORKERS  # parallel sandboxes in grade_batch
    timeout_s: float | None = None  # humanevalplus: whole program (default 60); livecodebench: per test (default 6)
    time_scale: float = 1.0  # codeforces: multiplier on the statement's time limit
    memory_mb: int = 2048  # RLIMIT_AS for humanevalplus / livecodebench (codeforces: statement limit + 512)
    hide_data: bool = True  # cover the benchmark dir with an empty tmpfs inside the sandbox (if mount ns works)
    reward_range: tuple[float, float] = (0.0, 1.0)
    default_eval_prompts = None  # eval every problem unless --n-prompts says otherwise (as math_bench)
    _items: list | None = field(default=None, init=False, repr=False)
    excluded: list = field(default_factory=list, init=False, repr=False)  # codeforces: interactive problem ids

    def __post_init__(self):
        if self.name not in SPECS:
            raise UserError(f"unknown code benchmark {self.name!r}; valid: {', '.join(SPECS)}")
        self.spec = SPECS[self.name]
        if not self.template.startswith("hf:"):
            render_prompt("s", "u", self.template)  # validate early

    @property
    def grader_version(self) -> str:
        from ..graders.code import grader_version

        return grader_version()

    # -------- data
    def source(self) -> str:
        return self._locate()[1]

    def _locate(self) -> tuple[str, str]:
        return locate(self.name, self.data, "code", self.spec.file)

    def _load_hf(self, dataset_id: str) -> list[tuple[int, dict]]:
        return load_hf_rows(dataset_id, self.spec.hf_split)

    def items(self) -> list[Item]:
        """All gradable rows, parsed and validated (loaded once)."""
        if self._items is None:
            kind, where = self._locate()
            rows = read_rows(Path(where)) if kind == "file" else self._load_hf(where)
            label = where if kind == "file" else f"hf:{where}"
            if not rows:
                raise UserError(f"{label}: no rows")
            side = Path(where).parent if kind == "file" else None
            parse = {"humaneval": self._parse_humaneval, "lcb": self._parse_lcb,
                     "codeforces": self._parse_codeforces}[self.spec.kind]
            self.excluded = []
            self._items = parse(rows, label, side)
            self._by_id = {it.pid: it for it in self._items}
            self._hide = _hide_paths(Path(where).parent) if (kind == "file" and self.hide_data) else ()
        return self._items

    # -- humanevalplus
    def _parse_humaneval(self, rows, label, side) -> list[Item]:
        out = []
        for ln, row in rows:
            w = f"{label}:{ln}"
            tid = _need(row, "task_id", w)
            prompt = _need(row, "prompt", w)
            test = _need(row, "test", w)
            ep = _need(row, "entry_point", w)
            if "def check(" not in test:
                raise UserError(f"{w}: field 'test' has no 'def check(candidate)'")
            data = {"prompt": prompt, "test": test, "entry_point": ep, "task_id": tid,
                    "canonical_solution": row.get("canonical_solution")}
            if ep == "find_zero" or tid == "HumanEval/32":
                data["test"] = find_zero_check(_find_zero_inputs(side, test, w))
            text = f"```python\n{prompt.rstrip()}\n```"
            out.append(Item(f"{self.name}/{tid}", ln, text, "function", data))
        return out

    # -- livecodebench
    def _parse_lcb(self, rows, label, side) -> list[Item]:
        qids = _side_ids(side, "livecodebench_qwq_v5_index.jsonl", len(rows), "question_id")
        out = []
        for i, (ln, row) in enumerate(rows):
            w = f"{label}:{ln}"
            q = _need(row, "problem", w)
            starter = row.get("starter_code", "")
            if not isinstance(starter, str):
                raise UserError(f"{w}: field 'starter_code' should be a string")
            tests = _tests_field(row, w)
            types = {t.get("testtype", "stdin") for t in tests}
            if len(types) != 1 or not types <= {"stdin", "functional"}:
                raise UserError(f"{w}: field 'tests[].testtype' must be all 'stdin' or all 'functional', got {sorted(types)}")
            pid = f"{self.name}/{qids[i] if qids else i}"
            if types == {"functional"}:
                m = _DEF.search(starter)
                if not m:
                    raise UserError(f"{w}: functional tests need field 'starter_code' with a 'def <method>(self, ...)'")
                parsed = []
                for j, t in enumerate(tests):
                    try:
                        args = [json.loads(x) for x in t["input"].split("\n")]
                        exp = json.loads(t["output"])
                    except ValueError:
                        raise UserError(f"{w}: tests[{j}] input/output lines are not JSON") from None
                    parsed.append({"args": args, "expected": exp})
                text = f"### Question:\n{q.strip()}\n\n{STARTER_FORMAT.format(starter=starter.rstrip())}\n\n{ANSWER_CUE}"
                out.append(Item(pid, ln, text, "functional", {"method": m.group(1), "tests": parsed}))
            else:
                text = f"### Question:\n{q.strip()}\n\n{STDIN_FORMAT}\n\n{ANSWER_CUE}"
                out.append(Item(pid, ln, text, "stdin", {"tests": [{"input": t["input"], "output": t["output"]}
                                                                    for t in tests]}))
        return out

    # -- codeforces
    def _parse_codeforces(self, rows, label, side) -> list[Item]:
        ids = _side_list(side, "codeforces_problem_ids.json", len(rows))
        out = []
        for i, (ln, row) in enumerate(rows):
            w = f"{label}:{ln}"
            q = _need(row, "problem", w)
            tests = _tests_field(row, w)
            pid = f"{self.name}/{ids[i] if ids else i}"
            tags = []
            m = _TAGS.search(q)
            if m:
                try:
                    tags = [str(x) for x in ast.literal_eval(m.group(1))]
                except (ValueError, SyntaxError):
                    tags = []
            if "interactive" in tags:
                self.excluded.append(pid)
                continue
            tl = _TL.search(q)
            ml = _ML.search(q)
            data = {"tests": [{"input": t["input"], "output": t["output"]} for t in tests],
                    "time_limit_s": float(tl.group(1)) / 1000 if tl else 2.0,
                    "memory_limit_mb": int(float(ml.group(1))) if ml else 256, "tags": tags}
            text = f"### Question:\n{q.strip()}\n\n{STDIN_FORMAT}\n\n{ANSWER_CUE}"
            out.append(Item(pid, ln, text, "stdin", data))
        return out

    @property
    def n_excluded(self) -> int:
        """How many rows were left out as ungradable (codeforces: interactive problems)."""
        self.items()
        return len(self.excluded)

    # -------- Task protocol
    def problems(self, split: str = "test", n: int | None = None, seed: int = 0) -> list[Problem]:
        if split != "test":
            raise UserError(f"task {self.name!r} is a benchmark with only a 'test' split (got {split!r})")
        items = self.items()
        idx = list(range(len(items)))
        if n is not None and n < len(idx):
            idx = sorted(random.Random(f"{self.name}|{split}|{seed}").sample(idx, n))
        system = HUMANEVAL_SYSTEM if self.spec.kind == "humaneval" else LCB_SYSTEM
        out = []
        for i in idx:
            it = items[i]
            meta = {"line": it.line, "format": it.kind, "question": it.text}
            if it.kind == "function":
                meta["entry_point"] = it.data["entry_point"]
            elif it.kind == "functional":
                meta["method"] = it.data["method"]
            out.append(Problem(prompt_id=it.pid, task=self.name, prompt=render_prompt(system, it.text, self.template),
                               answer=None, meta=meta))
        return out

    def item(self, problem: Problem) -> Item:
        self.items()
        it = self._by_id.get(problem.prompt_id)
        if it is None:
            raise UserError(f"problem {problem.prompt_id!r} is not in task {self.name!r} ({self.source()})")
        return it

    def limits(self, it: Item) -> Limits:
        if self.spec.kind == "humaneval":
            return Limits(timeout_s=self.timeout_s or 60.0, memory_mb=self.memory_mb)
        if self.spec.kind == "lcb":
            per = self.timeout_s or 6.0
            n = len(it.data["tests"]) if it.kind == "functional" else 1
            return Limits(timeout_s=per * n + (1.0 if n > 1 else 0.0), memory_mb=self.memory_mb)
        return Limits(timeout_s=it.data["time_limit_s"] * self.time_scale + 1.0,
                      memory_mb=it.data["memory_limit_mb"] + 512)

    def grade(self, problem: Problem, response: str) -> Grade:
        return self.grade_code(problem, extract_code(response))

    def grade_code(self, problem: Problem, code: str) -> Grade:
        """Grade an already extracted program (tests, canonical solutions)."""
        it = self.item(problem)
        lim = self.limits(it)
        if it.kind == "function":
            if not code.strip():
                return Grade(0.0, None, None, "parse_error", "empty program")
            d = it.data
            head = humaneval_program_head(d["prompt"], code, d["entry_point"])
            return grade_function_check(head, d["test"], d["entry_point"], lim, hide=self._hide)
        if it.kind == "functional":
            return grade_functional(code, it.data["method"], it.data["tests"], lim, prelude=LCB_IMPORTS,
                                    hide=self._hide)
        if self.spec.kind == "lcb":
            return grade_stdin(code, it.data["tests"], lim, lcb_outputs_match, prelude=LCB_IMPORTS, hide=self._hide)
        return grade_stdin(code, it.data["tests"], lim, tokens_match, hide=self._hide)

    def grade_batch(self, pairs: list[tuple[Problem, str]]) -> list[Grade]:
        """Grade many (problem, response) pairs, ``workers`` sandboxes at a time; results in input order."""
        self.items()  # load once here, not racing in the worker threads
        return grade_many([(lambda p=p, r=r: self.grade(p, r)) for p, r in pairs], workers=self.workers)

    grade_many = grade_batch


# ---------------------------------------------------------------- side files


def _hide_paths(data_dir: Path) -> tuple[str, ...]:
    """The benchmark dir, unless hiding it would hide the interpreter or this package."""
    d = os.path.realpath(data_dir)
    keep = [os.path.realpath(x) for x in (sys.prefix, sys.base_prefix, sys.executable, REPO)]
    if d == "/" or any(k == d or k.startswith(d + os.sep) for k in keep):
        return ()
    return (d,)


def _find_zero_inputs(side: Path | None, test: str, where: str) -> list:
    """HumanEval/32 inputs: base_input + plus_input of the evalplus native file beside the data file, else the
    ``inputs`` list of the shipped check."""
    native = side / "humanevalplus_evalplus_native.jsonl" if side else None
    if native is not None and native.exists():
        with open(native, encoding="utf-8") as f:
            for line in f:
                if '"HumanEval/32"' in line:
                    row = json.loads(line)
                    return list(row["base_input"]) + list(row["plus_input"])
    try:
        tree = ast.parse(test)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "inputs":
                return ast.literal_eval(node.value)
    except (SyntaxError, ValueError):
        pass
    raise UserError(f"{where}: cannot find the find_zero inputs (no native file and no 'inputs = [...]' in 'test')")


def _side_ids(side: Path | None, fname: str, n: int, key: str) -> list | None:
    p = side / fname if side else None
    if p is None or not p.exists():
        return None
    vals = [r.get(key) for _, r in read_rows(p)]
    return vals if len(vals) == n and all(isinstance(v, str) for v in vals) else None


def _side_list(side: Path | None, fname: str, n: int) -> list | None:
    p = side / fname if side else None
    if p is None or not p.exists():
        return None
    try:
        vals = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return vals if isinstance(vals, list) and len(vals) == n else None


def _factory(set_name: str):
    def make(**kwargs) -> CodeBench:
        return CodeBench(set_name, **kwargs)

    make.__name__ = f"CodeBench[{set_name}]"
    return make


for _n in SPECS:
    TASKS.add(_n, _factory(_n))
