"""``--report-to``: per-step training metrics streamed to a tracker, read back from TensorBoard's event files.

TensorBoard is in the ``dev`` extra; these tests skip only where it is not installed. W&B is checked in offline
mode (no network) where it is installed. A missing tracker package is one ``error:`` line naming the extra.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import one_error_line, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("trackers")
    r = run_cli("propose", "--n-prompts", "8", "--k", "2", "--out", d / "p")
    assert r.exit_code == 0, r.output
    return d / "p" / "store.parquet"


def _tiny(store, out, steps):
    return ["train", "--method", "grpo", "--store", store, "--steps", str(steps), "--prompts-per-step", "2", "--n", "2",
            "--mini-batches", "2", "--out", out]


def _scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_scalars_read_back(store, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "t"
    r = run_cli(*_tiny(store, out, 2), "--report-to", "tensorboard")
    assert r.exit_code == 0, r.output
    sc = _scalars(out / "tensorboard" / "grpo")
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for key in ("loss", "reward", "response_length", "clip_frac", "ratio_mean", "kl_ref", "adv_abs"):
        assert [s for s, _ in sc[f"train/{key}"]] == [1, 2], key
        assert [v for _, v in sc[f"train/{key}"]] == pytest.approx([rec[key] for rec in recs], rel=1e-6), key
    for tag in ("train/lr", "time/generate", "time/update", "time/score", "tokens/tokens_forward",
                "tokens/tokens_generated", "tokens/sequences", "summary/reward_last", "summary/compute/wall_seconds"):
        assert tag in sc, (tag, sorted(sc))
    assert [v for _, v in sc["tokens/sequences"]] == [4, 8]  # cumulative: 2 prompts x 2 rollouts per step

    # continuing to 3 steps (same config, auto-resume from step 2): each step logged once
    r = run_cli(*_tiny(store, out, 3), "--report-to", "tensorboard")
    assert r.exit_code == 0 and "resuming from" in r.output, r.output
    sc = _scalars(out / "tensorboard" / "grpo")
    assert [s for s, _ in sc["train/loss"]] == [1, 2, 3]


def test_a_bad_tracker_name_or_a_missing_package_is_one_error_line(store, tmp_path):
    r = run_cli(*_tiny(store, tmp_path / "x", 1), "--report-to", "tensorbored")
    one_error_line(r, "unknown --report-to 'tensorbored'", "tensorboard", "wandb", code=2, out_dir=tmp_path / "x")
    missing = [k for k in ("wandb", "trackio") if importlib.util.find_spec(k) is None]
    if not missing:
        pytest.skip("wandb and trackio are both installed")
    r = run_cli(*_tiny(store, tmp_path / "y", 1), "--report-to", missing[0])
    one_error_line(r, f"pip install 'disa-bench[{missing[0]}]'", code=2, out_dir=tmp_path / "y")


def test_wandb_offline(store, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "w"
    r = run_cli(*_tiny(store, out, 2), "--report-to", "wandb")
    assert r.exit_code == 0, r.output
    runs = list((out / "wandb" / "wandb").glob("offline-run-*"))
    files = list(runs[0].glob("*.wandb")) if len(runs) == 1 else []
    assert files and b"train/loss" in files[0].read_bytes(), list((out / "wandb").rglob("*"))
    assert (out / "wandb" / "grpo.wandb-id").read_text().strip() in runs[0].name
