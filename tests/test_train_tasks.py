"""The RL training sets (math-train[:levelA-B], gsm8k-train, mbpp-train), task mixtures, and the training reward
path: rows, splits, no overlap with the eval sets, and known right / wrong completions graded 1 / 0 by the same
graders the eval benchmarks use, through rollout.graded (one batch call per rollout batch)."""

from __future__ import annotations

import json
import re

import pytest

from disa_bench.errors import UserError
from disa_bench.rollout.graded import grade_groups, grade_pairs
from disa_bench.tasks import get_task
from disa_bench.tasks.groups import expand_tasks
from disa_bench.types import Completion


@pytest.fixture(autouse=True, scope="module")
def _bench(benchmarks_dir):
    import os

    old = os.environ.get("DISA_BENCH_BENCHMARKS")
    os.environ["DISA_BENCH_BENCHMARKS"] = str(benchmarks_dir)
    yield
    if old is None:
        del os.environ["DISA_BENCH_BENCHMARKS"]
    else:
        os.environ["DISA_BENCH_BENCHMARKS"] = old


_TASKS: dict = {}


def task(name: str):
    """One loaded task per name for the module (parsing MATH train's 7.5k rows once, not per test)."""
    if name not in _TASKS:
        _TASKS[name] = get_task(name)
    return _TASKS[name]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def comp(text: str) -> Completion:
    return Completion(text, [1], [0.0], False)


# ---------------------------------------------------------------- rows, names, splits


def test_training_sets_load_whole():
    assert len(task("math-train").problems("train")) == 7498
    assert len(task("gsm8k-train").problems("train")) == 7473
    mb = task("mbpp-train").problems("train")
    assert len(mb) == 374 and {p.meta["task_id"] for p in mb} == set(range(601, 975))
    assert len(task("mbpp").problems("test")) == 500
    p = task("gsm8k-train").problems("train")[0]
    assert p.answer == "72" and p.prompt.endswith("put your final answer within \\boxed{}.")
    # thousands separators are removed from GSM8K answers (79 rows have them)
    assert all("," not in p.answer for p in task("gsm8k-train").problems("train"))


def test_level_filter_and_parameterised_names():
    t = task("math-train:level3-5")
    ps = t.problems("train")
    assert t.name == "math-train:level3-5" and ps[0].task == "math-train:level3-5"
    assert {p.meta["level"] for p in ps} == {3, 4, 5}
    every = {p.prompt_id: p for p in task("math-train").problems("train")}
    assert len(ps) == sum(p.meta["level"] in (3, 4, 5) for p in every.values())  # the two level-less rows drop out
    assert all(every[p.prompt_id].prompt == p.prompt for p in ps)  # same problem, same id under the filter
    assert {p.meta["level"] for p in task("math-train:level2").problems("train")} == {2}
    for bad in ("math-train:level6", "math-train:level4-2", "math-train:hard"):
        with pytest.raises(UserError, match="bad math-train parameter"):
            get_task(bad)
    with pytest.raises(UserError, match="takes no ':' parameter"):
        get_task("countdown:level3")
    assert expand_tasks("math-train:level3-5,gsm8k") == ["math-train:level3-5", "gsm8k"]


def test_splits():
    with pytest.raises(UserError, match="only a 'train' split"):
        task("math-train").problems("test")
    with pytest.raises(UserError, match="only a 'test' split"):
        task("mbpp").problems("train")
    a = task("math-train").problems("train", 5, seed=3)
    assert [p.prompt_id for p in a] == [p.prompt_id for p in task("math-train").problems("train", 5, seed=3)]


def test_hub_rows_parse_and_missing_copy_goes_to_the_hub(tmp_path, monkeypatch):
    """Rows shaped like the Hugging Face datasets (MATH-lighteval: "Level N", type, answer only in the solution;
    openai/gsm8k: the whole solution in 'answer') parse like the local copies; with no local copy the task reads
    its HF dataset id (offline here, so that is a one-line UserError naming it)."""
    f = tmp_path / "m.jsonl"
    f.write_text(json.dumps({"problem": "What is $1+1$?", "level": "Level 2", "type": "Algebra",
                             "solution": "So it is $\\boxed{2}$."}) + "\n")
    p = get_task("math-train", data=str(f)).problems("train")[0]
    assert p.answer == "2" and p.meta["level"] == 2 and p.meta["subject"] == "Algebra"
    g = tmp_path / "g.jsonl"
    g.write_text(json.dumps({"question": "How many?", "answer": "1,000 + 80 = <<1000+80=1080>>1080\n#### 1,080"}) + "\n")
    assert get_task("gsm8k-train", data=str(g)).problems("train")[0].answer == "1080"
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError, match="openai/gsm8k"):
        get_task("gsm8k-train").problems("train")


# ---------------------------------------------------------------- no training prompt is an eval problem


@pytest.mark.parametrize("train, evals", [("math-train", ["math500", "aime24", "aime25", "amc23", "minerva",
                                                          "olympiadbench"]),
                                          ("gsm8k-train", ["gsm8k"])])
def test_no_training_problem_is_an_eval_problem(train, evals):
    """Questions compared after collapsing whitespace and case (and the rendered prompts too)."""
    ps = task(train).problems("train")
    tq, tp = {norm(p.meta["question"]) for p in ps}, {norm(p.prompt) for p in ps}
    for name in evals:
        ps = task(name).problems("test")
        assert not tq & {norm(p.meta["question"]) for p in ps}, name
        assert not tp & {norm(p.prompt) for p in ps}, name


