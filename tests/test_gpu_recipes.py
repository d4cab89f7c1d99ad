"""Every recipe under baselines/gpu/ resolves: its method and options, its task, its TrainConfig values (the model is
not loaded: a hub id this machine cannot reach); the recipes of the paper profile share one budget; and a recipe
naming a task or method that does not exist fails with one line naming the file."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT

GPU = sorted((ROOT / "baselines" / "gpu").glob("*.yaml"))


def test_there_are_gpu_recipes_for_every_builtin_method():
    assert {p.stem for p in GPU} >= {"disa", "flowrl", "grpo", "gspo", "sft"}


@pytest.mark.parametrize("path", GPU, ids=[p.stem for p in GPU])
def test_every_gpu_recipe_resolves(path):
    from disa_bench.experiments.recipes import check_recipe
    from disa_bench.tasks import get_task

    cfg = check_recipe(path)
    assert cfg.method == path.stem
    get_task(cfg.task)  # builds: the task's data loads here
    assert yaml.safe_load(path.read_text())["task"] == cfg.task


def test_the_paper_profile_reads_one_budget_from_the_recipes():
    from disa_bench.experiments.pipeline import RunConfig, stage_configs
    from disa_bench.experiments.recipes import shared_settings

    shared, margs = shared_settings("gpu")
    assert shared["task"] == "math-train" and set(margs) >= {"disa", "flowrl", "grpo", "gspo", "sft"}
    run = RunConfig(profile="paper")
    pc, ac, tc, ec = stage_configs(run)
    assert (tc.model, tc.task, tc.steps, tc.lr) == (shared["model"], "math-train", shared["steps"], shared["lr"])
    assert (pc.task, pc.ref, pc.max_new_tokens) == ("math-train", tc.model, tc.max_new_tokens)
    assert (ac.units, ac.beta) == ("ln", 15.0)
    assert (ec.tasks, ec.k, ec.n_prompts, ec.max_new_tokens) == ("math6,code3", 8, None, tc.max_new_tokens)
    for m, args in margs.items():
        assert run.method_args[m] == args  # each method trains with its recipe's options


@pytest.mark.parametrize("change, needle", [({"task": "math"}, "'math'"), ({"task": "math-train,nope"}, "'nope'"),
                                            ({"method": "dpo"}, "dpo"), ({"method_args": {"betta": 1}}, "betta")])
def test_a_recipe_naming_what_does_not_exist_fails(tmp_path, change, needle):
    from disa_bench.errors import UserError
    from disa_bench.experiments.recipes import check_recipe

    bad = yaml.safe_load((ROOT / "baselines" / "gpu" / "disa.yaml").read_text()) | change
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(UserError) as e:
        check_recipe(p)
    assert str(p) in str(e.value) and needle in str(e.value)
