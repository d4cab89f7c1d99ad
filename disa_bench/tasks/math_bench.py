"""The math benchmarks: aime24, aime25, amc23, math500, minerva, olympiadbench (= group ``math6``) and gsm8k.

Each set is one :class:`MathSpec` row (file name, question field, how to read the reference answer); one
:class:`MathBench` class does loading, prompting and grading for all of them. Benchmarks have only a
``test`` split.

Data (``data=``): a local dir holding the file (or ``math/<file>``), a ``.jsonl`` path, or a Hugging Face
dataset id (loaded with ``datasets`` only then). Default: ``$DISA_BENCH_BENCHMARKS`` or, if unset,
``<repo>/../shared/benchmarks``.

Prompt (``template=``): ``plain`` = question + the usual instruction; ``chat`` = the Qwen2.5-Math ChatML
template (system = instruction); ``hf:<tokenizer dir or id>`` = that tokenizer's own chat template.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..io import read_jsonl_rows
from ..types import Grade, Problem
from .base import TASKS
from .data import default_data_root, load_hf_rows, locate  # noqa: F401  (default_data_root re-exported)

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


# ---------------------------------------------------------------- per-set answer readers


def _plain(field_name: str) -> Callable[[dict], str | None]:
    def get(row: dict):
        v = row.get(field_name)
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, float) and v.is_integer():  # amc23: 27.0 -> "27"
            return str(int(v))
        return str(v).strip()

    get.field = field_name  # type: ignore[attr-defined]
    return get


def _minerva(row: dict):
    from ..graders.math import last_boxed

    sol = row.get("solution")
    return last_boxed(sol) if isinstance(sol, str) else None


_minerva.field = "solution"  # type: ignore[attr-defined]


def _olympiad(row: dict):
    """``final_answer`` is a list (or a list written as a string, "['2']"); items lose their $...$ wrappers."""
    v = row.get("final_answer")
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            import ast

            try:
                v = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                v = [s]
        else:
            v = [s]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
        return None
    items = [x.strip() for x in v]
    items = [x[1:-1].strip() if len(x) > 1 and x.startswith("$") and x.endswith("$") and x.count("$") == 2 else x
             for x in items]
    return ", ".join(items)


_olympiad.field = "final_answer"  # type: ignore[attr-defined]


def _gsm8k(row: dict):
    a = row.get("answer")
    if not isinstance(a, str) or "####" not in a:
        return None
    return a.split("####")[-1].strip().replace(",", "")


_gsm8k.field = "answer"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MathSpec:
    file: str  # file name under the data root's math/ dir
    question: str  # question field
    answer: Callable[[dict], str | None]  # reads the reference answer from a row
    hf_split: str = "test"


SPECS: dict[str, MathSpec] = {
    "aime24": MathSpec("aime24.jsonl", "problem", _plain("answer")),
    "aime25": MathSpec("aime25.jsonl", "problem", _plain("answer")),
    "amc23": MathSpec("amc23.jsonl", "problem", _plain("answer")),
    "math500": MathSpec("math500.jsonl", "problem", _plain("answer")),
    "minerva": MathSpec("minerva_math.jsonl", "problem", _minerva),
    "olympiadbench": MathSpec("olympiadbench.jsonl", "question", _olympiad),
    "gsm8k": MathSpec("gsm8k_test.jsonl", "question", _gsm8k),
}
MATH6 = ["aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"]


# ---------------------------------------------------------------- prompt templates


def render_prompt(question: str, template: str = "plain") -> str:
    if template == "plain":
        return f"{question}\n{INSTRUCTION}"
    if template == "chat":
        return (f"<|im_start|>system\n{INSTRUCTION}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
                "<|im_start|>assistant\n")
    if template.startswith("hf:"):
        return _hf_chat(template[3:], question)
    raise UserError(f"unknown math prompt template {template!r}; valid: plain, chat, hf:<tokenizer dir or id>")


_TOKENIZERS: dict = {}


def _hf_chat(name: str, question: str) -> str:
    if name not in _TOKENIZERS:
        from ..models import load_tokenizer

        _TOKENIZERS[name] = load_tokenizer(name)
    tok = _TOKENIZERS[name]
    if not getattr(tok, "chat_template", None):
        raise UserError(f"tokenizer {name!r} has no chat template; use template 'plain' or 'chat'")
    msgs = [{"role": "user", "content": f"{question}\n{INSTRUCTION}"}]
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


# ---------------------------------------------------------------- loading


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank line of a jsonl file; a bad line is a UserError naming it."""
    return read_jsonl_rows(path)


