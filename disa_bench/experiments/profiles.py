"""Run profiles: the budgets of ``disa-bench run --profile smoke|default`` (``train --profile`` reuses the train part)."""

from __future__ import annotations


def all_methods() -> list[str]:
    """Every registered method, in report order (the built-ins: disa, flowrl, grpo, gspo, sft; new ones after)."""
    from ..methods import method_names

    return method_names()


PROFILES: dict[str, dict] = {
    "smoke": {
        "propose": {"n_prompts": 32, "k": 8},
        "train": {"steps": 8, "prompts_per_step": 8, "n": 8, "mini_batches": 4},
        "eval": {"n_prompts": 64},
        "sweep": {"betas": [1.0, 5.0], "alphas": [0.0, 1.0], "n_prompts": 4, "k": 8, "ref_k": 16, "bootstrap": 50},
        "tune": {"steps": 4, "n_prompts": 32},
    },
    # The comparison of issue 12: base + 8 rows (every method, and the variants that isolate frozen vs learned log Z,
    # offline training and LN units), each trained with 3 seeds on one store and its anchors, in 2 worker processes of
    # one torch thread each (2 x 1 thread is 1.25x faster than 1 x 2 threads here, and the numbers do not depend on it:
    # benchmarks/workers.py). Every row gets the same budget -- 150 steps x 16 prompts x 8 rollouts, 4 optimizer steps
    # per rollout batch (methods.md §1.10: mini-batch = 1/4 of the rollout batch; GSPO needs >= 4 to be off-policy at
    # all) -- and its lr from the same tuning protocol (experiments/tune.py: lr in {8e-5, 2.5e-4, 8e-4}, 50 steps, seed
    # 0, val Mean@8 on 256 val prompts; committed in experiments/tuned/default.json); `lr` below is the shared lr
    # only rows without a tuning use. 2048 proposal prompts are asked for; Countdown's train split holds 588 at its 4:1
    # mix of 3- and 4-number problems (propose warns); eval asks 512 test prompts and gets the split's 453.
    "default": {
        "methods": ["disa", "disa-offline", "flowrl", "flowrl-exact", "grpo", "gspo", "sft", "disa-ln"],
        "seeds": [0, 1, 2],
        "workers": 2,
        "propose": {"n_prompts": 2048, "k": 8},
        "train": {"steps": 150, "prompts_per_step": 16, "n": 8, "mini_batches": 4, "lr": 2.5e-4},
        "eval": {"n_prompts": 512},
        "tune": {"lrs": [8e-5, 2.5e-4, 8e-4], "steps": 50, "seed": 0, "n_prompts": 256},
        "sweep": {"betas": [1.0, 2.0, 5.0, 10.0], "alphas": [0.0, 0.25, 0.5, 0.75, 1.0], "n_prompts": 96, "k": 16,
                  "ref_k": 128},
    },
}


# Rows of `disa-bench run` besides the registered methods (every method is also a row of its own name, with its
# Config defaults). A variant is a method plus settings under the name the report prints; this table is the one
# place they are defined (baselines/embedded/<name>.yaml repeats each as a `disa-bench train --config` recipe, and
# tests/test_variants.py checks the two agree). Keys: method, method_args, note (one line the report prints under
# the row), and TrainConfig fields (data, lr, ...) except store, anchor and seed. A run --config adds its own under
# `variants:`. Opt-in: `disa-bench run --methods disa,disa-offline,flowrl,flowrl-exact,...`.
VARIANTS: dict[str, dict] = {
    # methods.md §1.8 / §6 #8: the same loss on the store's trajectories only (w = 1: offline_weight none);
    # never generates, so its compute row shows what the online phase costs.
    "disa-offline": {"method": "disa", "data": "offline",
                     "note": "DISA's loss on the store's trajectories only (no generation during training)"},
    # FlowRL's learned log Z head on DISA's exact target (EXACT units, beta 5, raw reward): against `disa` only
    # frozen vs learned log Z differs (same residual code, methods/base.py tb_residual).
    "flowrl-exact": {"method": "flowrl", "method_args": {"units": "exact", "beta": 5.0, "reward_norm": "none"},
                     "note": "FlowRL's learned log Z on DISA's target (EXACT units, beta 5, raw reward)"},
    # Labelled ablation, expected to degrade (methods.md §1.8, docs/protocol.md): with r in {0, 1} and beta 15 the
    # frozen LN log Z is about 15 + log p(correct) on solvable prompts, so an incorrect sample's LN residual asks
    # for ~13 nats *per token*; FlowRL's beta 15 is meant for group z-scored rewards (|r| ~ 1), which a Z frozen
    # offline cannot use. Needs its own anchor (LN units, beta 15), which the run builds from the same store.
    "disa-ln": {"method": "disa", "method_args": {"units": "ln", "beta": 15.0},
                "note": "ablation: LN units at beta 15 on binary rewards ask ~13 nats per token of incorrect "
                        "samples (log Z ~ 15 + log p); expected to degrade, see docs/protocol.md"},
}


# The paper's setting on real tasks (issue 14): `disa-bench run --profile paper --model M [--proposal Q]`. Its training
# settings are the recipes baselines/gpu/<method>.yaml ("recipes": the folder under baselines/, read by
# experiments/recipes.py; model, task, budget, LoRA, lengths and each method's options are written there and
# nowhere else); propose, eval and the anchor follow the recipes' task, model, template and response length. What
# only the run has is set here: the proposal size (K = 16, methods.md §1.10), the anchor (LN units, beta 15: FlowRL's
# setting, §6 #6), Mean@8 on the six math and three code benchmarks at T 0.6, top_p 0.95 on every prompt (§1.11,
# §6 #12). No sweep. Needs a GPU (docs/scale-out.md).
PROFILES["paper"] = {
    "recipes": "gpu",
    "propose": {"n_prompts": 1024, "k": 16},
    "anchor": {"units": "ln", "beta": 15.0},
    "eval": {"tasks": "math6,code3", "k": 8, "temperature": 0.6, "top_p": 0.95, "n_prompts": None},
    "sweep": None,
}
# The same pipeline shrunk to run on CPU in the test suite (tests/test_paper_profile.py): the tiny Qwen2 with its chat
# template, a few prompts of math-train and mbpp-train (a mixture: both graders serve as rewards), a few of each eval
# benchmark, two steps per method. Same recipes; the budget below replaces theirs. LoRA-SFT trains on every stored
# trajectory (sft_data: all): a random model's store has no correct one for the recipe's correct-only data.
PROFILES["paper-smoke"] = {
    "recipes": "gpu",
    "propose": {"n_prompts": 4, "k": 4, "batch_size": 64},
    "anchor": {"units": "ln", "beta": 15.0, "bootstrap": 10},
    "train": {"model": "tiny:qwen2-chat", "task": "math-train,mbpp-train", "steps": 2, "prompts_per_step": 4, "n": 4,
              "mini_batches": 2, "max_new_tokens": 16},
    "method_args": {"sft": {"sft_data": "all"}},
    "eval": {"tasks": "math6,code3", "k": 8, "temperature": 0.6, "top_p": 0.95, "n_prompts": 2},
    "sweep": None,
}
