"""The math grader on the real benchmark files: each set's gold answers grade 100%, wrong answers 0%."""

from __future__ import annotations

import json

import pytest

from disa_bench.errors import UserError
from disa_bench.graders.math import MathGrader, grade_many, grader_version, last_boxed, normalize
from disa_bench.tasks import get_task
from disa_bench.tasks.groups import expand_tasks
from disa_bench.tasks.math_bench import SPECS

SETS = list(SPECS)

# Gold answers math-verify alone cannot confirm against themselves (the grader still scores them correct
# through its normalized exact match, checked below):
MV_EXCEPTIONS = {
    # the reference \boxed{} in the solution contains stray "$ $" (a typo in the source), so math-verify
    # parses only a fragment of "x_0 cos(wt) + xdot_0 sin(wt)/w"
    "minerva/72",
    # final_answer is "['$221,$8$']": unbalanced dollar signs, math-verify reads a different fragment
    "olympiadbench/194",
}


@pytest.fixture(scope="module")
def problems(benchmarks_dir):
    return {s: get_task(s, data=str(benchmarks_dir)).problems("test") for s in SETS}


def test_row_counts(problems):
    assert {s: len(p) for s, p in problems.items()} == {
        "aime24": 30, "aime25": 30, "amc23": 40, "math500": 500, "minerva": 272, "olympiadbench": 675, "gsm8k": 1319}
    assert problems["amc23"][0].answer == "27"  # 27.0 in the file
    assert problems["gsm8k"][0].answer == "18"  # after ####
    assert problems["olympiadbench"][0].answer == "2"  # "['2']"
    assert problems["minerva"][0].answer == "1.6"  # last \boxed{} of the solution
    p = problems["math500"][0].prompt
    assert p.endswith("Please reason step by step, and put your final answer within \\boxed{}.")


def test_gold_answers_score_100_percent(problems):
    """Gold as the whole response, and wrapped as '... so the answer is \\boxed{gold}.': every row correct."""
    items, ids = [], []
    for s in SETS:
        for p in problems[s]:
            items += [(p.answer, p.answer), (f"We work it out, so the answer is \\boxed{{{p.answer}}}.", p.answer)]
            ids += [p.prompt_id, p.prompt_id]
    grades = grade_many(items)
    bad = [(i, g) for i, g in zip(ids, grades) if g.reward != 1.0]
    assert not bad, bad[:5]


def test_math_verify_alone_confirms_gold(problems):
    """Without the exact-match shortcut, math-verify confirms every boxed gold except the listed ones."""
    items, ids = [], []
    for s in ("aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench"):
        rows = problems[s] if len(problems[s]) < 100 else problems[s][::4] + [p for p in problems[s] if p.prompt_id in MV_EXCEPTIONS]
        # every row of the small sets, every fourth of the big ones (runtime); all rows were checked once: same two
        for p in rows:
            items.append((f"Thus the final answer is \\boxed{{{p.answer}}}.", p.answer))
            ids.append(p.prompt_id)
    grades = grade_many(items, exact=False)
    failed = {i for i, g in zip(ids, grades) if g.reward != 1.0}
    assert failed == MV_EXCEPTIONS


def test_wrong_answers_score_zero(problems):
    items = []
    for s in SETS:
        for p in problems[s][:60]:
            items.append((f"so the answer is \\boxed{{-98765.4321}}", p.answer))
            if p.answer.lstrip("-").isdigit():  # integer sets: off by one
                items.append((f"\\boxed{{{int(p.answer) + 1}}}", p.answer))
    grades = grade_many(items)
    assert all(g.reward == 0.0 and g.verdict in ("wrong", "parse_error") for g in grades), \
        [(it, g) for it, g in zip(items, grades) if g.reward][:5]


