"""disa-bench judge: offline diversity measures, and the LLM judge through the real openai client against a
local OpenAI-compatible HTTP server started here (no mocking of the client)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_cli
from disa_bench.judge import run_judge
from disa_bench.judge.llm import JudgeConfig, parse_verdict, rubric_from_partition, rubric_thresholds, truncate
from disa_bench.judge.offline import dataset_means, problem_measures

KEY = "sk-test-SECRET-key-4242"
KEY_ENV = "DISA_BENCH_TEST_JUDGE_KEY"
LONG = "step " * 600 + "the key idea is the END-MARKER"  # 3 000+ chars: must reach the judge whole
VERDICT = {"classes": [1, 1, 2, 3], "strategies": {"1": "add then multiply", "2": "multiply first", "3": "guess"},
           "score": 4}


def _rows():
    p0 = [("a b c", "s1", "10", 1.0), ("a b c", "s1", "10", 1.0), ("a b d", "s2", "12", 0.0), ("x", "s3", None, 0.0)]
    p1 = [(LONG, None, "1", 0.0), ("y z", None, "2", 0.0), ("y z", None, "3", 0.0), ("q", None, "4", 0.0)]
    out = []
    for pid, rows in (("p0", p0), ("p1", p1)):
        for j, (resp, strat, ans, rew) in enumerate(rows):
            out.append({"prompt_id": pid, "sample": j, "prompt": f"Reach 24 with problem {pid}.", "response": resp,
                        "reward": rew, "answer": ans, "strategy": strat, "verdict": "ok", "truncated": False,
                        "num_tokens": 3})
    return out


@pytest.fixture
def eval_dir(tmp_path) -> Path:
    d = tmp_path / "run" / "eval" / "base"
    d.mkdir(parents=True)
    (d / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    return d


class FakeOpenAI:
    """A tiny OpenAI-compatible /v1/chat/completions server. ``script`` is consumed one action per request;
    then ``default`` is used. Actions: ("ok", content) | ("status", code) | ("sleep", seconds)."""

    def __init__(self):
        self.script, self.default = [], ("ok", json.dumps(VERDICT))
        self.requests, self.lock = [], threading.Lock()
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with fake.lock:
                    fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    action = fake.script.pop(0) if fake.script else fake.default
                try:
                    if action[0] == "sleep":
                        time.sleep(action[1])
                        action = ("ok", json.dumps(VERDICT))
                    if action[0] == "status":
                        self._send(action[1], {"error": {"message": f"status {action[1]}", "type": "x", "code": None}})
                    else:
                        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": action[1]}}],
                                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
def server():
    s = FakeOpenAI()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def _cfg(server_url, tmp_path, **kw) -> JudgeConfig:
    base = dict(base_url=server_url, model="judge-model", api_key_env=KEY_ENV, timeout=2.0, max_attempts=3,
                backoff=0.01, concurrency=1, cache_dir=str(tmp_path / "cache"), view="all")
    return JudgeConfig(**(base | kw))


def _read(out: Path):
    rows = {r["prompt_id"]: r for r in map(json.loads, (out / "judge.jsonl").read_text().splitlines())}
    return rows, json.loads((out / "summary.json").read_text()), json.loads((out / "manifest.json").read_text())


def _no_key_anywhere(*dirs: Path):
    for d in dirs:
        for f in Path(d).rglob("*"):
            if f.is_file():
                assert KEY not in f.read_text(errors="replace"), f"API key leaked into {f}"


# ---------- offline measures ----------

def test_offline_measures_exact_values():
    rows = [r for r in _rows() if r["prompt_id"] == "p0"]
    m = problem_measures(rows)
    a, c = m["all"], m["correct"]
    assert (a["n"], a["distinct_answers"], a["distinct_strategies"]) == (4, 2, 3)  # None answer not counted
    assert a["strategy_entropy"] == pytest.approx(0.75)  # H([.5,.25,.25]) = 1.5 bits / log2(4)
    # tokens: a b c | a b c | a b d | x -> 5/10 unigrams, 3/6 bigrams, 2/3 trigrams, no 4-gram
    assert a["distinct_n"] == {"1": pytest.approx(0.5), "2": pytest.approx(0.5), "3": pytest.approx(2 / 3), "4": None}
    assert a["distinct_mean"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert (c["n"], c["distinct_answers"], c["distinct_strategies"], c["strategy_entropy"]) == (2, 1, 1, 0.0)
    assert c["distinct_n"]["1"] == pytest.approx(0.5) and c["distinct_n"]["3"] == pytest.approx(0.5)

    p1 = problem_measures([r for r in _rows() if r["prompt_id"] == "p1"])
    assert p1["all"]["distinct_strategies"] is None and p1["all"]["strategy_entropy"] is None  # task without keys
    assert p1["all"]["distinct_answers"] == 4
    assert (p1["correct"]["n"], p1["correct"]["distinct_answers"], p1["correct"]["distinct_mean"]) == (0, None, None)
    means = dataset_means([m, p1])
    assert means["all"]["distinct_answers"] == pytest.approx(3.0)
    assert means["all"]["distinct_strategies"] == pytest.approx(3.0)  # None ignored, not averaged as 0
    assert means["all"]["strategy_entropy"] == pytest.approx(0.75)
    assert means["correct"]["problems_with_samples"] == 1
    assert means["correct"]["distinct_answers"] == 1.0  # the problem with no correct sample is skipped, not 0


def test_rubric_scaled_to_k_and_parser():
    assert [t for _, t, _ in rubric_thresholds(16)] == [14, 11, 7, 4, 0]  # FlowRL exactly at k = 16
    assert [t for _, t, _ in rubric_thresholds(8)] == [7, 6, 4, 2, 0]  # methods.md §1.11 scaled x0.5
    assert [rubric_from_partition(list(x)) for x in ("aaaaaaaa", "aaaaaabc", "aaaabbcc", "aabbccdd", "abcdefgh")] \
        == [1, 2, 3, 4, 5]
    t = truncate("H" * 5000 + "T" * 5000, 3000)  # over the cap: first 2/3 and last 1/3 of the cap kept
    assert t.startswith("H" * 2000) and t.endswith("T" * 1000) and "7000 characters omitted" in t
    assert truncate("short", 3000) == "short"
    assert parse_verdict("```json\n" + json.dumps(VERDICT) + "\n```", 4)["score"] == 4
    for bad in ("not json", json.dumps(VERDICT | {"score": 0}), json.dumps(VERDICT | {"classes": [1, 2]}),
                json.dumps(VERDICT | {"strategies": {"1": "x"}})):
        with pytest.raises(ValueError):
            parse_verdict(bad, 4)


# ---------- LLM judge against a local server ----------

def test_success_records_partition_score_and_manifest(server, eval_dir, tmp_path):
    out = tmp_path / "out"
    s = run_judge(eval_dir, out, _cfg(server.url, tmp_path))
    rows, summary, man = _read(out)
    llm = rows["p0"]["llm"]
    assert llm["status"] == "ok" and llm["score"] == 4 and llm["attempts"] == 1 and not llm["cached"]
    assert llm["classes"] == ["1", "1", "2", "3"] and llm["strategies"]["2"] == "multiply first"
    assert llm["views"]["all"] == {"n": 4, "n_classes": 3, "entropy": pytest.approx(0.75), "dominant_share": 0.5,
                                   "rubric_from_partition": 3}
    assert llm["views"]["correct"]["n_classes"] == 1 and llm["views"]["correct"]["n"] == 2
    assert rows["p0"]["offline"]["all"]["distinct_strategies"] == 3
    assert summary["llm"]["judged"] == 2 and summary["llm"]["missing"] == 0 and summary["llm"]["score_mean"] == 4
    assert s["llm"]["http_attempts"] == 2 == server.count
    assert man["judge"]["model"] == "judge-model" and man["judge"]["temperature"] == 0.0 and man["judge"]["template_hash"]
    req = server.requests[1]["body"]  # p1: contains the long response
    assert req["temperature"] == 0 and req["response_format"] == {"type": "json_object"} and req["model"] == "judge-model"
    user = req["messages"][-1]["content"]
    assert LONG.strip() in user and "END-MARKER" in user  # full reasoning, not the first 300 characters
    assert "4/4" in user and "1 = dominant" in user  # rubric scaled to k = 4
    assert server.requests[0]["auth"] == f"Bearer {KEY}"  # the key goes to the endpoint ...
    _no_key_anywhere(out, tmp_path / "cache")  # ... and nowhere on disk


def test_429_then_success_counts_attempts(server, eval_dir, tmp_path):
    server.script = [("status", 429)]
    out = tmp_path / "out"
    s = run_judge(eval_dir, out, _cfg(server.url, tmp_path))
    rows, summary, _ = _read(out)
    assert rows["p0"]["llm"]["status"] == "ok" and rows["p0"]["llm"]["score"] == 4
    assert rows["p0"]["llm"]["attempts"] == 2 and rows["p1"]["llm"]["attempts"] == 1
    assert summary["llm"]["http_attempts"] == 3 == server.count and s["llm"]["missing"] == 0


def test_timeout_recorded_missing_never_default(server, eval_dir, tmp_path):
    server.default = ("sleep", 1.0)
    out = tmp_path / "out"
    t = time.time()
    run_judge(eval_dir, out, _cfg(server.url, tmp_path, timeout=0.25, max_attempts=2))
    assert time.time() - t < 10
    rows, summary, _ = _read(out)
    for r in rows.values():
        assert r["llm"]["status"] == "missing" and r["llm"]["score"] is None and "views" not in r["llm"]
        assert "timeout" in r["llm"]["reason"] and r["llm"]["attempts"] == 2
        assert r["offline"]["all"]["n"] == 4  # offline measures still there
    assert summary["llm"]["judged"] == 0 and summary["llm"]["missing"] == 2 and summary["llm"]["score_mean"] is None
    assert server.count == 4
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are not cached


def test_malformed_json_is_missing_with_reason(server, eval_dir, tmp_path):
    server.default = ("ok", "The answer is 3, I think {")
    out = tmp_path / "out"
    run_judge(eval_dir, out, _cfg(server.url, tmp_path, max_attempts=2))
    rows, summary, _ = _read(out)
    assert all(r["llm"]["status"] == "missing" and r["llm"]["score"] is None for r in rows.values())
    assert "malformed judge output" in rows["p0"]["llm"]["reason"] and rows["p0"]["llm"]["attempts"] == 2
    assert summary["llm"]["missing"] == 2 and server.count == 4


def test_cached_rerun_makes_no_http_call(server, eval_dir, tmp_path):
    cfg = _cfg(server.url, tmp_path)
    run_judge(eval_dir, tmp_path / "a", cfg)
    assert server.count == 2
    s = run_judge(eval_dir, tmp_path / "b", cfg)
    assert server.count == 2  # no new request
    rows, _, _ = _read(tmp_path / "b")
    assert all(r["llm"]["cached"] and r["llm"]["score"] == 4 for r in rows.values())
    assert s["llm"]["cached"] == 2 and s["llm"]["http_attempts"] == 0
    run_judge(eval_dir, tmp_path / "c", _cfg(server.url, tmp_path, model="other-model"))
    assert server.count == 4  # the model is part of the cache key


def test_unauthorized_fails_fast_without_retry(server, eval_dir, tmp_path):
    server.default = ("status", 401)
    warnings = []
    run_judge(eval_dir, tmp_path / "out", _cfg(server.url, tmp_path), warn=warnings.append)
    rows, summary, _ = _read(tmp_path / "out")
    assert all(r["llm"]["reason"].startswith("HTTP 401") and r["llm"]["attempts"] == 1 for r in rows.values())
    assert server.count == 2 and len(warnings) == 1


# ---------- CLI ----------

def test_cli_success_on_pipeline_run_dir(server, eval_dir, tmp_path):
    r = run_cli("judge", eval_dir.parents[1], "--judge-base-url", server.url, "--judge-model", "judge-model",
                "--judge-view", "all", "--judge-api-key-env", KEY_ENV, "--cache-dir", tmp_path / "cache", "--judge-backoff", "0.01")
    assert r.exit_code == 0, r.output
    rows, summary, man = _read(eval_dir / "judge")  # found eval/base/ under the run dir
    assert summary["llm"]["judged"] == 2 and rows["p0"]["llm"]["score"] == 4
    assert man["command"] == "judge" and man["config"]["api_key_env"] == KEY_ENV
    assert KEY not in r.output
    _no_key_anywhere(eval_dir / "judge")


def test_cli_refused_endpoint_warns_and_exits_zero(eval_dir, tmp_path):
    with socket.socket() as s:  # a port with nothing listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("judge", eval_dir, "--judge-base-url", f"http://127.0.0.1:{port}/v1", "--judge-model", "m",
                "--judge-view", "all", "--judge-api-key-env", KEY_ENV, "--cache-dir", tmp_path / "cache", "--judge-max-attempts", "2",
                "--judge-backoff", "0.01", "--judge-timeout", "1")
    assert r.exit_code == 0, r.output
    assert [line for line in r.stderr.splitlines() if line.startswith("warning:")].__len__() == 1
    rows, summary, _ = _read(eval_dir / "judge")
    assert all(x["llm"]["status"] == "missing" and "connection" in x["llm"]["reason"] for x in rows.values())
    assert rows["p0"]["offline"]["all"]["distinct_strategies"] == 3


def test_cli_offline_only_and_bad_input(eval_dir, tmp_path):
    r = run_cli("judge", eval_dir, "--out", tmp_path / "j")
    assert r.exit_code == 0, r.output
    rows, summary, man = _read(tmp_path / "j")
    assert summary["llm"]["configured"] is False and "not configured" in summary["llm"]["note"]
    assert rows["p0"]["llm"] == {"status": "not_configured"} and man["judge"]["configured"] is False
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("judge", empty)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error:") and "samples.jsonl" in r.stderr
    assert not (empty / "judge").exists()


def test_correct_view_rates_only_correct_samples_and_both_views(server, eval_dir, tmp_path):
    """Default view: the judge sees only the correct samples (p0: 2 of 4; p1: none -> skipped, no call);
    ``both``: a second call on all samples, recorded as ``llm_all``."""
    two = {"classes": [1, 2], "strategies": {"1": "add", "2": "multiply"}, "score": 5}
    server.default = ("ok", json.dumps(two))
    out = tmp_path / "out"
    s = run_judge(eval_dir, out, _cfg(server.url, tmp_path, view="correct"))
    rows, summary, man = _read(out)
    assert server.count == 1 and "Below are 2 solutions" in server.requests[0]["body"]["messages"][-1]["content"]
    assert rows["p0"]["llm"]["view"] == "correct" and rows["p0"]["llm"]["score"] == 5
    assert rows["p0"]["llm"]["views"]["correct"]["n_classes"] == 2
    assert rows["p1"]["llm"]["status"] == "skipped" and rows["p1"]["llm"]["score"] is None
    assert summary["llm"]["view"] == "correct" and summary["llm"]["judged"] == 1 and summary["llm"]["skipped"] == 1
    assert man["judge"]["view"] == "correct" and s["llm"]["missing"] == 0
    server.script = [("ok", json.dumps(two)), ("ok", json.dumps(VERDICT)), ("ok", json.dumps(VERDICT))]
    run_judge(eval_dir, tmp_path / "both", _cfg(server.url, tmp_path / "c2", view="both"))
    rows, summary, _ = _read(tmp_path / "both")
    assert server.count == 1 + 3  # p0: correct + all, p1: all only
    assert rows["p0"]["llm"]["view"] == "correct" and rows["p0"]["llm_all"]["view"] == "all"
    assert rows["p0"]["llm_all"]["score"] == 4 and rows["p1"]["llm_all"]["status"] == "ok"
    assert summary["llm_all"]["judged"] == 2 and summary["llm"]["judged"] == 1
    r = run_cli("judge", eval_dir, "--judge-base-url", server.url, "--judge-model", "m", "--judge-view", "some")
    assert r.exit_code == 2 and "unknown --judge-view 'some'; valid: correct, all, both" in r.stderr
