"""The embedded Countdown task: grader, strategy keys, splits."""

import pytest

from disa_bench.tasks import get_task
from disa_bench.tasks.countdown import evaluate, grade_countdown, parse, render, solutions, strategy_key


def test_grader_rewards_any_valid_expression_and_rejects_wrong_ones():
    nums, target = [3, 5, 7], 22
    assert grade_countdown(nums, target, " 3*5+7=22").reward == 1.0
    assert grade_countdown(nums, target, "7+5*3").reward == 1.0  # no '=' part is fine
    assert grade_countdown(nums, target, " 3*5+7=21").reward == 0.0  # wrong claim
    assert grade_countdown(nums, target, " 3*7+5=26").reward == 0.0  # wrong value
    g = grade_countdown(nums, target, " 3*5+7+7=29")
    assert g.reward == 0.0 and "exactly once" in g.detail
    assert grade_countdown(nums, target, " 3*5+=22").verdict == "parse_error"
    assert grade_countdown(nums, target, "").reward == 0.0
    assert grade_countdown(nums, target, "import os").verdict == "parse_error"


def test_strategy_key_is_invariant_to_commutativity_and_associativity_only():
    same = ["3*5+7", "7+5*3", "(5*3)+7", "7+(3*5)"]
    keys = {strategy_key(parse(s)) for s in same}
    assert len(keys) == 1
    assert strategy_key(parse("9-2-5")) == strategy_key(parse("9-(2+5)")) == strategy_key(parse("9-5-2"))
    # different trees with the same value are different strategies
    assert strategy_key(parse("2*3+4")) != strategy_key(parse("4*3-2"))


def test_render_parse_roundtrip_and_solver():
    for nums, target in [((3, 5, 7), 22), ((1, 6, 7), 35), ((3, 5, 8, 9), 20)]:
        sols = solutions(nums, target)
        assert sols, (nums, target)
        for s in sols:
            t = parse(s)
            assert evaluate(t) == target
            assert render(t) == s
            assert grade_countdown(list(nums), target, f" {s}={target}").reward == 1.0


def test_splits_are_disjoint_deterministic_and_seeded():
    task = get_task("countdown")
    tr = task.problems("train", 200, seed=3)
    te = task.problems("test", 200, seed=3)
    assert {p.prompt_id for p in tr}.isdisjoint({p.prompt_id for p in te})
    assert [p.prompt for p in task.problems("train", 200, seed=3)] == [p.prompt for p in tr]
    assert [p.prompt for p in task.problems("train", 200, seed=4)] != [p.prompt for p in tr]
    all_test = {p.prompt_id for p in task.problems("test")}
    assert all(p.prompt_id in all_test for p in te)
    # every problem is solvable and its own prompt names the numbers
    for p in tr[:50]:
        assert solutions(tuple(sorted(p.meta["numbers"])), p.answer)
        assert p.prompt == f"Use {' '.join(map(str, p.meta['numbers']))} to make {p.answer}:"


def test_many_valid_solutions_and_several_strategies_on_four_number_problems():
    task = get_task("countdown")
    probs = task.problems("train", 200, seed=0)
    sols = {p.prompt_id: solutions(tuple(sorted(p.meta["numbers"])), p.answer) for p in probs}
    assert sum(len(s) for s in sols.values()) / len(probs) >= 3  # valid expressions per prompt
    four = [p for p in probs if len(p.meta["numbers"]) == 4]
    assert 0.15 <= len(four) / len(probs) <= 0.25  # the 4:1 size mix
    multi = sum(len({strategy_key(parse(s)) for s in sols[p.prompt_id]}) >= 2 for p in four)
    assert multi / len(four) > 0.3


def test_four_splits_partition_the_universe_and_sft_is_what_the_models_saw():
    """test, val, train and sft share no pair and together are every pair; val (for tuning) was cut from the old
    train band, so test and sft are the pairs they were before val existed (a hash band of u: test [0, .2),
    sft [.4, 1)) and the embedded models' SFT data is unchanged."""
    import hashlib

    from disa_bench.tasks.countdown import SPLITS, _universe

    task = get_task("countdown")
    ids = {sp: {p.prompt_id for p in task.problems(sp)} for sp in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            assert ids[a].isdisjoint(ids[b]), (a, b)
    assert sum(map(len, ids.values())) == len(_universe(3)) + len(_universe(4))
    assert len(ids["val"]) > 2000 and len(task.problems("val", 256)) == 256

    def u(nums, target):
        return int.from_bytes(hashlib.sha256(f"0|{nums}|{target}".encode()).digest()[:8], "big") / 2**64

    for size in (3, 4):
        for nums, t in _universe(size):
            want = "test" if u(nums, t) < 0.2 else "sft" if u(nums, t) >= 0.4 else None
            if want:
                assert task._split_of(nums, t) == want


def test_unknown_split_is_a_user_error():
    from disa_bench.errors import UserError

    with pytest.raises(UserError, match="unknown split"):
        get_task("countdown").problems("validation")
