"""Every benchmark's problems, pinned: ids, prompts (plain, and a chat subset), answers and meta are
byte-identical to those of the code before the one-file-per-family refactor (fingerprints taken from it)."""

from __future__ import annotations

import hashlib
import json

import pytest

from disa_bench.tasks import get_task

# name: (problems, sha256[:16] of every plain problem, of the chat-template subset n=5 seed=3)
PINNED = {
    "aime24": (30, "511779533bd517ee", "40485852d391998e"),
    "aime25": (30, "0ca0d57f08824bf5", "32be5f52e7d48349"),
    "amc23": (40, "3d7c00ff4d89a681", "fdeb30f6ba161529"),
    "codeforces": (391, "8c5701ef935532c7", "00d054aa2d6b6f4b"),
    "gsm8k": (1319, "9ff599219f665000", "0af8e5fe0b035c21"),
    "humanevalplus": (164, "f39ff6b63f1ccd8d", "eea67b3ed2071189"),
    "livecodebench": (279, "ec837ae364cf47f8", "86421138982b406b"),
    "math500": (500, "29fb41e5095860ef", "7f311191e74c0a3d"),
    "minerva": (272, "5b3bc06ec0f8790a", "9f8ad3e7c2f00e8b"),
    "olympiadbench": (675, "4c8333c8a302c2b0", "ae2a8e410d564dd7"),
}


def fingerprint(problems) -> str:
    rows = [[p.prompt_id, p.prompt, p.answer, p.meta] for p in problems]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_problems_unchanged(name, benchmarks_dir, monkeypatch):
    monkeypatch.setenv("DISA_BENCH_BENCHMARKS", str(benchmarks_dir))
    n, plain, chat = PINNED[name]
    ps = get_task(name).problems("test")
    assert (len(ps), fingerprint(ps)) == (n, plain)
    assert fingerprint(get_task(name, template="chat").problems("test", n=5, seed=3)) == chat
