"""MergedPolicy (the trainer's sampling copy of a LoRA policy) computes the same function as the live peft
model, before and after optimizer steps, and never changes the live weights."""

import torch

from disa_bench.models import add_lora, load_model
from disa_bench.rollout.merged import MergedPolicy


def test_merged_copy_tracks_the_live_adapter(base_model_dir):
    model = add_lora(load_model(base_model_dir).model, r=8, alpha=16, dropout=0.0)
    g = torch.Generator().manual_seed(0)
    for n, p in model.named_parameters():
        if "lora_B" in n:  # fresh LoRA has B = 0: make the adapter do something
            p.data = torch.randn(p.shape, generator=g) * 0.05
    ids = torch.randint(4, 30, (3, 12), generator=g)
    merged = MergedPolicy(model)
    base_before = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}
    model.eval()
    for step in range(3):
        with torch.no_grad():
            live = model(input_ids=ids).logits
            copy = merged.refresh()(input_ids=ids).logits
            with model.disable_adapter():
                ref = model(input_ids=ids).logits
        torch.testing.assert_close(copy, live, atol=1e-4, rtol=1e-4)
        assert (live - ref).abs().max() > 1e-3  # the adapter matters, so the check has teeth
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        model.train()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        model.eval()
    for n, p in model.named_parameters():
        if "base_layer" in n:
            assert torch.equal(p, base_before[n]), n
    assert not any(p.requires_grad for p in merged.model.parameters())
