"""``codeforces`` (408 rows, **statement examples only**).

Stdin, token comparison (real-number tokens within 1e-6), the statement's time limit x ``time_scale`` + 1 s
interpreter start-up, its memory limit + 512 MB. Interactive problems (tag ``interactive``) cannot be judged
from examples: they are left out and counted (:attr:`excluded`, :attr:`n_excluded`). Problem ids
``codeforces/<contest><index>`` from the id side file (row index without it).
"""

from __future__ import annotations

import ast
import re

from ..graders.code import grade_stdin, tokens_match
from ..graders.sandbox import Limits
from ..types import Grade
from .benchmark import Item, Spec, register
from .code_bench import ANSWER_CUE, STDIN_FORMAT, CodeBench, need, side_list, tests_field
from .data import Rows

_TL = re.compile(r"Time Limit:\s*([\d.]+)\s*ms")
_ML = re.compile(r"Memory Limit:\s*([\d.]+)\s*MB")
_TAGS = re.compile(r"Tags:\s*\n?\s*(\[[^\]]*\])")


class Codeforces(CodeBench):
    def parse(self, rows: Rows) -> list[Item]:
        ids = side_list(rows.dir, "codeforces_problem_ids.json", len(rows.rows))
        out = []
        for i, (ln, row) in enumerate(rows.rows):
            w = f"{rows.label}:{ln}"
            q = need(row, "problem", w)
            tests = tests_field(row, w)
            pid = f"{self.name}/{ids[i] if ids else i}"
            tags = _tags(q)
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

    def limits(self, it: Item) -> Limits:
        return Limits(timeout_s=it.data["time_limit_s"] * self.time_scale + 1.0,
                      memory_mb=it.data["memory_limit_mb"] + 512)

    def run(self, it: Item, code: str, lim: Limits) -> Grade:
        return grade_stdin(code, it.data["tests"], lim, tokens_match, hide=self._hide)


def _tags(statement: str) -> list[str]:
    m = _TAGS.search(statement)
    if not m:
        return []
    try:
        return [str(x) for x in ast.literal_eval(m.group(1))]
    except (ValueError, SyntaxError):
        return []


register(Codeforces, {"codeforces": Spec("codeforces.jsonl")})