def test_equivalent_forms_and_boxed_priority():
    grades = grade_many([
        ("First I guessed \\boxed{3}, but then fixed it: \\boxed{\\frac{1}{2}}", "0.5"),  # last box wins
        ("\\boxed{3} and later \\boxed{4}", "3"),
        ("The answer is $\\sqrt{8}$.", "2\\sqrt{2}"),  # no box: math-verify's own extraction
        ("I am not sure.", "7"),
        ("\\boxed{\\dfrac{3}{4}}", "\\frac34"),
    ])
    assert [g.reward for g in grades] == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert grades[0].answer == "\\frac{1}{2}"
    assert grades[3].verdict == "parse_error"


def test_last_boxed_and_normalize():
    assert last_boxed("a \\boxed{x^{2}} b \\boxed{\\frac{1}{2}} c") == "\\frac{1}{2}"
    assert last_boxed("\\boxed 5.") == "5"
    assert last_boxed("truncated \\boxed{1} then \\boxed{\\frac{1") == "1"
    assert last_boxed("nothing") is None
    assert normalize("$27.0$") == normalize("27")
    assert normalize("\\left( 3, \\frac{\\pi}{2} \\right)") == normalize("(3,\\frac{\\pi}{2})")


def test_timeout_gives_verdict_timeout_and_pool_recovers():
    g = MathGrader(workers=1, timeout_s=1.0)
    try:
        out = g.grade_many([("\\boxed{9^{9^{9^{9}}}}", "1"), ("\\boxed{2}", "2")])
        assert (out[0].verdict, out[0].reward) == ("timeout", 0.0)
        assert (out[1].verdict, out[1].reward) == ("ok", 1.0)  # the killed worker was replaced
    finally:
        g.close()


def test_grade_is_the_task_reward(problems):
    t = get_task("aime24")
    p = problems["aime24"][0]
    assert t.grade(p, f"\\boxed{{{p.answer}}}").reward == 1.0
    assert t.grade(p, "\\boxed{0}").reward == 0.0
    assert "math-verify" in grader_version()


def test_only_test_split_and_data_errors(tmp_path, benchmarks_dir):
    with pytest.raises(UserError, match="only a 'test' split"):
        get_task("math500", data=str(benchmarks_dir)).problems("train")
    with pytest.raises(UserError, match=str(tmp_path / "nope")):
        get_task("math500", data=str(tmp_path / "nope")).problems("test")
    bad = tmp_path / "m.jsonl"
    bad.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n" + json.dumps({"problem": "2+2?"}) + "\n")
    with pytest.raises(UserError, match=r"m\.jsonl:2: missing .*'answer'"):
        get_task("math500", data=str(bad)).problems("test")
    bad.write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n{oops\n")
    with pytest.raises(UserError, match=r"m\.jsonl:2: not valid JSON"):
        get_task("math500", data=str(bad)).problems("test")
    bad.write_text(json.dumps({"answer": "2"}) + "\n")
    with pytest.raises(UserError, match=r"m\.jsonl:1: missing question field 'problem'"):
        get_task("aime24", data=str(bad)).problems("test")


def test_default_data_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(tmp_path))
    with pytest.raises(UserError, match=str(tmp_path / "math" / "aime24.jsonl")):
        get_task("aime24").problems("test")


def test_templates_and_subsets(benchmarks_dir):
    t = get_task("aime24", data=str(benchmarks_dir), template="chat")
    ps = t.problems("test", n=5, seed=1)
    assert len(ps) == 5 and ps[0].prompt.startswith("<|im_start|>system\nPlease reason step by step")
    assert [p.prompt_id for p in ps] == [p.prompt_id for p in t.problems("test", n=5, seed=1)]
    with pytest.raises(UserError, match="unknown math prompt template"):
        get_task("aime24", template="fancy")


def test_expand_tasks():
    assert expand_tasks("math6,gsm8k") == ["aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench", "gsm8k"]
    assert expand_tasks("math6,code3")[-3:] == ["humanevalplus", "livecodebench", "codeforces"]
    assert expand_tasks("countdown,countdown") == ["countdown"]
    with pytest.raises(UserError, match="unknown task or group 'math7'"):
        expand_tasks("math7")
