"""The math benchmarks: aime24, aime25, amc23, math500, minerva, olympiadbench (= group ``math6``) and gsm8k.

Each set is one :class:`MathSpec` (file name, question field, how to read the reference answer); the
:class:`MathBench` family turns rows into problems and grades with math-verify on the last ``\\boxed{}``
(disa_bench/graders/math.py). Rows, data roots and templates: :mod:`disa_bench.tasks.benchmark`.

Prompt: ``plain`` = question + the usual instruction; ``chat`` = the Qwen2.5-Math ChatML template (system =
instruction); ``hf:<tokenizer>`` = one user message, question + instruction, in that tokenizer's template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UserError
from ..types import Grade, Problem
from .benchmark import Benchmark, Item, Spec, register
from .data import Rows

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


# ---------------------------------------------------------------- per-set answer readers


def answer_field(field_name: str) -> Callable[[dict], str | None]:
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
class MathSpec(Spec):
    question: str  # question field
    answer: Callable[[dict], str | None]  # reads the reference answer from a row


SPECS: dict[str, MathSpec] = {
    "aime24": MathSpec("aime24.jsonl", "problem", answer_field("answer")),
    "aime25": MathSpec("aime25.jsonl", "problem", answer_field("answer")),
    "amc23": MathSpec("amc23.jsonl", "problem", answer_field("answer")),
    "math500": MathSpec("math500.jsonl", "problem", answer_field("answer")),
    "minerva": MathSpec("minerva_math.jsonl", "problem", _minerva),
    "olympiadbench": MathSpec("olympiadbench.jsonl", "question", _olympiad),
    "gsm8k": MathSpec("gsm8k_test.jsonl", "question", _gsm8k),
}


class MathBench(Benchmark):
    """One math benchmark: problem ids ``<name>/<row index>``, answer = the reference read by its spec."""

    family = "math"
    system = INSTRUCTION

    def plain(self, system: str, user: str) -> str:
        return f"{user}\n{system}"

    def messages(self, system: str, user: str) -> list[dict]:
        return [{"role": "user", "content": self.plain(system, user)}]

    def question_answer(self, rows: Rows, ln: int, row: dict) -> tuple[str, str]:
        """The row's question (stripped) and reference answer; a missing one is a UserError naming file:line."""
        spec = self.spec
        q = row.get(spec.question)
        if not isinstance(q, str) or not q.strip():
            raise UserError(f"{rows.label}:{ln}: missing question field {spec.question!r}")
        answer = spec.answer(row)
        if answer is None:
            afield = getattr(spec.answer, "field", "answer")
            raise UserError(f"{rows.label}:{ln}: missing or unreadable answer field {afield!r}")
        return q.strip(), answer

    def parse(self, rows: Rows) -> list[Item]:
        out = []
        for i, (ln, row) in enumerate(rows.rows):
            q, answer = self.question_answer(rows, ln, row)
            out.append(Item(f"{self.name}/{i}", ln, q, answer=answer))
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


register(MathBench, SPECS)
