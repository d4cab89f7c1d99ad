"""humanevalplus / livecodebench / codeforces: loading every row, prompts, extraction, and grading in the sandbox."""

from __future__ import annotations

import json

import pytest

from disa_bench.errors import UserError
from disa_bench.graders.code import extract_code, grade_many, lcb_outputs_match, tokens_match
from disa_bench.tasks.base import get_task, task_names


def fence(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\nDone."


@pytest.fixture(scope="module")
def he(benchmarks_dir):
    return get_task("humanevalplus", data=str(benchmarks_dir))


@pytest.fixture(scope="module")
def lcb(benchmarks_dir):
    return get_task("livecodebench", data=str(benchmarks_dir))


@pytest.fixture(scope="module")
def cf(benchmarks_dir):
    return get_task("codeforces", data=str(benchmarks_dir))


def by_id(task, pid):
    return next(p for p in task.problems("test") if p.prompt_id == pid)


# ---------------------------------------------------------------- pure helpers


def test_registered():
    assert {"humanevalplus", "livecodebench", "codeforces"} <= set(task_names())


def test_extract_code():
    assert extract_code("a\n```python\nx = 1\n```\nb\n```python\nx = 2\n```\n") == "x = 2\n"
    assert extract_code("```py\ny = 3\n```") == "y = 3\n"
    assert extract_code("```\nz = 4\n```") == "z = 4\n"
    assert extract_code("print(1)") == "print(1)"
    assert extract_code("```python\nunterminated = 5\n") == "unterminated = 5\n"


def test_output_comparisons():
    assert lcb_outputs_match("3\n", "3")
    assert lcb_outputs_match(" 1 2 \n3\n\n", "1 2\n3")
    assert lcb_outputs_match("1.50 2\n", "1.5 2.0")  # Decimal equality per token
    assert not lcb_outputs_match("1 2 3", "1 2\n3")  # line count differs
    assert not lcb_outputs_match("1.5000001", "1.5")
    assert tokens_match("1 9\n4 8", "1 9 4 8") and not tokens_match("1 9", "9 1")
    assert tokens_match("0.3333333", "0.333333333") and not tokens_match("0.34", "0.333333333")
    assert not tokens_match("YES", "yes")


# ---------------------------------------------------------------- humanevalplus


def test_humanevalplus_canonical_all_pass(he):
    """All 164 canonical solutions pass, HumanEval/32 included (judged with _poly on the native inputs)."""
    ps = he.problems("test")
    assert len(ps) == 164 and len({p.prompt_id for p in ps}) == 164
    heavy = {"humanevalplus/HumanEval/" + k for k in ("139", "15", "130", "83", "59", "36", "94")}
    ps = sorted(ps, key=lambda p: p.prompt_id not in heavy)  # longest first: no lone straggler at the end
    items = [he.item(p) for p in ps]
    thunks = [(lambda p=p, it=it: he.grade_code(p, it.data["canonical_solution"])) for p, it in zip(ps, items)]
    grades = grade_many(thunks, workers=2)
    failed = {p.prompt_id: g for p, g in zip(ps, grades) if g.reward != 1.0}
    assert not failed, failed
    assert all(g.verdict == "ok" for g in grades)


def test_humanevalplus_wrong_programs_fail(he):
    p0, p32 = by_id(he, "humanevalplus/HumanEval/0"), by_id(he, "humanevalplus/HumanEval/32")
    assert "has_close_elements" in p0.prompt and "```python" in p0.prompt and p0.answer is None
    canonical = he.item(p0).data["canonical_solution"]
    full = he.item(p0).data["prompt"] + canonical
    cases = {
        "": "parse_error",
        "I don't know.": "program_error",  # a SyntaxError is the program's fault, not a grader error
        fence("    return False\n"): "wrong",
        fence("import sys\nsys.exit(0)\n"): "wrong",  # exiting early must not pass
        fence("    import os\n    os._exit(0)\n"): "wrong",
        fence("def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"): "time_limit",
    }
    he_fast = get_task("humanevalplus", data=he.data, timeout_s=3)
    pairs = [(p0, r) for r in cases] + [(p0, fence(full)), (p0, canonical)]
    grades = he_fast.grade_batch(pairs)
    for (_, resp), g, want in zip(pairs, grades, list(cases.values()) + ["ok", "ok"]):
        assert g.verdict == want, (resp, g)
        assert g.reward == (1.0 if want == "ok" else 0.0)
    # HumanEval/32: a find_zero that does not find a zero fails; the canonical one passes (above)
    bad = he_fast.grade(p32, fence("def find_zero(xs):\n    return 0.0\n"))
    assert bad.reward == 0.0 and bad.verdict == "wrong" and "find_zero" in bad.detail


# ---------------------------------------------------------------- livecodebench

ABC365_B = """
n = int(input())
a = list(map(int, input().split()))
s = sorted(a)
print(a.index(s[-2]) + 1)
"""

SMALLEST_NUMBER = """
class Solution:
    def smallestNumber(self, n: int) -> int:
        x = 1
        while x < n:
            x = x * 2 + 1
        return x
"""


def test_livecodebench_all_rows_parse(lcb):
    ps = lcb.problems("test")
    assert len(ps) == 279 and len({p.prompt_id for p in ps}) == 279
    items = [lcb.item(p) for p in ps]
    assert sum(it.kind == "stdin" for it in items) == 175 and sum(it.kind == "functional" for it in items) == 104
    assert sum(len(it.data["tests"]) for it in items) == 736
    assert ps[0].prompt_id == "livecodebench/abc365_b"
    for it in items:
        if it.kind == "functional":
            assert it.data["method"] and all(isinstance(t["args"], list) for t in it.data["tests"])
    with pytest.raises(UserError, match="only a 'test' split"):
        lcb.problems("train")


def test_livecodebench_grading(lcb):
    ps = lcb.problems("test")
    stdin_p = ps[0]
    func_p = next(p for p in ps if p.meta.get("method") == "smallestNumber" and "set bits" in p.prompt)
    assert "starter code" in func_p.prompt and "def smallestNumber" in func_p.prompt
    sample = [p for p in ps if p.meta["format"] == "stdin"][:3] + [p for p in ps if p.meta["format"] == "functional"][:3]
    wrong = lcb.grade_batch([(p, fence("print(42)")) for p in sample])
    assert all(g.reward == 0.0 for g in wrong) and {g.verdict for g in wrong} <= {"wrong", "program_error"}
    assert lcb.grade(stdin_p, fence(ABC365_B)).verdict == "ok"
    assert lcb.grade(func_p, fence(SMALLEST_NUMBER)).verdict == "ok"
    off_by_one = SMALLEST_NUMBER.replace("return x", "return x + 1")
    g = lcb.grade(func_p, fence(off_by_one))
    assert g.verdict == "wrong" and "test 1/3" in g.detail
    # the LCB import prelude is there (official runner): bare names from collections/heapq work
    assert lcb.grade(stdin_p, fence("c = Counter()\n" + ABC365_B)).verdict == "ok"


# ---------------------------------------------------------------- codeforces


def test_codeforces_rows_and_interactive_count(cf):
    ps = cf.problems("test")
    assert cf.n_excluded == 17 and len(ps) == 408 - 17  # interactive (tag) problems are excluded and counted
    assert "codeforces/1973D" in cf.excluded and all(p.prompt_id not in cf.excluded for p in ps)
    items = [cf.item(p) for p in ps]
    assert all(it.data["tests"] and it.data["time_limit_s"] > 0 for it in items)
    assert ps[0].prompt_id == "codeforces/1971A"


def test_codeforces_grading(cf):
    ps = cf.problems("test")
    p = ps[0]  # 1971A: print min and max of each pair
    good = "t = int(input())\nfor _ in range(t):\n    x, y = map(int, input().split())\n    print(min(x, y), max(x, y))\n"
    assert cf.grade(p, fence(good)).verdict == "ok"
    grades = cf.grade_batch([(q, fence("print(42)")) for q in ps[:4]])
    assert all(g.reward == 0.0 for g in grades)
    slow = cf.grade(p, fence("while True:\n    pass\n"))
    assert slow.verdict == "time_limit"  # 1000 ms statement limit (+1 s start-up)


# ---------------------------------------------------------------- loading errors, templates, data roots


def test_missing_fields_are_user_errors(tmp_path):
    f = tmp_path / "humanevalplus.jsonl"
    f.write_text(json.dumps({"task_id": "X/0", "prompt": "def f():\n", "entry_point": "f"}) + "\n")
    with pytest.raises(UserError, match=r"humanevalplus.jsonl:1: missing field 'test'"):
        get_task("humanevalplus", data=str(tmp_path)).problems("test")
    f = tmp_path / "livecodebench.jsonl"
    f.write_text(json.dumps({"problem": "p", "starter_code": "", "tests": [{"input": "1"}]}) + "\n")
    with pytest.raises(UserError, match=r"livecodebench.jsonl:1: missing field 'tests\[0\].output'"):
        get_task("livecodebench", data=str(f)).problems("test")
    f = tmp_path / "codeforces.jsonl"
    f.write_text("\n" + json.dumps({"tests": [{"input": "1", "output": "2"}]}) + "\n")
    with pytest.raises(UserError, match=r"codeforces.jsonl:2: missing field 'problem'"):
        get_task("codeforces", data=str(f)).problems("test")
    with pytest.raises(UserError, match="not found"):
        get_task("codeforces", data=str(tmp_path / "nope.jsonl")).problems("test")


def test_templates_and_default_root(benchmarks_dir, monkeypatch):
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(benchmarks_dir))
    chat = get_task("codeforces", template="chat").problems("test", n=2, seed=1)
    assert len(chat) == 2 and chat[0].prompt.startswith("<|im_start|>system\n")
    assert chat[0].prompt.endswith("<|im_start|>assistant\n")
    assert chat == get_task("codeforces", template="chat").problems("test", n=2, seed=1)  # seeded subset
    with pytest.raises(UserError, match="unknown code prompt template"):
        get_task("livecodebench", template="nope")


def test_program_errors_are_not_grader_errors(he):
    """A SyntaxError or an exception in the model's program is a wrong answer named ``program_error``; eval's
    ``grader_errors`` counts only failures of the grading machinery (issue: weak models showed every wrong program
    as a grader error)."""
    from disa_bench.eval.metrics import summarize

    p0 = by_id(he, "humanevalplus/HumanEval/0")
    he_fast = get_task("humanevalplus", data=he.data, timeout_s=3)
    grades = he_fast.grade_batch([(p0, fence("def has_close_elements(numbers, threshold:\n    return True\n")),
                                  (p0, fence("    raise ValueError('boom')\n"))])
    assert [g.verdict for g in grades] == ["program_error", "program_error"], grades
    assert "SyntaxError" in grades[0].detail and "ValueError" in grades[1].detail
    r = summarize([{"prompt_id": "p", "rewards": [g.reward for g in grades], "answers": [None, None],
                    "truncated": [False, False], "verdicts": [g.verdict for g in grades]}], 2)
    assert r["grader_errors"] == 0 and r["mean@2"] == 0.0
