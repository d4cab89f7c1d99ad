"""Code graders: extract a program from a response, run it in the sandbox against a problem's tests, compare.

One function per test format; each returns a :class:`~disa_bench.types.Grade` with ``reward`` 1.0 iff every test
passes. The same functions are the RL reward and the eval metric.

* :func:`grade_function_check` -- HumanEval+: ``prompt + completion + test + check(entry_point)`` in one
  sandboxed process (the evalplus / OriginFmt harness). Passing needs exit status 0 *and* a random token that the
  harness prints (via a saved ``os.write``) only after ``check`` returned, so ``sys.exit(0)`` / ``os._exit(0)`` /
  ``exit()`` in a completion do not pass. HumanEval/32 is judged on the evalplus native inputs with
  ``abs(_poly(*inp, out)) <= 1e-4`` (see code/SOURCES.md).
* :func:`grade_stdin` -- one process per test, ``input`` on stdin; the trusted parent compares stdout with
  :func:`lcb_outputs_match` (LiveCodeBench rules) or :func:`tokens_match` (CodeForces examples). Stops at the
  first failing test.
* :func:`grade_functional` -- LiveCodeBench LeetCode problems: one process runs ``Solution().<method>(*args)``
  for every test and prints the JSON results behind a random token; the parent compares them with
  ``json.loads(output)`` (a tuple counts as a list). The expected outputs never enter the sandbox.

Verdicts in the Grade: ``ok`` (all pass) / ``wrong`` / ``timeout`` / ``error`` / ``memory`` / ``parse_error``
(empty program); ``detail`` says which test and why.
"""

from __future__ import annotations

import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable

from ..types import Grade
from .sandbox import Limits, RunResult, run_python

GRADER_NAME = "disa-code-sandbox"
GRADER_REV = 1
DEFAULT_WORKERS = 2

# The official LiveCodeBench runner prepends these imports to every program (lcb_runner testing_util.import_string).
LCB_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
    "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
    "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
    "import string\nimport re\nimport datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\n"
    "import math\nimport random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


def grader_version() -> str:
    return f"{GRADER_NAME}/{GRADER_REV}"


# ---------------------------------------------------------------- extraction

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(response: str) -> str:
    """The last ```python (or ```py / ```python3) fenced block; else the last bare ``` block; else the whole response."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(response)]
    py = [b for lang, b in blocks if lang in ("python", "py", "python3")]
    if py:
        return py[-1]
    bare = [b for lang, b in blocks if lang == ""]
    if bare:
        return bare[-1]
    return response


# ---------------------------------------------------------------- comparisons (trusted, in the parent)


def lcb_outputs_match(out: str, expected: str) -> bool:
    """LiveCodeBench stdin rule: strip, split lines, strip each; same line count; each line equal as a string or
    as the list of ``Decimal`` of its whitespace-separated tokens."""
    a = [ln.strip() for ln in out.strip().split("\n")]
    b = [ln.strip() for ln in expected.strip().split("\n")]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            if [Decimal(t) for t in x.split()] != [Decimal(t) for t in y.split()]:
                return False
        except (InvalidOperation, ValueError):
            return False
    return True


def tokens_match(out: str, expected: str, rel_tol: float = 1e-6) -> bool:
    """CodeForces examples: whitespace-separated tokens equal; a token with a decimal point in the expected output
    may differ by ``rel_tol`` (absolute or relative), the usual real-number checker."""
    a, b = out.split(), expected.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if "." in y:
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) <= rel_tol * max(1.0, abs(fy)):
                continue
        return False
    return True


# ---------------------------------------------------------------- grading


# A failed sandbox run, named for what the program did. Only a failure of the grading machinery itself (the sandbox
# could not start the program or cannot see the environment) is ``error``, the verdict eval counts in
# ``grader_errors``; a program that crashes (a SyntaxError included), hangs or runs out of memory is a wrong answer
# with its reason.
PROGRAM_VERDICTS = {"fail": "wrong", "error": "program_error", "timeout": "time_limit", "memory": "memory_limit",
                    "harness_error": "error"}


def _grade_from_run(r: RunResult, where: str) -> Grade:
    """A failed sandbox run as a Grade (reward 0)."""
    verdict = PROGRAM_VERDICTS.get(r.verdict, r.verdict)
    return Grade(0.0, None, None, verdict, f"{where}: {r.reason}" if r.reason else where)


def _empty(code: str) -> Grade | None:
    if not code.strip():
        return Grade(0.0, None, None, "parse_error", "empty program")
    return None


def grade_function_check(program_head: str, test: str, entry_point: str, limits: Limits,
                         hide: tuple[str, ...] = ()) -> Grade:
    """``program_head`` (prompt + completion) followed by ``test`` and ``check(entry_point)``."""
    token = secrets.token_hex(16)
    prelude = (
        "import os as _disa_os\n"
        "_disa_done = (lambda _t, _w=_disa_os.write: (lambda: _w(1, b'\\n' + _t + b'\\n')))"
        "(open('.token', 'rb').read())\n"
        "_disa_os.remove('.token')\n"
    )
    source = f"{prelude}{program_head}\n\n{test}\n\ncheck({entry_point})\n_disa_done()\n"
    r = run_python(source, limits=limits, files={".token": token}, hide=hide)
    if r.verdict == "pass":
        if r.stdout.rstrip("\n").endswith(token):
            return Grade(1.0, None, None, "ok", f"all tests passed ({r.wall_s:.2f}s)")
        return Grade(0.0, None, None, "wrong", "the program exited before the tests finished")
    return _grade_from_run(r, "check")


def find_zero_check(inputs: list) -> str:
    """HumanEval/32 test: ``abs(_poly(*inp, out)) <= 1e-4`` for every input (evalplus's special case)."""
    return (
        "import copy as _disa_copy\n"
        "def _disa_poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n\n"
        f"_DISA_INPUTS = {inputs!r}\n\n"
        "def check(candidate):\n"
        "    for inp in _DISA_INPUTS:\n"
        "        out = candidate(*_disa_copy.deepcopy(inp))\n"
        "        assert abs(_disa_poly(*inp, out)) <= 1e-4, f'find_zero({inp!r}) = {out!r}'\n"
    )


def humaneval_program_head(prompt: str, code: str, entry_point: str) -> str:
    """If the extracted code defines ``entry_point`` it replaces the body: prompt (for its imports and helpers)
    then the code; else the code continues the prompt (a completion of the function body)."""
    if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.M):
        return f"{prompt}\n    pass\n\n{code}"
    return prompt + code


