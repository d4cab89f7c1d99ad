"""A new benchmark is one file: dropped into a copy of the package, it is discovered and `eval --tasks` runs it.

The copy is the real package (shutil.copytree); the only change is the new file in ``disa_bench/tasks/``. The
CLI runs in a real subprocess with PYTHONPATH pointing at the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

TINY = '''"""tinymath: two sums from tiny.jsonl, graded by the math grader (a benchmark in one file)."""

from .benchmark import register
from .math_bench import MathBench, MathSpec, answer_field

register(MathBench, {"tinymath": MathSpec("tiny.jsonl", "problem", answer_field("answer"))})
'''


@pytest.fixture(scope="module")
def pkg_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    shutil.copytree(ROOT / "disa_bench", root / "disa_bench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def _run(pkg: Path, *args: str, bench: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pkg), HF_HUB_OFFLINE="1")
    if bench is not None:
        env["DISA_BENCH_BENCHMARKS"] = str(bench)
    return subprocess.run([sys.executable, *args], cwd=pkg, env=env, capture_output=True, text=True, timeout=300)


def test_one_file_benchmark_runs_in_eval(pkg_copy, tmp_path, base_model_dir):
    (pkg_copy / "disa_bench" / "tasks" / "tinymath.py").write_text(TINY)
    bench = tmp_path / "bench"
    (bench / "math").mkdir(parents=True)
    rows = [{"problem": "What is 2+2?", "answer": "4"}, {"problem": "What is 3+4?", "answer": "7"}]
    (bench / "math" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # discovered, prompted like the other math sets, graded by the math grader
    probe = ("from disa_bench.tasks import get_task, task_names\n"
             "t = get_task('tinymath'); ps = t.problems('test')\n"
             "print(repr(ps[0].prompt)); print('tinymath' in task_names(), [p.prompt_id for p in ps])\n"
             "print([t.grade(p, r).reward for p in ps for r in ('so \\\\boxed{%s}.' % p.answer, '\\\\boxed{5}')])")
    p = _run(pkg_copy, "-c", probe, bench=bench)
    assert p.returncode == 0, p.stderr
    first, names, rewards = p.stdout.splitlines()
    assert first == repr("What is 2+2?\nPlease reason step by step, and put your final answer within \\boxed{}.")
    assert names == "True ['tinymath/0', 'tinymath/1']"
    assert rewards == "[1.0, 0.0, 1.0, 0.0]"

    out = tmp_path / "out"
    p = _run(pkg_copy, "-m", "disa_bench", "eval", "--tasks", "tinymath", "--k", "2", "--n-prompts", "2",
             "--out", str(out), bench=bench)
    assert p.returncode == 0, p.stderr
    r = json.loads((out / "results.json").read_text())
    assert r["task"] == "tinymath" and r["num_prompts"] == 2 and r["num_samples"] == 4
    assert set(r["per_prompt"]) == {"tinymath/0", "tinymath/1"}
    assert "math-verify" in r["grader_version"]
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4

    # the repository's own package knows nothing of it
    from disa_bench.tasks import task_names

    assert "tinymath" not in task_names()


def test_a_task_module_that_fails_to_import_is_named(pkg_copy, tmp_path):
    bad = pkg_copy / "disa_bench" / "tasks" / "broken_bench.py"
    bad.write_text("import not_a_module_xyz  # noqa\n")
    try:
        p = _run(pkg_copy, "-m", "disa_bench", "eval", "--tasks", "countdown", "--k", "2", "--n-prompts", "2",
                 "--out", str(tmp_path / "out"))
    finally:
        bad.unlink()
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert lines == ["error: task module disa_bench.tasks.broken_bench failed to import: "
                     "ModuleNotFoundError: No module named 'not_a_module_xyz'"], p.stderr
    assert not (tmp_path / "out").exists()
