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
    },
    # 2048 proposal prompts asked for so the RL prompts are not memorized (RL on a few hundred prompts does not
    # move the held-out score); Countdown's train split yields only 799 of them at its 4:1 mix of 3- and 4-number
    # problems (propose warns), kept at 2048 so the drawn problems and the committed report stay the same;
    # 200 steps x 16 prompts x 8 rollouts per method keeps five methods within 20 minutes on
    # 2 cores (measured: benchmarks/pipeline_time.py --profile default). Every method takes 4 optimizer steps
    # per rollout batch (methods.md §1.10: mini-batch = 1/4 of the rollout batch; GSPO needs >= 4 to be
    # off-policy at all) at one shared lr of 2.5e-4, i.e. about the per-batch step size of one 1e-3 step.
    # Measured on the way: with 1 step per batch at lr 1e-3 for the others, GSPO's 4 steps at 1e-3 collapsed
    # it (reward -> 0, Mean@8 10.7 vs base 28.3), so the shared setting must suit 4 steps per batch.
    "default": {
        "propose": {"n_prompts": 2048, "k": 8},
        "train": {"steps": 200, "prompts_per_step": 16, "n": 8, "mini_batches": 4, "lr": 2.5e-4},
        "eval": {"n_prompts": 512},
        "sweep": {"betas": [1.0, 2.0, 5.0, 10.0], "alphas": [0.0, 0.25, 0.5, 0.75, 1.0], "n_prompts": 96, "k": 16,
                  "ref_k": 128},
    },
}
