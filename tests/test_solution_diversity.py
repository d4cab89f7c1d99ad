"""Solution-set diversity (disa_bench/judge/solution.py) on real Countdown grades: solution coverage and
correct-strategy entropy at a fixed m, which wrong answers cannot raise.

What each test checks:
- 8 copies of one correct solution score lower coverage (and entropy) than 8 samples covering 4 distinct
  correct strategies; the all-samples entropy is fooled by seven distinct wrong expressions, these are not;
- adding wrong answers to a problem's samples never raises its coverage or correct-strategy entropy
  (randomised over problems and sample sets);
- the entropy at m averages over all m-subsets exactly (hand-computed values), excludes problems with fewer
  than m correct samples, and the seeded subsample path agrees with the exact one;
- the task enumerations: every solution string of the solver has its key in Countdown's set, ids round-trip;
  enum-abc's set is its correct responses; a task without one gives None;
- judge classes stand in for strategy keys on tasks without keys.
"""

from __future__ import annotations

import random

import pytest

from disa_bench.judge.offline import problem_measures
from disa_bench.judge.solution import (correct_labels, entropy_at_m, solution_measures, solution_set_for,
                                       summarize_solution)
from disa_bench.tasks import get_task
from disa_bench.tasks.countdown import all_trees, evaluate, render, solutions


def _row(task, problem, text, j=0):
    g = task.grade(problem, " " + text)
    return {"prompt_id": problem.prompt_id, "sample": j, "response": text, "reward": g.reward, "answer": g.answer,
            "strategy": g.strategy}


@pytest.fixture(scope="module")
def countdown():
    task = get_task("countdown")
    probs = [p for p in task.problems("test", 300) if len(task.solution_strategies(p)) >= 4]
    assert probs, "no test problem with 4+ strategies"
    return task, probs


def _distinct_solutions(task, p):
    """One solution string per correct strategy key of p."""
    seen = {}
    for s in solutions(tuple(p.meta["numbers"]), p.answer):
        key = task.grade(p, " " + s).strategy
        seen.setdefault(key, s)
    return list(seen.values())


def _wrong(p, n, rng):
    """n expressions using the numbers once that miss the target (distinct strategies, graded wrong)."""
    out = [render(t) for t in all_trees(tuple(sorted(p.meta["numbers"]))) if evaluate(t) != p.answer]
    rng.shuffle(out)
    return out[:n]


def test_copies_of_one_solution_score_below_four_distinct(countdown):
    task, probs = countdown
    p = probs[0]
    sols = _distinct_solutions(task, p)
    assert len(sols) >= 4 and len(sols) == len(task.solution_strategies(p))
    copies = [_row(task, p, sols[0], j) for j in range(8)]
    four = [_row(task, p, sols[j % 4], j) for j in range(8)]
    assert all(r["reward"] == 1 for r in copies + four)
    size = len(task.solution_strategies(p))
    a, b = (solution_measures(x, task.solution_strategies(p)) for x in (copies, four))
    assert a["solution_coverage"] == pytest.approx(1 / min(8, size))
    assert b["solution_coverage"] == pytest.approx(4 / min(8, size)) and b["outside_set"] == 0
    assert a["solution_coverage"] < b["solution_coverage"]
    assert a["correct_entropy"] == 0 and b["correct_entropy"] > 0.7
    # the old all-samples measure is fooled: one correct solution plus seven distinct wrong expressions scores 1.0
    fooled = [_row(task, p, sols[0])] + [_row(task, p, w, j + 1) for j, w in enumerate(_wrong(p, 7, random.Random(0)))]
    assert problem_measures(fooled)["all"]["strategy_entropy"] == pytest.approx(1.0)
    f = solution_measures(fooled, task.solution_strategies(p))
    assert f["solution_coverage"] == a["solution_coverage"] and f["correct_entropy"] is None  # 1 < m correct


def test_adding_wrong_answers_never_raises_the_measures(countdown):
    task, probs = countdown
    rng = random.Random(0)
    for trial in range(60):
        p = rng.choice(probs)
        sset = task.solution_strategies(p)
        sols = _distinct_solutions(task, p)
        k = rng.randint(1, 8)
        rows = [_row(task, p, rng.choice(sols), j) for j in range(k)]
        before = solution_measures(rows, sset)
        wrong = [_row(task, p, w, k + j) for j, w in enumerate(_wrong(p, rng.randint(1, 8), rng))]
        assert all(w["reward"] == 0 and w["strategy"] for w in wrong)
        after = solution_measures(rows + wrong, sset)
        assert after["solution_coverage"] <= before["solution_coverage"] + 1e-12, (trial, before, after)
        if before["correct_entropy"] is None:
            assert after["correct_entropy"] is None
        else:
            assert after["correct_entropy"] <= before["correct_entropy"] + 1e-12


def test_entropy_at_m_exact_subsets_exclusion_and_sampling():
    assert entropy_at_m(list("aabb"), 2) == pytest.approx(4 / 6)  # 4 of the 6 pairs differ
    assert entropy_at_m(list("aaab"), 2) == pytest.approx(3 / 6)
    assert entropy_at_m(list("abc"), 3) == pytest.approx(1.0) and entropy_at_m(list("aab"), 3) == pytest.approx(0.5793801643)
    assert entropy_at_m(["a"], 2) is None  # fewer than m correct: excluded
    labels = list("aaaaabbbccd" * 3)
    exact = entropy_at_m(labels, 3)
    assert entropy_at_m(labels, 3, seed=1, max_subsets=3000) == pytest.approx(exact, abs=0.02)  # C(33,3) > 3000: sampled
    per = [solution_measures([{"reward": 1.0, "strategy": s} for s in x], None) for x in ("ab", "a", "")]
    s = summarize_solution(per)
    assert s["correct_entropy"] == 1.0 and s["problems_with_m_correct"] == 1 and s["excluded_fewer_than_m_correct"] == 2
    assert s["solution_coverage"] is None and per[2]["distinct_correct_strategies"] == 0


def test_task_enumerations(countdown):
    task, probs = countdown
    for p in probs[:20]:
        assert task.problem_by_id(p.prompt_id) == p
        keys = task.solution_strategies(p)
        assert {task.grade(p, " " + s).strategy for s in solutions(tuple(p.meta["numbers"]), p.answer)} == keys
        assert solution_set_for("countdown", p.prompt_id) == keys
    e = get_task("enum-abc")
    assert solution_set_for("enum-abc", "enum-abc/abc") == {"ac", "aac", "abc", "acc"}
    assert e.grade(e.problem_by_id("enum-abc/aba"), "aca").reward == 1 and "aca" in e.solution_strategies(e.problem_by_id("enum-abc/aba"))
    assert solution_set_for("no-such-task", "x/1") is None and solution_set_for("countdown", "countdown/zz") is None


def test_judge_classes_replace_missing_keys():
    rows = [{"reward": r, "strategy": None} for r in (1.0, 0.0, 1.0, 1.0)]
    assert correct_labels(rows) is None
    llm_all = {"status": "ok", "view": "all", "classes": ["x", "y", "x", "z"]}
    assert correct_labels(rows, llm_all) == ["x", "x", "z"]
    assert correct_labels(rows, {"status": "ok", "view": "correct", "classes": ["1", "2", "2"]}) == ["1", "2", "2"]
    m = solution_measures(rows, None, labels=correct_labels(rows, llm_all))
    assert m["distinct_correct_strategies"] == 2 and m["correct_entropy"] == pytest.approx(2 / 3) and m["solution_coverage"] is None
