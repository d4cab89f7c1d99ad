"""``humanevalplus`` (164): the evalplus OriginFmt ``check(candidate)`` harness with the base+plus inputs.

HumanEval/32 (``find_zero``, whose shipped check is broken) is judged with the evalplus native inputs and
``abs(_poly(*inp, out)) <= 1e-4``, so all 164 count. The whole program gets ``timeout_s`` (default 60 s).
Problem ids ``humanevalplus/<task_id>``; meta adds ``entry_point``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from ..errors import UserError
from ..graders.code import find_zero_check, grade_function_check, humaneval_program_head
from ..graders.sandbox import Limits
from ..types import Grade
from .benchmark import Item, Spec, register
from .code_bench import CodeBench, need
from .data import Rows

HUMANEVAL_SYSTEM = ("You are an expert Python programmer. Complete the given Python function. Write the complete "
                    "function, with any imports it needs, in one ```python code block.")


class HumanEval(CodeBench):
    system = HUMANEVAL_SYSTEM

    def parse(self, rows: Rows) -> list[Item]:
        out = []
        for ln, row in rows.rows:
            w = f"{rows.label}:{ln}"
            tid = need(row, "task_id", w)
            prompt = need(row, "prompt", w)
            test = need(row, "test", w)
            ep = need(row, "entry_point", w)
            if "def check(" not in test:
                raise UserError(f"{w}: field 'test' has no 'def check(candidate)'")
            data = {"prompt": prompt, "test": test, "entry_point": ep, "task_id": tid,
                    "canonical_solution": row.get("canonical_solution")}
            if ep == "find_zero" or tid == "HumanEval/32":
                data["test"] = find_zero_check(_find_zero_inputs(rows.dir, test, w))
            text = f"```python\n{prompt.rstrip()}\n```"
            out.append(Item(f"{self.name}/{tid}", ln, text, "function", data, extra={"entry_point": ep}))
        return out

    def limits(self, it: Item) -> Limits:
        return Limits(timeout_s=self.timeout_s or 60.0, memory_mb=self.memory_mb)

    def run(self, it: Item, code: str, lim: Limits) -> Grade:
        if not code.strip():
            return Grade(0.0, None, None, "parse_error", "empty program")
        d = it.data
        head = humaneval_program_head(d["prompt"], code, d["entry_point"])
        return grade_function_check(head, d["test"], d["entry_point"], lim, hide=self._hide)


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


register(HumanEval, {"humanevalplus": Spec("humanevalplus.jsonl")})
