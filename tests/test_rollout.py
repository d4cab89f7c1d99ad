"""Rollout backend and teacher-forced scorer agree: the sampler's per-token log-probs are the log-probs of
the distribution it sampled from, and the scorer reproduces them from text alone."""

import numpy as np
import pytest

from disa_bench.models import load_model
from disa_bench.rollout import get_backend, sequence_logprobs
from disa_bench.tasks import get_task
from disa_bench.types import SamplingParams


@pytest.fixture(scope="module")
def loaded(base_model_dir):
    return load_model(base_model_dir)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampling_logprobs_match_teacher_forcing(loaded, temperature):
    tok = loaded.tokenizer
    problems = get_task("countdown").problems("train", 6, seed=1)
    backend = get_backend("hf", loaded.model, tok, batch_size=4)
    groups = backend.generate([p.prompt for p in problems], SamplingParams(n=3, temperature=temperature, top_p=1.0,
                                                                           max_new_tokens=20, seed=5))
    assert len(groups) == 6 and all(len(g) == 3 for g in groups)
    prompt_ids, comp_ids, sampled = [], [], []
    for p, g in zip(problems, groups):
        for c in g:
            assert len(c.token_ids) == len(c.logprobs) >= 1
            assert c.truncated == (c.token_ids[-1] != tok.eos_token_id)
            assert tok.decode(c.token_ids, skip_special_tokens=True) == c.text
            prompt_ids.append(tok(p.prompt)["input_ids"])
            comp_ids.append(c.token_ids)
            sampled.append(c.logprobs)
    scored = sequence_logprobs(loaded.model, prompt_ids, comp_ids, temperature=temperature, pad_id=tok.pad_token_id,
                               batch_size=5)
    for s, t in zip(sampled, scored):
        np.testing.assert_allclose(s, t, atol=1e-4)


def test_same_seed_same_samples(loaded):
    backend = get_backend("hf", loaded.model, loaded.tokenizer)
    prompts = [p.prompt for p in get_task("countdown").problems("test", 4)]
    a = backend.generate(prompts, SamplingParams(n=2, seed=11, max_new_tokens=20))
    b = backend.generate(prompts, SamplingParams(n=2, seed=11, max_new_tokens=20))
    c = backend.generate(prompts, SamplingParams(n=2, seed=12, max_new_tokens=20))
    texts = lambda gs: [x.text for g in gs for x in g]  # noqa: E731
    assert texts(a) == texts(b) and texts(a) != texts(c)


def test_tokenizer_roundtrip_is_exact(loaded):
    tok = loaded.tokenizer
    s = "Use 3 5 7 to make 22: (3+5)*7-34=22"
    assert tok.decode(tok(s)["input_ids"]) == s
    assert type(tok).__name__ != "Qwen2Tokenizer"


def test_top_p_filter_matches_transformers_warper():
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    from disa_bench.rollout.hf import top_p_filter

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 40, generator=g) * 3
    for top_p in (0.95, 0.5, 0.05):
        ours = top_p_filter(logits.clone(), top_p)
        theirs = TopPLogitsWarper(top_p)(None, logits.clone())
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), top_p
        assert torch.equal(ours[~torch.isinf(ours)], theirs[~torch.isinf(theirs)])
        assert (~torch.isinf(ours)).sum(-1).min() >= 1


def test_top_p_sampling_logprobs_are_the_processed_distribution(loaded):
    """T = 0.6, top_p = 0.95 (the eval setting), prompts of different lengths in one batch: each sampled token's
    log-prob equals log_softmax(TopP(logits / T)) of a separate teacher-forced pass, and no token outside the
    nucleus is ever drawn."""
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    tok = loaded.tokenizer
    problems = get_task("countdown").problems("test", 8, seed=2)
    assert len({len(tok(p.prompt)["input_ids"]) for p in problems}) > 1  # ragged batch: the masked path
    groups = get_backend("hf", loaded.model, tok, batch_size=8).generate(
        [p.prompt for p in problems], SamplingParams(n=4, temperature=0.6, top_p=0.95, max_new_tokens=20, seed=3))
    warp = TopPLogitsWarper(0.95)
    for p, g in zip(problems, groups):
        pid = tok(p.prompt)["input_ids"]
        for c in g:
            ids = torch.tensor([pid + c.token_ids])
            with torch.no_grad():
                logits = loaded.model(input_ids=ids).logits[0, len(pid) - 1 : len(pid) - 1 + len(c.token_ids)].float()
            expect = torch.log_softmax(warp(None, logits / 0.6), -1).gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
            assert torch.isfinite(expect).all()
            np.testing.assert_allclose(c.logprobs, expect.numpy(), atol=1e-4)


