"""``disa-bench grade``: success path on a real benchmark, and one clean error line for each bad input."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture()
def env_bench(benchmarks_dir, monkeypatch):
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(benchmarks_dir))
    return benchmarks_dir


def test_grade_success_mean_at_k(tmp_path, env_bench):
    from disa_bench.tasks import get_task

    ps = get_task("aime24").problems("test")[:3]
    rows = []
    for i, p in enumerate(ps):  # k = 4 per prompt: prompt 0 all right, prompt 1 half right, prompt 2 none
        right = 4 if i == 0 else 2 if i == 1 else 0
        for j in range(4):
            resp = f"so \\boxed{{{p.answer}}}" if j < right else "so \\boxed{1}"
            rows.append({"prompt_id": p.prompt_id, "response": resp} if i < 2 else {"index": 2, "response": resp})
    f = _write(tmp_path / "r.jsonl", rows)
    out = tmp_path / "out"
    r = run_cli("grade", "--task", "aime24", "--responses", f, "--out", out)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["k"] == 4 and res["num_prompts"] == 3 and res["num_samples"] == 12
    assert res["mean@4"] == pytest.approx(100 * (1 + 0.5 + 0) / 3)
    assert res["pass@4"] == pytest.approx(100 * 2 / 3)
    assert res["per_prompt"] == {ps[0].prompt_id: 1.0, ps[1].prompt_id: 0.5, ps[2].prompt_id: 0.0}
    assert "math-verify" in res["grader_version"]
    v = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(v) == 12 and [x["line"] for x in v] == list(range(1, 13))
    assert v[0]["verdict"] == "ok" and v[11]["verdict"] == "wrong" and v[11]["prompt_id"] == ps[2].prompt_id
    man = json.loads((out / "manifest.json").read_text())
    assert man["command"] == "grade"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_grade_countdown_samples_file(tmp_path):
    """Responses may be an eval samples.jsonl (extra fields ignored); non-math tasks use their own grader."""
    from disa_bench.tasks import get_task

    p = get_task("countdown").problems("test", n=2)[0]
    sol = __import__("disa_bench.tasks.countdown", fromlist=["solutions"]).solutions(tuple(p.meta["numbers"]), p.answer)[0]
    f = _write(tmp_path / "s.jsonl", [{"prompt_id": p.prompt_id, "sample": 0, "response": f" {sol}={p.answer}"},
                                      {"prompt_id": p.prompt_id, "sample": 1, "response": " 1+1"}])
    r = run_cli("grade", "--task", "countdown", "--responses", f, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "results.json").read_text())["mean@2"] == 50.0


@pytest.mark.parametrize("case,expect", [
    ("unknown_task", "unknown task 'math501'"),
    ("missing_file", "does not exist"),
    ("empty_file", "is empty"),
    ("unknown_id", "unknown prompt ids"),
    ("bad_index", "unknown prompt ids"),
    ("bad_json", "r.jsonl:2: not valid JSON"),
    ("no_response", "r.jsonl:1: missing string field 'response'"),
    ("uneven_k", "different numbers of responses"),
])
def test_grade_bad_inputs(tmp_path, env_bench, case, expect):
    f = tmp_path / "r.jsonl"
    ok = {"prompt_id": "aime24/0", "response": "\\boxed{1}"}
    task = "aime24"
    if case == "unknown_task":
        task = "math501"
        _write(f, [ok])
    elif case == "missing_file":
        pass
    elif case == "empty_file":
        f.write_text("\n")
    elif case == "unknown_id":
        _write(f, [ok, {"prompt_id": "aime24/9999", "response": "x"}])
    elif case == "bad_index":
        _write(f, [{"index": 30, "response": "x"}])
    elif case == "bad_json":
        _write(f, [ok, '{"prompt_id": "aime24/1", "response": '])
    elif case == "no_response":
        _write(f, [{"prompt_id": "aime24/0"}])
    elif case == "uneven_k":
        _write(f, [ok, ok, {"prompt_id": "aime24/1", "response": "x"}])
    out = tmp_path / "out"
    r = run_cli("grade", "--task", task, "--responses", f, "--out", out)
    assert r.exit_code != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0], r.stderr
    assert not out.exists() or not any(out.iterdir())
