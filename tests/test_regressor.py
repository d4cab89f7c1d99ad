"""The prompt-conditioned log Z regressor (methods.md §1.7) and the anchor modes.

What each test checks:
- on the embedded task (countdown, pi_ref = embedded:base, proposals from the embedded mixture) the
  regressor's held-out MAE beats predicting the mean training target (both numbers printed), and the
  metrics (MAE, R^2, calibration slope) are saved;
- ``anchor --regressor --n-prompts N`` writes a prediction for every requested training prompt, including
  prompts with no proposals, with a ``source`` column; ``--mode shrunk`` mixes table and regressor with
  lambda = ESS/(ESS+kappa), and moves no-coverage prompts (undefined ESS, the least fit weight) fully to the
  regressor; the file stays readable by ``read_anchor`` (what DISA training uses);
- a regressor asked for with fewer than 10 prompts is one ``error:`` line with exit != 0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def countdown_store(tmp_path_factory, base_model_dir, teacher_model_dir):
    from disa_bench.store.propose import ProposeConfig
    from disa_bench.store.stage import propose_stage

    out = tmp_path_factory.mktemp("cd") / "p"
    propose_stage(ProposeConfig(k=4, n_prompts=100, proposal_mix=0.5, seed=0), out)
    return out / "store.parquet"


def test_regressor_beats_mean_on_embedded_task(countdown_store, tmp_path):
    r = run_cli("anchor", "--store", countdown_store, "--regressor", "--n-prompts", "130", "--no-plots", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    reg = json.loads((tmp_path / "a" / "regressor.json").read_text())
    h = reg["holdout"]
    print(f"held-out MAE {h['mae']:.4f} vs mean baseline {h['mae_mean_baseline']:.4f}; R2 {h['r2']:.3f}; "
          f"calibration slope {h['calibration_slope']:.3f} (n = {h['n']})")
    assert h["mae"] < h["mae_mean_baseline"], h
    for key in ("mae", "r2", "calibration_slope"):
        assert np.isfinite(h[key])

    from disa_bench.anchor.estimators import read_anchor
    from disa_bench.store.schema import read_store

    anchor = read_anchor(tmp_path / "a" / "anchor.parquet")
    store_ids = set(read_store(countdown_store).column("prompt_id").to_pylist())
    assert store_ids <= set(anchor)
    extra = set(anchor) - store_ids
    assert len(extra) == reg["prompts_without_proposals"] > 0
    assert {anchor[p]["source"] for p in anchor} == {"regressor"}
    from disa_bench.tasks import get_task

    want = {p.prompt_id for p in get_task("countdown").problems("train", 130, seed=0)}
    assert want <= set(anchor)


def test_shrunk_mode(countdown_store, tmp_path):
    r = run_cli("anchor", "--store", countdown_store, "--mode", "shrunk", "--kappa", "2", "--no-plots", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "a" / "anchor.parquet").to_pylist()
    assert any(x["no_coverage"] for x in rows) and not all(x["no_coverage"] for x in rows)
    for x in rows:
        if x["no_coverage"]:  # no correct proposal: ESS undefined, moved fully to the regressor (methods.md §1.5)
            assert x["ess"] is None and x["shrink_lambda"] == 0 and x["source"] == "regressor"
            assert x["log_z"] == x["log_z_pred"]
            continue
        lam = x["ess"] / (x["ess"] + 2.0)
        assert x["source"] == "shrunk" and x["shrink_lambda"] == pytest.approx(lam)
        assert abs(x["log_z"] - (lam * x["log_z_table"] + (1 - lam) * x["log_z_pred"])) < 1e-9
    reg = json.loads((tmp_path / "a" / "regressor.json").read_text())
    assert reg["no_coverage"]["prompts"] == sum(x["no_coverage"] for x in rows)
    assert reg["no_coverage"]["weight"] < reg["no_coverage"]["min_covered_weight"]  # the least weight


def test_regressor_needs_ten_prompts(tmp_path, countdown_store):
    from disa_bench.store.schema import read_store, write_store

    t = read_store(countdown_store)
    ids = list(dict.fromkeys(t.column("prompt_id").to_pylist()))[:5]
    rows = [x for x in t.to_pylist() if x["prompt_id"] in ids]
    write_store(tmp_path / "s.parquet", rows, extra_meta={"propose": {"ref": "embedded:base"}})
    r = run_cli("anchor", "--store", tmp_path / "s.parquet", "--regressor", "--out", tmp_path / "a")
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "at least 10 prompts" in lines[0], r.stderr


def test_regressor_unit_fit_recovers_signal():
    from disa_bench.anchor.regressor import LogZRegressor, RegressorConfig

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 8))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.05 * rng.normal(size=120)
    m = LogZRegressor(RegressorConfig(epochs=600, patience=100)).fit(X, y, np.ones(120))
    assert m["holdout"]["mae"] < 0.5 * m["holdout"]["mae_mean_baseline"]
    assert m["holdout"]["r2"] > 0.5
