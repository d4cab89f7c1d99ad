"""RL training sets: ``math-train`` (MATH train, optional ``:levelA-B``), ``gsm8k-train`` and ``mbpp-train``,
plus ``mbpp`` (the MBPP test split, the eval counterpart of ``mbpp-train``). Data formats and provenance:
``shared/benchmarks/train/SOURCES.md``.

Each is graded by exactly the grader of its eval benchmarks, so the RL reward is the eval metric:

* ``math-train`` / ``gsm8k-train`` subclass :class:`~.math_bench.MathBench`: math-verify on the last
  ``\\boxed{}`` in worker processes (``grade_batch`` grades a whole rollout batch through the pool), the same
  prompt layout as ``math500`` / ``gsm8k``;
* ``mbpp-train`` / ``mbpp`` subclass :class:`~.code_bench.CodeBench`: the last fenced program runs in the
  sandbox followed by the row's ``test_setup_code`` and its ``test_list`` asserts (MBPP's own layout), through
  the HumanEval+ harness (:func:`~disa_bench.graders.code.grade_function_check`: exit 0 *and* a token printed
  only after every assert passed); ``grade_batch`` runs ``workers`` sandboxes at a time. The prompt shows the task text and the first
  assert (it fixes the function's name and signature); all three asserts are graded (the 11 rows'
  ``challenge_test_list`` is not used).

Splits: these tasks serve only ``train`` (what ``propose`` and ``train`` draw from); ``mbpp`` serves only
``test``. MBPP is split by ``task_id`` as the dataset defines it: 11-510 test, 511-600 validation (unused),
601-974 train (1-10 are few-shot prompts, unused).

Overlap with the eval sets (checked by tests/test_train_tasks.py): no MATH train problem equals a MATH-500 (or
any math6) problem and no GSM8K train question equals a GSM8K test question, after collapsing whitespace and
case, so nothing is filtered. (SOURCES.md lists 8 MATH-500 problems with near-duplicate figures or templates
in MATH train; they ask different questions and are kept.)

Data: the local copies under ``<data root>/train/`` (see tasks/data.py), else the Hugging Face datasets
``DigitalLearningGmbH/MATH-lighteval`` (train; ``level`` "Level N", ``type``, answer = last ``\\boxed{}`` of the
solution), ``openai/gsm8k`` (config ``main``, train; answer after ``####``) and
``google-research-datasets/mbpp`` (config ``full``, split train / test), loaded with ``datasets`` only then.
Problem ids are ``<task>/<row index>`` (``mbpp-train/<task_id>``), stable under the level filter; the HF
copy of MATH has 2 more rows than the local one (empty ``\\boxed{}``, dropped there), so its indices differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import UserError
from ..graders.code import grade_function_check
from ..graders.math import last_boxed
from ..graders.sandbox import Limits
from ..types import Grade
from .base import register_parameterised
from .benchmark import Item, Spec, register
from .code_bench import CodeBench, need
from .data import Rows
from .math_bench import MathBench, MathSpec, answer_field

MAX_NEW_TOKENS = 1024  # rollout / eval budget of the training sets (the eval benchmarks' default is 4096)


# ---------------------------------------------------------------- math


def _math_answer(row: dict):
    """The local copy's ``answer`` (last ``\\boxed{}`` of the solution, raw LaTeX), else read from ``solution``."""
    a = answer_field("answer")(row)
    if a is None and isinstance(row.get("solution"), str):
        a = last_boxed(row["solution"])
    return a or None


def _gsm8k_answer(row: dict):
    """The number after ``####`` (HF rows hold the whole solution in ``answer``), thousands commas removed."""
    a = row.get("answer")
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        a = str(int(a)) if float(a).is_integer() else str(a)
    if not isinstance(a, str) or not a.strip():
        return None
    return a.split("####")[-1].strip().replace(",", "") or None


_math_answer.field = "answer"  # type: ignore[attr-defined]
_gsm8k_answer.field = "answer"  # type: ignore[attr-defined]


def _level(row: dict) -> int | None:
    """MATH level 1-5 (an int locally, "Level N" on the hub); None for the two "Level ?" rows."""
    v = row.get("level")
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(?:Level\s*)?(\d)\s*", v)
        v = int(m.group(1)) if m else None
    return v if isinstance(v, int) and 1 <= v <= 5 else None


def parse_levels(param: str | None) -> tuple[int, ...] | None:
    """``level3-5`` -> (3, 4, 5); ``level2`` -> (2,); None or "" -> None (all levels)."""
    if not param:
        return None
    m = re.fullmatch(r"level([1-5])(?:-([1-5]))?", param)
    if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
        raise UserError(f"bad math-train parameter {param!r}: expected levelA or levelA-B with 1 <= A <= B <= 5 "
                        f"(e.g. math-train:level3-5)")
    lo = int(m.group(1))
    return tuple(range(lo, int(m.group(2) or lo) + 1))