def grade_stdin(code: str, tests: list[dict], limits: Limits,
                match: Callable[[str, str], bool] = lcb_outputs_match, prelude: str = "",
                hide: tuple[str, ...] = ()) -> Grade:
    bad = _empty(code)
    if bad:
        return bad
    source = prelude + code
    for i, t in enumerate(tests):
        r = run_python(source, stdin=t["input"], limits=limits, hide=hide)
        if r.verdict != "pass":
            return _grade_from_run(r, f"test {i + 1}/{len(tests)}")
        if not match(r.stdout, t["output"]):
            got = r.stdout.strip()[:80].replace("\n", "\\n")
            return Grade(0.0, None, None, "wrong", f"test {i + 1}/{len(tests)}: wrong answer (got {got!r})")
    return Grade(1.0, None, None, "ok", f"{len(tests)} tests passed")


def grade_functional(code: str, method: str, tests: list[dict], limits: Limits, prelude: str = LCB_IMPORTS,
                     hide: tuple[str, ...] = ()) -> Grade:
    """``tests``: ``{"args": [...], "expected": value}``; ``Solution().<method>(*args)`` must equal ``expected``."""
    bad = _empty(code)
    if bad:
        return bad
    token = secrets.token_hex(16)
    runner = (
        "\n\nimport json as _disa_json, os as _disa_os\n"
        "def _disa_run(_w=_disa_os.write, _dumps=_disa_json.dumps):\n"
        "    _tok = open('.token').read()\n"
        "    _all = _disa_json.loads(open('.inputs.json').read())\n"
        "    for _i, _args in enumerate(_all):\n"
        f"        _out = Solution().{method}(*_args)\n"
        "        try:\n"
        "            _s = _dumps(_out)\n"
        "        except (TypeError, ValueError):\n"
        "            _s = _dumps({'__unserializable__': repr(_out)[:200]})\n"
        "        _w(1, ('\\n' + _tok + ' ' + str(_i) + ' ' + _s + '\\n').encode())\n"
        "_disa_run()\n"
    )
    files = {".token": token, ".inputs.json": json.dumps([t["args"] for t in tests])}
    r = run_python(prelude + code + runner, limits=limits, files=files, hide=hide)
    results: dict[int, str] = {}
    for line in r.stdout.split("\n"):
        if line.startswith(token + " "):
            _, idx, payload = line.split(" ", 2)
            results[int(idx)] = payload
    for i, t in enumerate(tests):
        if i not in results:
            if r.verdict == "pass":
                return Grade(0.0, None, None, "wrong", f"test {i + 1}/{len(tests)}: no result (program exited early)")
            return _grade_from_run(r, f"test {i + 1}/{len(tests)}")
        try:
            got = json.loads(results[i])
        except ValueError:
            return Grade(0.0, None, None, "wrong", f"test {i + 1}/{len(tests)}: unreadable result")
        if got != t["expected"]:
            return Grade(0.0, None, None, "wrong",
                         f"test {i + 1}/{len(tests)}: wrong answer (got {results[i][:80]!r})")
    if r.verdict not in ("pass",):  # every result in but the process then crashed / hung
        return _grade_from_run(r, "after the tests")
    return Grade(1.0, None, None, "ok", f"{len(tests)} tests passed")


def grade_many(fns: Iterable[Callable[[], Grade]], workers: int = DEFAULT_WORKERS) -> list[Grade]:
    """Run grading thunks on ``workers`` threads (each thunk spends its time in sandbox subprocesses), in order."""
    fns = list(fns)
    if workers <= 1 or len(fns) <= 1:
        return [f() for f in fns]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="disa-code-grade") as ex:
        return list(ex.map(lambda f: f(), fns))