def test_mbpp_train_and_test_ids_are_disjoint():
    train = task("mbpp-train").problems("train")
    test = task("mbpp").problems("test")
    ids = {p.meta["task_id"] for p in train}
    assert ids.isdisjoint(p.meta["task_id"] for p in test)
    assert min(p.meta["task_id"] for p in test) == 11 and max(p.meta["task_id"] for p in test) == 510
    assert not {norm(p.prompt) for p in train} & {norm(p.prompt) for p in test}


# ---------------------------------------------------------------- the reward path: right 1, wrong 0


def test_math_rewards_through_the_training_path():
    t = task("math-train")
    ps = t.problems("train", 3, seed=0)
    groups = [[comp(f"Thus the answer is $\\boxed{{{p.answer}}}$."), comp("I think it is \\boxed{-123457}.")]
              for p in ps]
    graded = grade_groups(t, ps, groups)
    assert [[g.grade.reward for g in grp] for grp in graded] == [[1.0, 0.0]] * 3
    g8 = task("gsm8k-train")
    p = g8.problems("train")[0]  # answer 72
    assert [g.reward for g in grade_pairs(g8, [(p, "She sold \\boxed{72} clips."), (p, "\\boxed{71}")])] == [1.0, 0.0]


def test_mbpp_rewards_through_the_training_path():
    t = task("mbpp-train")
    items = {it.pid: it for it in t.items()}
    # 927 has test_setup_code; 899's program defines its own check() (the harness must not shadow it)
    ps = [p for p in t.problems("train") if p.meta["task_id"] in (601, 602, 899, 927)]
    right = [comp(f"Here:\n```python\n{items[p.prompt_id].data['code']}\n```") for p in ps]
    wrong = [comp("```python\ndef f(*a):\n    return None\n```"), comp("```python\nthis is not python(\n```"),
             comp("no code at all"), comp("```python\nimport sys\nsys.exit(0)\n```")]
    graded = grade_groups(t, ps, [[r, w] for r, w in zip(right, wrong)])
    assert [g[0].grade.reward for g in graded] == [1.0] * 4, [g[0].grade for g in graded]
    assert [g[1].grade.reward for g in graded] == [0.0] * 4


def test_mbpp_reference_programs_pass():
    """Every 25th train row's reference program passes its own asserts in the sandbox (one batch call)."""
    t = task("mbpp-train")
    its = t.items()[::25]
    ps = {p.prompt_id: p for p in t.problems("train")}
    grades = t.grade_batch([(ps[it.pid], f"```python\n{it.data['code']}\n```") for it in its])
    assert [g.reward for g in grades] == [1.0] * len(its), [(it.pid, g) for it, g in zip(its, grades) if g.reward < 1]


# ---------------------------------------------------------------- mixtures


def test_mixture_shares_ids_and_routing():
    m = task("math-train:level3-5,mbpp-train")
    assert m.name == "math-train:level3-5,mbpp-train"
    ps = m.problems("train", 7, seed=1)
    src = [p.meta["source_task"] for p in ps]
    assert src == ["math-train:level3-5", "mbpp-train"] * 3 + ["math-train:level3-5"]  # equal shares, round-robin
    assert all(p.prompt_id.startswith(p.meta["source_task"] + "|") and p.task == m.name for p in ps)
    assert [p.prompt_id for p in ps] == [p.prompt_id for p in m.problems("train", 7, seed=1)]
    own = {p.prompt_id for p in task("math-train:level3-5").problems("train", 4, seed=1)}
    assert {p.prompt_id.split("|", 1)[1] for p in ps if p.meta["source_task"] != "mbpp-train"} == own
    mb = task("mbpp-train")
    code = {it.pid: it.data["code"] for it in mb.items()}
    pairs = []
    for p in ps:
        if p.meta["source_task"] == "mbpp-train":
            pairs += [(p, f"```python\n{code[p.prompt_id.split('|', 1)[1]]}\n```"), (p, "```python\npass\n```")]
        else:
            pairs += [(p, f"\\boxed{{{p.answer}}}"), (p, "\\boxed{-98765}")]
    assert [g.reward for g in grade_pairs(m, pairs)] == [1.0, 0.0] * len(ps)
    assert "math-verify" in m.grader_version and "sandbox" in m.grader_version


def test_mixture_short_task_and_bad_names():
    m = task("mbpp-train,math-train")
    ps = m.problems("train", 800, seed=0)  # mbpp-train has 374: math-train takes the rest
    assert sum(p.meta["source_task"] == "mbpp-train" for p in ps) == 374 and len(ps) == 800
    assert len({p.prompt_id for p in ps}) == 800
    with pytest.raises(UserError, match="twice"):
        get_task("math-train,math-train")
    with pytest.raises(UserError, match="unknown task 'nope'"):
        get_task("math-train,nope")
    with pytest.raises(UserError, match="not in task mixture"):
        m.grade(task("math-train").problems("train", 1)[0], "x")


def test_templates_of_training_tasks():
    plain = task("math-train").problems("train", 2, seed=0)
    chat = get_task("math-train", template="chat").problems("train", 2, seed=0)
    assert not plain[0].prompt.startswith("<|im_start|>")
    assert chat[0].prompt.startswith("<|im_start|>system\n") and chat[0].prompt.endswith("<|im_start|>assistant\n")
    with pytest.raises(UserError, match="one fixed prompt format"):
        get_task("countdown", template="chat")
    get_task("countdown", template="plain")  # auto / plain leave fixed-format tasks as they are
