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