@dataclass
class MathBench:
    """One math benchmark. ``grade`` = math-verify on the last ``\\boxed{}`` (see disa_bench/graders/math.py)."""

    name: str
    data: str | None = None
    template: str = "plain"
    max_new_tokens: int = 4096
    reward_range: tuple[float, float] = (0.0, 1.0)
    _rows: list | None = field(default=None, init=False, repr=False)
    default_eval_prompts = None  # eval every problem unless --n-prompts says otherwise

    def __post_init__(self):
        if self.name not in SPECS:
            raise UserError(f"unknown math benchmark {self.name!r}; valid: {', '.join(SPECS)}")
        self.spec = SPECS[self.name]
        render_prompt("q", self.template) if not self.template.startswith("hf:") else None  # validate early

    # -------- data
    def source(self) -> str:
        """Where the rows come from: a file path or ``hf:<id>``."""
        return self._locate()[1]

    def _locate(self) -> tuple[str, str]:
        return locate(self.name, self.data, "math", self.spec.file)

    def rows(self) -> list[tuple[int, dict]]:
        if self._rows is None:
            kind, where = self._locate()
            if kind == "file":
                rows = read_rows(Path(where))
                label = where
            else:
                rows = self._load_hf(where)
                label = f"hf:{where}"
            if not rows:
                raise UserError(f"{label}: no rows")
            afield = getattr(self.spec.answer, "field", "answer")
            for ln, row in rows:
                q = row.get(self.spec.question)
                if not isinstance(q, str) or not q.strip():
                    raise UserError(f"{label}:{ln}: missing question field {self.spec.question!r}")
                if self.spec.answer(row) is None:
                    raise UserError(f"{label}:{ln}: missing or unreadable answer field {afield!r}")
            self._rows = rows
        return self._rows

    def _load_hf(self, dataset_id: str) -> list[tuple[int, dict]]:
        return load_hf_rows(dataset_id, self.spec.hf_split)

    # -------- Task protocol
    def problems(self, split: str = "test", n: int | None = None, seed: int = 0) -> list[Problem]:
        if split != "test":
            raise UserError(f"task {self.name!r} is a benchmark with only a 'test' split (got {split!r})")
        rows = self.rows()
        idx = list(range(len(rows)))
        if n is not None and n < len(idx):
            idx = sorted(random.Random(f"{self.name}|{split}|{seed}").sample(idx, n))
        out = []
        for i in idx:
            ln, row = rows[i]
            q = row[self.spec.question].strip()
            out.append(Problem(prompt_id=f"{self.name}/{i}", task=self.name, prompt=render_prompt(q, self.template),
                               answer=self.spec.answer(row), meta={"question": q, "line": ln}))
        return out

    def grade(self, problem: Problem, response: str) -> Grade:
        from ..graders.math import grade_math

        return grade_math(response, problem.answer)

    def grade_batch(self, pairs: list[tuple[Problem, str]]) -> list[Grade]:
        """Grade many (problem, response) pairs in parallel through the grader's worker pool."""
        from ..graders.math import grade_many

        return grade_many([(r, p.answer) for p, r in pairs])

    @property
    def grader_version(self) -> str:
        from ..graders.math import grader_version

        return grader_version()


def _factory(set_name: str):
    def make(**kwargs) -> MathBench:
        return MathBench(set_name, **kwargs)

    make.__name__ = f"MathBench[{set_name}]"
    return make


for _n in SPECS:
    TASKS.add(_n, _factory(_n))
