"""``disa-bench store import`` / ``store info``: external completions into a valid store, then offline DISA and
GRPO train on it. The completions are real: samples of the embedded teacher (with their per-token log-probs)
and hand-written right and wrong Countdown expressions."""

from __future__ import annotations

import json
import math

import pytest

from conftest import one_error_line, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["--steps", "2", "--prompts-per-step", "2", "--n", "4", "--max-new-tokens", "12"]


def _wrong(nums, target) -> str:
    """A well-formed expression over the numbers that misses the target."""
    from disa_bench.tasks.countdown import evaluate, parse, solutions

    a, b, c = nums
    for expr in (f"{a}+{b}+{c}", f"{a}*{b}*{c}", f"{a}-{b}-{c}", f"{a}*{b}+{c}"):
        if expr not in solutions(tuple(nums), target) and evaluate(parse(expr)) != target:
            return f" {expr}={target}"
    raise AssertionError(nums)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A JSONL of completions for 4 train prompts: 3 teacher samples each (with 'logprobs', no reward), one
    correct hand-written solution (by prompt_id, reward 1), one wrong one (reward 0, except a deliberately
    wrong reward 1 on the first prompt), and one sample whose 'logprobs' lack the EOS entry."""
    from disa_bench.models import load_model
    from disa_bench.rollout import get_backend
    from disa_bench.tasks import get_task
    from disa_bench.tasks.countdown import solutions
    from disa_bench.types import SamplingParams

    d = tmp_path_factory.mktemp("store_import")
    task = get_task("countdown")
    probs = task.problems("train", 4, seed=3)
    teacher = load_model("embedded:teacher")
    backend = get_backend("hf", teacher.model, teacher.tokenizer, batch_size=8)
    outs = backend.generate([p.prompt for p in probs], SamplingParams(n=3, temperature=1.0, top_p=1.0,
                                                                        max_new_tokens=task.max_new_tokens, seed=7))
    rows = []
    for i, (p, group) in enumerate(zip(probs, outs)):
        nums, target = p.meta["numbers"], p.answer
        for c in group:
            rows.append({"prompt": p.prompt, "completion": c.text, "logprobs": c.logprobs, "truncated": c.truncated})
        rows.append({"prompt_id": p.prompt_id, "completion": f" {solutions(tuple(nums), target)[0]}={target}", "reward": 1})
        rows.append({"prompt": p.prompt, "completion": _wrong(nums, target), "reward": 1.0 if i == 0 else 0.0})
    c = outs[1][0]
    rows.append({"prompt": probs[1].prompt, "completion": c.text, "logprobs": c.logprobs[:-1],  # one entry short
                 "truncated": c.truncated})
    src = d / "completions.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("store", "import", src, "--task", "countdown", "--proposal", "embedded:teacher", "--out", d / "imp")
    assert r.exit_code == 0, r.output
    return {"dir": d, "src": src, "rows": rows, "probs": probs, "result": r, "wrong_line": 5}


def test_import_writes_a_valid_store_graded_by_the_task(world):
    from disa_bench.store.schema import read_store, store_meta
    from disa_bench.tasks import get_task

    t = read_store(world["dir"] / "imp" / "store.parquet")  # the store validator passes
    rows, src = t.to_pylist(), world["rows"]
    assert len(rows) == len(src) == 4 * 5 + 1
    task = get_task("countdown")
    by_id = {p.prompt_id: p for p in world["probs"]}
    for row, given in zip(rows, src):  # file order kept
        assert row["completion"] == given["completion"]
        assert row["reward"] == task.grade(by_id[row["prompt_id"]], row["completion"]).reward
        assert row["completion_ids"][-1] == 1  # EOS appended (the embedded tokenizer's eos id)
        assert row["proposal_model"] == "embedded:teacher" and row["temperature"] == 1.0
        assert row["ref_logprob"] < 0 and row["proposal_logprob"] < 0
    assert sum(r["reward"] for r in rows) >= 4  # every hand-written solution is correct
    # samples with matching 'logprobs': stored as behaviour, and the teacher-forced proposal density agrees
    for row, given in zip(rows, src):
        if given.get("logprobs") and len(given["logprobs"]) == row["num_tokens"]:
            assert row["behavior_logprobs"] == pytest.approx(given["logprobs"], abs=1e-6)
            assert row["proposal_logprob"] == pytest.approx(sum(given["logprobs"]), abs=1e-3)
    last = rows[-1]  # 'logprobs' one short: behaviour = teacher-forced proposal
    assert len(last["behavior_logprobs"]) == last["num_tokens"]
    assert sum(last["behavior_logprobs"]) == pytest.approx(last["proposal_logprob"], abs=1e-3)
    meta = store_meta(t)
    assert meta["propose"]["ref"] == "embedded:base" and meta["propose"]["proposal"] == "embedded:teacher"
    assert meta["import"]["reward_disagreements"] == 1 and meta["import"]["logprobs_length_mismatch"] == 1
    assert meta["import"]["behavior_from_file"] == 4 * 3
    assert meta["import"]["max_abs_logprob_diff"] < 1e-3
    assert json.loads((world["dir"] / "imp" / "manifest.json").read_text())["command"] == "store import"


def test_a_wrong_given_reward_is_reported_and_overridden(world):
    err = world["result"].stderr
    warns = [l for l in err.splitlines() if l.startswith("warning:")]
    assert len(warns) == 2, err
    assert "1 of 8 given rewards disagree" in warns[0]
    assert f"{world['src']}:{world['wrong_line']}: given 1, grader 0" in warns[0]
    assert "1 rows' 'logprobs' do not match" in warns[1] and f"{world['src']}:21" in warns[1]
    assert "max |given - teacher-forced proposal|" in err
    from disa_bench.store.schema import read_store

    row = read_store(world["dir"] / "imp").to_pylist()[world["wrong_line"] - 1]
    assert row["given_reward"] == 1.0 and row["reward"] == 0.0


def test_store_info_prints_the_counts(world):
    r = run_cli("store", "info", world["dir"] / "imp")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "trajectories:  21" in out and "prompts:       4" in out
    assert "k per prompt:  min 5, median 5, max 6" in out
    assert "coverage:      100.0%" in out and "schema:        ok" in out
    assert "proposal: embedded:teacher" in out and "ref: embedded:base" in out
    d = json.loads(run_cli("store", "info", world["dir"] / "imp" / "store.parquet", "--json").stdout)
    import pyarrow.parquet as pq

    n_ok = sum(x["reward"] > 0 for x in pq.read_table(world["dir"] / "imp" / "store.parquet").to_pylist())
    assert d["success_rate"] == pytest.approx(n_ok / 21) and d["made_by"] == "store import"


def test_store_info_flags_an_invalid_store(world, tmp_path):
    import pyarrow.parquet as pq

    t = pq.read_table(world["dir"] / "imp" / "store.parquet")
    pq.write_table(t.drop(["ref_logprob"]), tmp_path / "bad.parquet")
    r = run_cli("store", "info", tmp_path / "bad.parquet")
    assert r.exit_code == 1
    assert "schema:        INVALID" in r.stdout and "ref_logprob" in r.stdout and "trajectories:  21" in r.stdout


@pytest.mark.parametrize("method", ["disa", "grpo"])
def test_offline_training_on_the_imported_store(world, method):
    d = world["dir"]
    store = d / "imp" / "store.parquet"
    extra = []
    if method == "disa":
        if not (d / "a" / "anchor.parquet").exists():
            r = run_cli("anchor", "--store", store, "--bootstrap", "10", "--no-plots", "--out", d / "a")
            assert r.exit_code == 0, r.output
        extra = ["--anchor", d / "a" / "anchor.parquet"]
    out = d / f"t_{method}"
    r = run_cli("train", "--method", method, "--data", "offline", "--store", store, *extra, *TINY, "--out", out)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 2 and math.isfinite(s["loss_last"]) and s["data_source"] == "store"
    assert (out / "adapter" / "adapter_config.json").exists()


def test_parquet_input_gives_the_same_store(world, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = world["rows"][:3]  # teacher samples of the first prompt, by prompt text
    src = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]), src)
    r = run_cli("store", "import", src, "--task", "countdown", "--proposal", "embedded:teacher", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    got = pq.read_table(tmp_path / "o" / "store.parquet").to_pylist()
    ref = pq.read_table(world["dir"] / "imp" / "store.parquet").to_pylist()[:3]
    assert len(got) == 3
    for i, (g, w) in enumerate(zip(got, ref)):
        assert g["source"] == f"{src}:row {i + 1}"
        assert g["completion_ids"] == w["completion_ids"] and g["reward"] == w["reward"]
        assert g["proposal_logprob"] == pytest.approx(w["proposal_logprob"], abs=1e-4)
        assert g["ref_logprob"] == pytest.approx(w["ref_logprob"], abs=1e-4)


def test_datasets_dir_input(world, tmp_path):
    datasets = pytest.importorskip("datasets")
    import pyarrow.parquet as pq

    rows = world["rows"][3:5]  # the first prompt's hand-written pair: by prompt_id, and by prompt text
    datasets.DatasetDict({"train": datasets.Dataset.from_list(
        [{"prompt_id": rows[0]["prompt_id"], "prompt": None, "completion": rows[0]["completion"]},
         {"prompt_id": None, "prompt": rows[1]["prompt"], "completion": rows[1]["completion"]}])}).save_to_disk(tmp_path / "ds")
    r = run_cli("store", "import", tmp_path / "ds", "--task", "countdown", "--proposal", "embedded:teacher",
                "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    got = pq.read_table(tmp_path / "o" / "store.parquet").to_pylist()
    assert [g["reward"] for g in got] == [1.0, 0.0] and got[1]["source"] == f"{tmp_path / 'ds'}:row 2"


def _bad(d, name, text):
    p = d / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


P = '"prompt": "Use 6 9 7 to make 21:"'
BAD = [  # (file name, content, needles in the error line)
    ("empty.jsonl", "\n\n", ["empty.jsonl", "no rows"]),
    ("binary.jsonl", b"\x00\x01\x02PK\x03\x04", ["binary.jsonl", "binary file"]),
    ("latin1.jsonl", "{\"prompt\": \"caf\xe9\"}\n".encode("latin-1"), ["latin1.jsonl:1", "UTF-8"]),
    ("nocomp.jsonl", "{%s}\n" % P, ["nocomp.jsonl:1", "'completion'"]),
    ("noprompt.jsonl", '\n{"completion": " 1+2=3"}\n', ["noprompt.jsonl:2", "'prompt'"]),
    ("unknown.jsonl", '{"prompt": "Use 1 2 3 to make 99:", "completion": " 1"}\n', ["unknown.jsonl:1", "'prompt'", "train problem"]),
    ("badid.jsonl", '{"prompt_id": "countdown/nope", "completion": " 1"}\n', ["badid.jsonl:1", "countdown/nope"]),
    ("reward.jsonl", '{%s, "completion": " 1", "reward": "one"}\n' % P, ["reward.jsonl:1", "'reward'", "'one'"]),
    ("lps.jsonl", '{%s, "completion": " 1", "logprobs": "x"}\n' % P, ["lps.jsonl:1", "'logprobs'"]),
    ("poslp.jsonl", '{%s, "completion": " 1", "logprobs": [-0.1, 3.0]}\n' % P, ["poslp.jsonl:1", "'logprobs' entry 1"]),
    ("comptype.jsonl", '{%s, "completion": 42}\n' % P, ["comptype.jsonl:1", "'completion'", "int"]),
    ("trunc.jsonl", '{%s, "completion": "x", "truncated": "yes"}\n' % P, ["trunc.jsonl:1", "'truncated'"]),
    ("notjson.jsonl", '{%s, "completion": " 1"}\n{oops\n' % P, ["notjson.jsonl:2", "not valid JSON"]),
    ("list.jsonl", "[1, 2]\n", ["list.jsonl:1", "expected"]),
    ("corrupt.parquet", b"PAR1garbage", ["corrupt.parquet", "Parquet"]),
]


@pytest.mark.parametrize("name,content,needles", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_error_line(tmp_path, name, content, needles):
    src = _bad(tmp_path, name, content)
    out = tmp_path / "out"
    r = run_cli("store", "import", src, "--task", "countdown", "--proposal", "embedded:teacher", "--out", out)
    one_error_line(r, *needles, code=2)
    assert not out.exists()


def test_missing_file_and_bad_out(tmp_path):
    r = run_cli("store", "import", tmp_path / "nope.jsonl", "--task", "countdown", "--proposal", "embedded:teacher",
                "--out", tmp_path / "o")
    one_error_line(r, "nope.jsonl", "does not exist", code=2)
    assert not (tmp_path / "o").exists()
    (tmp_path / "f").write_text("x")
    r = run_cli("store", "import", world_src := _bad(tmp_path, "ok.jsonl", '{%s, "completion": " 1"}\n' % P),
                "--task", "countdown", "--proposal", "embedded:teacher", "--out", tmp_path / "f")
    one_error_line(r, "--out", "is a file", code=2)
    assert world_src.exists() and (tmp_path / "f").read_text() == "x"
    r = run_cli("store", "info", tmp_path / "missing")
    one_error_line(r, "missing", "does not exist", code=2)
    r = run_cli("store", "info", tmp_path / "f")
    one_error_line(r, "Parquet", code=2)
