"""disa-bench: train and compare DISA, FlowRL, GRPO, GSPO and LoRA-SFT on one shared offline trajectory store."""

__version__ = "0.1.0"