def test_shared_prefix_scoring_has_no_scatter_accumulate_backward(base_model_dir):
    """The gather of each prompt's cache rows to its completions must not be advanced indexing: its backward is
    index_put_(accumulate=True), which CPU torch runs with parallel atomic adds (thread-order sums, so training
    is not reproducible across processes). index_select's backward sums in index order."""
    import torch

    from disa_bench.models import add_lora
    from disa_bench.rollout.scoring import token_logprobs_shared

    model = add_lora(load_model(base_model_dir).model, r=4, alpha=8, dropout=0.0)
    lp, mask, h = token_logprobs_shared(model, [[5, 6, 7]] * 3 + [[8, 9]] * 2, [[10, 11], [12], [13, 14, 15], [16], []],
                                        1.0, 0, return_hidden=True)
    seen, stack, names = set(), [((lp * mask).sum() + h.sum()).grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(nxt for nxt, _ in fn.next_functions)
    assert "IndexSelectBackward0" in names
    assert not {n for n in names if n.startswith(("IndexBackward", "IndexPutBackward"))}, sorted(names)


def test_shared_prefix_scoring_equals_per_row_scoring(base_model_dir):
    """token_logprobs_shared (one prompt pass per group, cache gathered per completion) gives the same
    log-probs, pooled prompt states and LoRA gradients as the per-row pass, on shuffled groups of unequal
    prompt and completion lengths (empty completion included)."""
    import torch

    from disa_bench.models import add_lora
    from disa_bench.rollout.scoring import token_logprobs, token_logprobs_shared

    model = add_lora(load_model(base_model_dir).model, r=8, alpha=16, dropout=0.0)
    g = torch.Generator().manual_seed(0)
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data = torch.randn(p.shape, generator=g) * 0.05
    prompts = [[int(x) for x in torch.randint(4, 30, (int(torch.randint(5, 12, (1,), generator=g)),), generator=g)]
               for _ in range(4)]
    P = [p for p in prompts for _ in range(3)]
    C = [[int(x) for x in torch.randint(4, 30, (int(torch.randint(0, 9, (1,), generator=g)),), generator=g)]
         for _ in range(12)]
    perm = torch.randperm(12, generator=g).tolist()
    P, C = [P[i] for i in perm], [C[i] for i in perm]
    model.train()
    res = {}
    for f in (token_logprobs, token_logprobs_shared):
        model.zero_grad()
        lp, mask, h = f(model, P, C, 0.7, 0, return_hidden=True)
        ((lp * mask).sum() + h.sum() * 0.01).backward()
        res[f.__name__] = (lp.detach(), mask, h.detach(),
                           {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    a, b = res["token_logprobs"], res["token_logprobs_shared"]
    assert torch.equal(a[1], b[1])
    torch.testing.assert_close(b[0], a[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(b[2], a[2], atol=1e-5, rtol=1e-5)
    assert a[3].keys() == b[3].keys() and len(a[3]) > 0
    for k in a[3]:
        torch.testing.assert_close(b[3][k], a[3][k], atol=1e-4, rtol=1e-3)


def test_shared_prefix_decoding_matches_eager_decoding(loaded, monkeypatch):
    """The tiny-CPU sampler's shared-prefix attention (one K/V copy per prompt, generated tokens cached per row)
    draws the same tokens with the same log-probs as transformers' eager attention over per-row caches: ragged
    prompts (the masked path), n = 4, compaction of finished rows, same generator seed."""
    import torch

    from disa_bench.rollout import prefix_attention
    from disa_bench.rollout.hf import sample_tokens

    tok, model = loaded.tokenizer, loaded.model
    problems = get_task("countdown").problems("test", 12, seed=5)
    ids = [tok(p.prompt)["input_ids"] for p in problems]
    assert len({len(x) for x in ids}) > 1
    params = SamplingParams(n=4, temperature=0.6, top_p=0.95, max_new_tokens=20, seed=0)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    was = model.config._attn_implementation
    built = []
    init = prefix_attention.SharedPrefix.__init__
    monkeypatch.setattr(prefix_attention.SharedPrefix, "__init__", lambda self, *a: built.append(1) or init(self, *a))
    out = {}
    try:
        for impl in ("eager", prefix_attention.register()):
            model.set_attn_implementation(impl)
            out[impl] = sample_tokens(model, ids, params, eos, pad, torch.Generator().manual_seed(7))
    finally:
        model.set_attn_implementation(was)
    (t_e, l_e), (t_s, l_s) = out["eager"], out[prefix_attention.NAME]
    assert len(built) == 1  # the second run really decoded with the shared prefix
    assert t_e == t_s
    lengths = [t.index(eos) + 1 if eos in t else len(t) for t in t_e]
    assert len(set(lengths)) > 1  # rows finished at different steps: compaction ran
    for a, b, n in zip(l_e, l_s, lengths):
        np.testing.assert_allclose(b[:n], a[:n], atol=1e-5)
    assert prefix_attention._STATE.prefix is None  # the context is cleared after sampling


def test_shared_prefix_decoding_grouped_query_attention():
    """The same equality on a random tiny Llama with grouped-query attention (4 query heads over 2 KV heads),
    where the shared prefix is expanded per query head once and the suffix by transformers' repeat_kv."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from disa_bench.rollout import prefix_attention
    from disa_bench.rollout.hf import sample_tokens

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64)
    model = LlamaForCausalLM(cfg).eval()
    ids = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 14, 15, 16]]
    params = SamplingParams(n=3, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=0)
    out = {}
    for impl in ("eager", prefix_attention.register()):
        model.set_attn_implementation(impl)
        out[impl] = sample_tokens(model, ids, params, 1, 0, torch.Generator().manual_seed(3))
    (t_e, l_e), (t_s, l_s) = out["eager"], out[prefix_attention.NAME]
    assert t_e == t_s
    np.testing.assert_allclose(np.array(l_s), np.array(l_e), atol=1e-5)
