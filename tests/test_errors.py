"""Bad input: one clear error line, exit != 0, and no half-written output."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import one_error_line, run_cli


def _assert_clean_failure(r, out_dir, *needles):
    one_error_line(r, *needles, out_dir=out_dir)


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    r = run_cli("propose", "--n-prompts", 2, "--k", 2, "--out", d)
    assert r.exit_code == 0, r.output
    return d / "store.parquet"


def test_corrupt_store(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file at all")
    _assert_clean_failure(run_cli("anchor", "--store", bad, "--out", tmp_path / "o"), tmp_path / "o", str(bad))


def test_mistyped_store_column(tmp_path, good_store):
    t = pq.read_table(good_store)
    t = t.set_column(t.column_names.index("ref_logprob"), "ref_logprob", t.column("ref_logprob").cast(pa.string()))
    bad = tmp_path / "mistyped.parquet"
    pq.write_table(t, bad)
    _assert_clean_failure(run_cli("anchor", "--store", bad, "--out", tmp_path / "o"), tmp_path / "o", "ref_logprob")


def test_nan_in_store(tmp_path, good_store):
    t = pq.read_table(good_store)
    vals = t.column("proposal_logprob").to_pylist()
    vals[1] = float("nan")
    t = t.set_column(t.column_names.index("proposal_logprob"), "proposal_logprob", pa.array(vals, pa.float64()))
    bad = tmp_path / "nan.parquet"
    pq.write_table(t, bad)
    _assert_clean_failure(run_cli("anchor", "--store", bad, "--out", tmp_path / "o"), tmp_path / "o",
                          "proposal_logprob", "row 1")


def test_missing_model_path(tmp_path):
    _assert_clean_failure(run_cli("eval", "--model", tmp_path / "no" / "such" / "model", "--out", tmp_path / "o"),
                          tmp_path / "o", "does not exist")
    _assert_clean_failure(run_cli("propose", "--proposal", "./nope-model", "--out", tmp_path / "o2"), tmp_path / "o2",
                          "nope-model")


def test_unknown_task_and_method(tmp_path, good_store):
    _assert_clean_failure(run_cli("eval", "--task", "countdwn", "--out", tmp_path / "o"), tmp_path / "o",
                          "'countdwn'", "countdown")
    _assert_clean_failure(run_cli("train", "--method", "dpo", "--store", good_store, "--out", tmp_path / "o2"),
                          tmp_path / "o2", "unknown method 'dpo'", "disa")


def test_bad_k_and_beta(tmp_path, good_store):
    _assert_clean_failure(run_cli("propose", "--k", 0, "--out", tmp_path / "o"), tmp_path / "o", "--k must be >= 1")
    _assert_clean_failure(run_cli("eval", "--k", 0, "--out", tmp_path / "o1"), tmp_path / "o1", "--k must be >= 1")
    for beta in (0, -2):
        _assert_clean_failure(run_cli("anchor", "--store", good_store, "--beta", beta, "--out", tmp_path / f"o{beta}"),
                              tmp_path / f"o{beta}", "--beta must be > 0")


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("k: 4\nbogus_option: 1\n")
    _assert_clean_failure(run_cli("propose", "--config", cfg, "--out", tmp_path / "o"), tmp_path / "o", "bogus_option")


def test_failed_command_keeps_previous_outputs_intact(tmp_path, good_store):
    out = tmp_path / "a"
    assert run_cli("anchor", "--store", good_store, "--out", out).exit_code == 0
    before = (out / "anchor.parquet").read_bytes()
    r = run_cli("anchor", "--store", good_store, "--beta", -1, "--out", out)
    assert r.exit_code != 0
    assert (out / "anchor.parquet").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
