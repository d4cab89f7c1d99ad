"""A plain copy of a LoRA policy with the adapter folded in, for sampling during training.

Sampling from a ``PeftModel`` pays for the separate low-rank matmuls in every adapted layer on every new
token. The trainer instead samples from :class:`MergedPolicy`: a deep copy of the policy with
``merge_and_unload`` applied once, whose adapted weights are rewritten before each rollout batch as
W = W_base + ΔW from the live adapter (peft's own ``get_delta_weight``, so scaling and fan-in/fan-out follow
the adapter's config). The live policy's weights are never modified (no merge/unmerge round trips, so
π_ref = the base under a disabled adapter stays bit-exact). Memory: one extra copy of the base weights.
"""

from __future__ import annotations


class MergedPolicy:
    def __init__(self, peft_model):
        import copy

        self.src = peft_model
        self.model = copy.deepcopy(peft_model).merge_and_unload()
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        targets = dict(self.model.named_modules())
        self.pairs = []  # (weight of the merged copy, LoRA layer of the live policy)
        for name, mod in peft_model.named_modules():
            if hasattr(mod, "get_delta_weight") and hasattr(mod, "base_layer"):
                tgt = targets.get(name.removeprefix("base_model.model."))
                if tgt is None or not hasattr(tgt, "weight"):
                    raise RuntimeError(f"merged copy has no layer for LoRA module {name!r}")
                self.pairs.append((tgt.weight, mod))
        if not self.pairs:
            raise RuntimeError("MergedPolicy needs a peft LoRA model (no LoRA layers found)")

    def refresh(self):
        """Copy the live adapter into the merged weights; returns the merged model."""
        import torch

        with torch.no_grad():
            for w, mod in self.pairs:
                merged = mod.base_layer.weight.detach().clone()
                for a in mod.active_adapters:
                    if a in mod.lora_A:
                        merged += mod.get_delta_weight(a).to(merged.dtype)
                w.copy_(merged)
        return self.model
