"""``livecodebench`` (279, release_v5 2024-08..2025-02, **public tests only**).

Stdin tests with the official line / ``Decimal`` comparison; LeetCode functional tests via
``Solution().<method>(*json args)``. The official import prelude is prepended to every program; ``timeout_s``
(default 6 s) per test. Problem ids ``livecodebench/<question_id>`` from the index side file (row index
without it); meta adds ``method`` for functional rows.
"""

from __future__ import annotations

import json
import re

from ..errors import UserError
from ..graders.code import LCB_IMPORTS, grade_functional, grade_stdin, lcb_outputs_match
from ..graders.sandbox import Limits
from ..types import Grade
from .benchmark import Item, Spec, register
from .code_bench import ANSWER_CUE, STDIN_FORMAT, CodeBench, need, side_ids, tests_field
from .data import Rows

STARTER_FORMAT = ("### Format: You will use the following starter code to write the solution to the problem and "
                  "enclose your code within delimiters.\n```python\n{starter}\n```")
_DEF = re.compile(r"def\s+(\w+)\s*\(\s*self\b")


class LiveCodeBench(CodeBench):
    def parse(self, rows: Rows) -> list[Item]:
        qids = side_ids(rows.dir, "livecodebench_qwq_v5_index.jsonl", len(rows.rows), "question_id")
        out = []
        for i, (ln, row) in enumerate(rows.rows):
            w = f"{rows.label}:{ln}"
            q = need(row, "problem", w)
            starter = row.get("starter_code", "")
            if not isinstance(starter, str):
                raise UserError(f"{w}: field 'starter_code' should be a string")
            tests = tests_field(row, w)
            types = {t.get("testtype", "stdin") for t in tests}
            if len(types) != 1 or not types <= {"stdin", "functional"}:
                raise UserError(f"{w}: field 'tests[].testtype' must be all 'stdin' or all 'functional', got {sorted(types)}")
            pid = f"{self.name}/{qids[i] if qids else i}"
            if types == {"functional"}:
                out.append(self._functional(pid, ln, w, q, starter, tests))
            else:
                text = f"### Question:\n{q.strip()}\n\n{STDIN_FORMAT}\n\n{ANSWER_CUE}"
                out.append(Item(pid, ln, text, "stdin", {"tests": [{"input": t["input"], "output": t["output"]}
                                                                    for t in tests]}))
        return out

    def _functional(self, pid: str, ln: int, w: str, q: str, starter: str, tests: list) -> Item:
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
        return Item(pid, ln, text, "functional", {"method": m.group(1), "tests": parsed},
                    extra={"method": m.group(1)})

    def limits(self, it: Item) -> Limits:
        per = self.timeout_s or 6.0
        n = len(it.data["tests"]) if it.kind == "functional" else 1
        return Limits(timeout_s=per * n + (1.0 if n > 1 else 0.0), memory_mb=self.memory_mb)

    def run(self, it: Item, code: str, lim: Limits) -> Grade:
        if it.kind == "functional":  # one process runs every call; stdin rows: one process per test
            return grade_functional(code, it.data["method"], it.data["tests"], lim, prelude=LCB_IMPORTS,
                                    hide=self._hide)
        return grade_stdin(code, it.data["tests"], lim, lcb_outputs_match, prelude=LCB_IMPORTS, hide=self._hide)


register(LiveCodeBench, {"livecodebench": Spec("livecodebench.jsonl")})
