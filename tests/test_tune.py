"""Fair tuning (issue 12 item 3): ``disa-bench tune`` trains every row once per lr of the same grid, scores each on
the val split, picks the best per row; ``run --tune`` does the same inside a run and trains with the choice; ``run
--tuning FILE`` reuses a tuning; the report's fairness block lists the grid, every cell and the chosen lrs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import one_error_line, run_cli

SMALL = """propose: {n_prompts: 16, k: 8}
train: {steps: 2, prompts_per_step: 4, n: 4, mini_batches: 2}
eval: {n_prompts: 16}
tune_grid: {n_prompts: 16}
"""
ROWS = "grpo,disa-offline"


def _j(p: Path):
    return json.loads(p.read_text())


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    (d / "small.yaml").write_text(SMALL)
    r = run_cli("tune", "--profile", "smoke", "--config", d / "small.yaml", "--methods", ROWS, "--lrs", "1e-3,1e-4",
                "--steps", "2", "--out", d / "t")
    assert r.exit_code == 0, r.output[-3000:]
    return d


def test_tune_grid_cells_val_split_and_choice(tuned):
    t = tuned / "t"
    rec = _j(t / "tune" / "tune.json")
    assert rec["protocol"]["lrs"] == [1e-4, 1e-3] and rec["protocol"]["steps"] == 2 and rec["protocol"]["split"] == "val"
    assert rec["rows"] == ["grpo", "disa-offline"]
    for row in ("grpo", "disa-offline"):
        cells = rec["cells"][row]
        assert set(cells) == {"0.0001", "0.001"}
        for lr in (1e-4, 1e-3):
            summ = _j(t / "tune" / "train" / row / f"lr{lr:g}" / "summary.json")
            assert summ["steps"] == 2 and summ["fairness"]["lr"] == lr and summ["fairness"]["seed"] == 0
            res = _j(t / "tune" / "eval" / row / f"lr{lr:g}" / "results.json")
            assert res["split"] == "val" and res["num_prompts"] == 16
            assert cells[f"{lr:g}"]["mean"] == res["mean@8"]
        best = max(cells.values(), key=lambda c: c["mean"])["mean"]
        assert cells[f"{rec['chosen'][row]:g}"]["mean"] == best
    assert _j(t / "tune" / "eval" / "base" / "results.json")["split"] == "val"
    assert not (t / "train").exists() and not (t / "report").exists()  # tune stops after the grid
    # val prompts are not train prompts (the store's) nor test prompts
    import pyarrow.parquet as pq

    val = {json.loads(x)["prompt_id"] for x in (t / "tune" / "eval" / "base" / "samples.jsonl").read_text().splitlines()}
    store = set(pq.read_table(t / "propose" / "store.parquet", columns=["prompt_id"]).column(0).to_pylist())
    assert val and val.isdisjoint(store)


def test_run_with_a_tuning_and_run_tune_agree(tuned, tmp_path):
    (tmp_path / "small.yaml").write_text(SMALL)
    common = ("run", "--profile", "smoke", "--no-sweep", "--config", tmp_path / "small.yaml", "--methods", ROWS + ",sft")
    r = run_cli(*common, "--tuning", tuned / "t" / "tune" / "tune.json", "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output[-3000:]
    chosen = _j(tuned / "t" / "tune" / "tune.json")["chosen"]
    rows = _j(tmp_path / "a" / "variants.json")["rows"]
    for row in ("grpo", "disa-offline"):
        assert rows[row]["lr"] == chosen[row] and rows[row]["lr_source"] == "tuned"
        assert _j(tmp_path / "a" / "train" / row / "summary.json")["fairness"]["lr"] == chosen[row]
    assert rows["sft"]["lr_source"] == "shared"
    md = (tmp_path / "a" / "report" / "report.md").read_text()
    block = md[md.index("## Tuning (fairness)"):md.index("## Clipping")]
    assert "lr 0.0001" in block and "lr 0.001" in block and "| sft |" in block and "not tuned" in block
    assert "Tuning (fairness)" in (tmp_path / "a" / "report" / "report.html").read_text()
    # run --tune: the same grid inside the run gives the same cells and trains with the same choice
    (tmp_path / "grid.yaml").write_text(SMALL.replace("tune_grid: {n_prompts: 16}",
                                                      "tune_grid: {n_prompts: 16, lrs: [1.0e-3, 1.0e-4], steps: 2}"))
    r = run_cli(*common[:5], tmp_path / "grid.yaml", *common[6:], "--tune", "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output[-3000:]
    in_run, alone = _j(tmp_path / "b" / "tune" / "tune.json"), _j(tuned / "t" / "tune" / "tune.json")
    assert set(in_run["cells"]) == {"grpo", "disa-offline", "sft"}  # every row of the run is tuned
    assert {r: in_run["cells"][r] for r in alone["cells"]} == alone["cells"]
    assert {r: in_run["chosen"][r] for r in alone["chosen"]} == alone["chosen"]
    assert _j(tmp_path / "b" / "variants.json")["rows"]["grpo"]["lr"] == chosen["grpo"]


@pytest.mark.parametrize("args, needle", [
    (("tune", "--lrs", "a,b"), "tune.lrs"),
    (("tune", "--lrs", "1e-4"), "at least 2"),
    (("tune", "--lrs", "1e-4,-1"), "> 0"),
    (("tune", "--steps", "0"), "tune.steps"),
    (("run", "--tuning", "nope.json"), "cannot read the tuning"),
    (("run", "--tuning", "sometimes"), "run.tune"),
    (("run", "--tune", "--tuning", "none"), "exclude each other"),
])
def test_bad_tuning_inputs(tmp_path, args, needle):
    r = run_cli(*args, "--profile", "smoke", "--out", tmp_path / "o")
    assert r.exit_code == 2 and needle in one_error_line(r), r.output
    assert not (tmp_path / "o").exists()
