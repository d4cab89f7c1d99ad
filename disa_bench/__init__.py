"""disa-bench: train and compare DISA, FlowRL, GRPO, GSPO and LoRA-SFT on one shared offline trajectory store.

Layout (one sub-package per arrow of the data flow; docs/architecture.md has the picture and the import contract):
tasks -> rollout -> store -> anchor -> train -> eval -> judge -> report, with methods/ (one file of loss math per
method), world/ (the embedded models), graders/ and models.py below them and experiments/ + cli/ above.
"""

__version__ = "0.1.0"

from . import world  # noqa: E402,F401  (registers the embedded:NAME model names with disa_bench.models)
