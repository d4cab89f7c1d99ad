"""propose -> anchor -> train -> eval through the real CLI on the embedded world; every output checked."""

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from disa_bench.anchor.estimators import ANCHOR_COLUMNS, closed_form_log_z
from disa_bench.store.schema import read_store

MANIFEST_KEYS = {"command", "config", "seed", "versions", "git_commit", "timings"}


def _manifest(d):
    m = json.loads((d / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(m), set(m)
    assert m["versions"]["torch"] and m["versions"]["disa-bench"]
    assert all(v >= 0 for v in m["timings"].values())
    return m


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    r = run_cli("propose", "--n-prompts", 8, "--k", 4, "--proposal-mix", 0.5, "--seed", 3, "--out", root / "p")
    assert r.exit_code == 0, r.output
    r = run_cli("anchor", "--store", root / "p" / "store.parquet", "--beta", 5, "--out", root / "a")
    assert r.exit_code == 0, r.output
    r = run_cli("train", "--method", "disa", "--store", root / "p" / "store.parquet", "--anchor",
                root / "a" / "anchor.parquet", "--steps", 2, "--prompts-per-step", 4, "--n", 4, "--out", root / "t")
    assert r.exit_code == 0, r.output
    r = run_cli("eval", "--adapter", root / "t" / "adapter", "--n-prompts", 6, "--k", 8, "--out", root / "e")
    assert r.exit_code == 0, r.output
    return root


def test_store_outputs(pipeline):
    t = read_store(pipeline / "p" / "store.parquet")  # validates the schema
    assert t.num_rows == 8 * 4
    rows = t.to_pylist()
    assert {r["component"] for r in rows} <= {"proposal", "ref"}
    for r in rows:
        assert r["num_tokens"] == len(r["completion_ids"]) == len(r["behavior_logprobs"])
        assert r["reward"] in (0.0, 1.0)
        assert math.isfinite(r["ref_logprob"]) and r["ref_logprob"] <= 0
        # mixture density bounds: log(1-a) + log pi_ref <= log q_a
        assert r["proposal_logprob"] >= math.log(0.5) + r["ref_logprob"] - 1e-4
    m = _manifest(pipeline / "p")
    assert m["config"]["k"] == 4 and m["seed"] == 3


def test_anchor_outputs(pipeline):
    t = pq.read_table(pipeline / "a" / "anchor.parquet")
    assert t.column_names == ANCHOR_COLUMNS
    rows = t.to_pylist()
    assert len(rows) == 8
    for r in rows:
        assert 0.0 <= r["log_z"] <= 5.0 + 1e-9  # SNIS with binary reward is bounded in [0, beta]
        assert r["no_coverage"] == (not r["coverage"])
        if r["no_coverage"]:  # no correct proposal: ESS and CI undefined
            assert r["ess"] is None and r["log_z_ci_low"] is None and r["log_z_ci_high"] is None
            continue
        assert r["log_z_ci_low"] <= r["log_z"] + 1e-9 and r["log_z"] <= r["log_z_ci_high"] + 1e-9
        assert 1.0 - 1e-9 <= r["ess"] <= 4.0 + 1e-9
    s = json.loads((pipeline / "a" / "summary.json").read_text())
    assert s["prompts"] == 8
    _manifest(pipeline / "a")


def test_train_outputs(pipeline):
    d = pipeline / "t"
    assert (d / "adapter" / "adapter_config.json").exists() and (d / "adapter" / "adapter_model.safetensors").exists()
    lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]
    for x in lines:
        for k in ("loss", "delta_abs", "w_mean", "w_clipped_frac", "kl_ref", "reward", "response_length"):
            assert k in x and x[k] is not None and math.isfinite(x[k]), (k, x)
    s = json.loads((d / "summary.json").read_text())
    assert s["compute"]["tokens_generated"] > 0 and s["compute"]["tokens_backward"] > 0
    m = _manifest(d)
    assert m["fairness"]["steps"] == 2


def test_eval_outputs(pipeline):
    d = pipeline / "e"
    res = json.loads((d / "results.json").read_text())
    samples = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 * 8 and res["num_samples"] == 48
    acc = np.mean([s["reward"] > 0 for s in samples]) * 100
    assert res["mean@8"] == pytest.approx(acc)
    lo, hi = res["mean@8_ci"]
    assert lo <= res["mean@8"] <= hi
    assert res["sampling"]["temperature"] == 0.6 and res["sampling"]["top_p"] == 0.95
    _manifest(d)


def test_anchor_from_ref_proposals_matches_closed_form(tmp_path):
    """q = pi_ref (mix 0), large K: log Z equals log(1 + (e^beta - 1) p_hat), p_hat the observed success rate."""
    r = run_cli("propose", "--n-prompts", 4, "--k", 64, "--proposal-mix", 0, "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    beta = 3.0
    r = run_cli("anchor", "--store", tmp_path / "p" / "store.parquet", "--beta", beta, "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    store = read_store(tmp_path / "p" / "store.parquet").to_pandas()
    anchor = pq.read_table(tmp_path / "a" / "anchor.parquet").to_pandas().set_index("prompt_id")
    for pid, g in store.groupby("prompt_id"):
        p_hat = float((g["reward"] > 0).mean())
        assert anchor.loc[pid, "log_z"] == pytest.approx(closed_form_log_z(p_hat, beta), abs=1e-6)
        if p_hat == 0:  # no correct proposal: ESS undefined
            assert math.isnan(anchor.loc[pid, "ess_frac"])
            continue
        assert anchor.loc[pid, "ess_frac"] == pytest.approx(
            (p_hat * math.exp(beta) + 1 - p_hat) ** 2 / (p_hat * math.exp(2 * beta) + 1 - p_hat), rel=1e-6)