@dataclass
class MathTrain(MathBench):
    """A math training set: MathBench's prompts and grader, the ``train`` split, an optional level filter."""

    levels: tuple[int, ...] | None = None  # keep only these MATH levels (rows without a level drop out)
    max_new_tokens: int = MAX_NEW_TOKENS

    split = "train"
    data_dir = "train"

    @property
    def base_name(self) -> str:
        return self.name.partition(":")[0]

    def parse(self, rows: Rows) -> list[Item]:
        out = []
        for i, (ln, row) in enumerate(rows.rows):
            q, answer = self.question_answer(rows, ln, row)
            extra = {}
            if "level" in row or "type" in row or "subject" in row:
                extra = {"level": _level(row), "subject": row.get("subject") or row.get("type")}
            if self.levels is not None and extra.get("level") not in self.levels:
                continue
            out.append(Item(f"{self.base_name}/{i}", ln, q, answer=answer, extra=extra))
        if not out:
            raise UserError(f"{rows.label}: no problem of task {self.name!r} (levels {self.levels})")
        return out


MATH_TRAIN = MathSpec("math_train.jsonl", "problem", _math_answer, hf_split="train",
                      hf_id="DigitalLearningGmbH/MATH-lighteval")
GSM8K_TRAIN = MathSpec("gsm8k_train.jsonl", "question", _gsm8k_answer, hf_split="train", hf_id="openai/gsm8k",
                       hf_config="main")


def _math_train(param: str | None = None, **options) -> MathTrain:
    levels = parse_levels(param)
    name = "math-train" + (f":level{levels[0]}" + (f"-{levels[-1]}" if len(levels) > 1 else "") if levels else "")
    return MathTrain(name, MATH_TRAIN, levels=levels, **options)


_math_train.templated = True  # type: ignore[attr-defined]
register_parameterised("math-train", _math_train, "levelA-B (MATH levels A..B, e.g. level3-5)")
register(MathTrain, {"gsm8k-train": GSM8K_TRAIN})


# ---------------------------------------------------------------- MBPP

MBPP_SYSTEM = ("You are an expert Python programmer. Write the Python function the task asks for, with any imports "
               "it needs, in one ```python code block.")
MBPP_SPLITS = {"train": (601, 974), "validation": (511, 600), "test": (11, 510), "prompt": (1, 10)}


@dataclass(frozen=True)
class MBPPSpec(Spec):
    ids: tuple[int, int] = field(default=(601, 974), kw_only=True)  # the task_id range of the split


@dataclass
class MBPP(CodeBench):
    """MBPP problems of one ``task_id`` range; reward 1 iff the program passes all of the row's asserts."""

    max_new_tokens: int = MAX_NEW_TOKENS
    system = MBPP_SYSTEM
    data_dir = "train"

    def parse(self, rows: Rows) -> list[Item]:
        lo, hi = self.spec.ids
        out = []
        for ln, row in rows.rows:
            w = f"{rows.label}:{ln}"
            tid = need(row, "task_id", w, int)
            if not lo <= tid <= hi:
                continue
            text = need(row, "text", w)
            tests = need(row, "test_list", w, list)
            if not tests or not all(isinstance(t, str) and t.strip() for t in tests):
                raise UserError(f"{w}: field 'test_list' should be a non-empty list of assert lines")
            data = {"tests": tests, "setup": row.get("test_setup_code") or "", "code": row.get("code")}
            user = f"{text.strip()}\nYour code should pass this test:\n\n{tests[0].strip()}"
            out.append(Item(f"{self.name}/{tid}", ln, user, "asserts", data, extra={"task_id": tid}))
        if not out:
            raise UserError(f"{rows.label}: no MBPP row with task_id {lo}-{hi}")
        return out

    def limits(self, it: Item) -> Limits:
        return Limits(timeout_s=self.timeout_s or 10.0, memory_mb=self.memory_mb)

    def run(self, it: Item, code: str, lim: Limits) -> Grade:
        if not code.strip():
            return Grade(0.0, None, None, "parse_error", "empty program")
        d = it.data
        # the asserts run at module level, after the program and the setup code; the harness's own check()
        # (a no-op here) is defined only after them, so a program that defines its own check() keeps it
        program = "\n\n".join([code, d["setup"], "\n".join(t.strip() for t in d["tests"])])
        return grade_function_check(program, "def check(_candidate):\n    pass\n", "None", lim, hide=self._hide)


class MBPPTrain(MBPP):
    split = "train"


register(MBPPTrain, {"mbpp-train": MBPPSpec("mbpp.jsonl", hf_split="train", hf_id="google-research-datasets/mbpp",
                                            hf_config="full", ids=MBPP_SPLITS["train"])})
register(MBPP, {"mbpp": MBPPSpec("mbpp.jsonl", hf_split="test", hf_id="google-research-datasets/mbpp",
                                 hf_config="full", ids=MBPP_SPLITS["test"])})
