"""Bad input, as a hostile user would try it: one ``error: ...`` line naming the file/field/value, exit status 2,
no traceback, and nothing new on disk (the case's tmp dir is identical before and after; ``--out`` not created).

One row per case: (id, command args, files to create first, substrings the error line must hold). In args and
needles ``{t}`` is the case's tmp dir, ``{out}`` = ``{t}/out`` (never created beforehand unless a file says
so), and ``{store}``, ``{anchor}``, ``{adapter}``, ``{small_adapter}``, ``{base}`` name the module's real
fixtures (a proposed store, its anchor, a LoRA adapter on embedded:base, one on a smaller model, the base
model dir). A file's content is text, bytes, or a function ``(path, fixtures)`` that writes it.

Cases that are not "exit 2, nothing written" have their own tests below: a prompt count the split cannot meet
(a warning, exit 0), ``--force`` on an adapter of another base model (a warning), SIGINT (exit 130 with one
line), stale staging dirs, and a re-used output dir holding only the new run's files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, one_error_line, run_cli

BIN = bytes(range(256)) * 4  # NUL bytes and invalid UTF-8: not text
NOT_UTF8 = b'{"prompt_id": "countdown/1", "response": "\xff\xfe"}\n'


# ------------------------------------------------------------------ file makers


def store_variant(**change):
    """A copy of the fixture store with ``column=(row, value)`` changes (``value`` may be a function of the old
    value), or ``dup=True`` (every row twice)."""

    def make(path: Path, fx: dict) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = pq.read_table(fx["store"])
        if change.pop("dup", False):
            t = pa.concat_tables([t, t])
        for col, (row, value) in change.items():
            i = t.column_names.index(col)
            vals = t.column(col).to_pylist()
            vals[row] = value(vals[row]) if callable(value) else value
            t = t.set_column(i, t.schema.field(i), pa.array(vals, t.schema.field(i).type))
        pq.write_table(t, path)

    return make


def anchor_variant(**change):
    """A copy of the fixture anchor with ``column=(row, value)`` changes (``"@N"``: row N's value), or ``rows=0``."""

    def make(path: Path, fx: dict) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = pq.read_table(fx["anchor"])
        if change.get("rows") == 0:
            t = t.slice(0, 0)
        for col, (row, value) in ((c, v) for c, v in change.items() if c != "rows"):
            i = t.column_names.index(col)
            vals = t.column(col).to_pylist()
            vals[row] = vals[int(value[1:])] if isinstance(value, str) and value.startswith("@") else value  # "@0": row 0's
            t = t.set_column(i, t.schema.field(i), pa.array(vals, t.schema.field(i).type))
        pq.write_table(t, path)

    return make


def copy_of(key: str, edit=None):
    """A copy of a fixture dir, then ``edit(path)``."""

    def make(path: Path, fx: dict) -> None:
        shutil.copytree(fx[key], path)
        if edit:
            edit(path)

    return make


def _set_json(rel: str, **fields):
    def edit(path: Path) -> None:
        f = path / rel
        f.write_text(json.dumps(json.loads(f.read_text()) | fields))

    return edit


def _write(rel: str, content: str):
    def edit(path: Path) -> None:
        (path / rel).write_text(content)

    return edit


GOOD_RESPONSES = '{"prompt_id": "countdown/1", "response": "1+1=2"}\n'

# ------------------------------------------------------------------ the table

CASES = [
    # --- usage errors from the command-line parser (Typer/click), one line instead of a usage box
    ("usage-unknown-option", ["train", "--bogus"], {}, ["No such option", "--bogus"]),
    ("usage-not-an-int", ["propose", "--k", "four", "--out", "{out}"], {}, ["--k", "four"]),
    ("usage-missing-value", ["propose", "--out", "{out}", "--k"], {}, ["--k", "requires an argument"]),
    ("usage-missing-option", ["grade", "--task", "countdown"], {}, ["Missing option", "--responses"]),
    ("usage-unknown-command", ["nosuch"], {}, ["No such command", "nosuch"]),
    ("usage-store-missing-arg", ["store", "info"], {}, ["Missing argument"]),
    # --- config files: YAML values typed like flags
    ("yaml-k-string", ["propose", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": 'k: "four"\n'},
     ["c.yaml", "'k'", "an integer", "four"]),
    ("yaml-k-float", ["propose", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "k: 4.5\n"},
     ["c.yaml", "'k'", "4.5"]),
    ("yaml-n-prompts-bool", ["propose", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "n_prompts: true\n"},
     ["'n_prompts'", "True"]),
    ("yaml-seed-negative", ["propose", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "seed: -1\n"},
     ["c.yaml", "'seed'", "-1"]),
    ("yaml-beta-string", ["anchor", "--store", "{store}", "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": 'beta: "five"\n'}, ["c.yaml", "'beta'", "five"]),
    ("yaml-beta-nan", ["anchor", "--store", "{store}", "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": "beta: .nan\n"}, ["'beta'", "finite", "nan"]),
    ("yaml-train-steps-string", ["train", "--store", "{store}", "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": "train:\n  steps: ten\n"}, ["c.yaml", "'steps'", "ten"]),
    ("yaml-train-method-arg-type", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{anchor}",
                                    "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": "method_args:\n  beta: five\n"}, ["'beta'", "five"]),
    ("yaml-eval-k-float", ["eval", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "eval:\n  k: 4.5\n"},
     ["c.yaml", "'k'", "4.5"]),
    ("yaml-eval-temperature-inf", ["eval", "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": "temperature: .inf\n"}, ["'temperature'", "finite", "inf"]),
    ("yaml-base-seed-string", ["base", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "seed: x\n"},
     ["c.yaml", "'seed'", "'x'"]),
    ("yaml-run-train-steps", ["run", "--config", "{t}/c.yaml", "--out", "{out}"],
     {"c.yaml": "train:\n  steps: many\n"}, ["'steps'", "many"]),
    ("yaml-run-seed", ["run", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": "seed: 1.5\n"},
     ["'seed'", "1.5"]),
    ("config-is-dir", ["propose", "--config", "{t}/cfgdir", "--out", "{out}"], {"cfgdir/x": ""},
     ["cfgdir", "is a directory"]),
    ("config-is-binary", ["eval", "--config", "{t}/c.yaml", "--out", "{out}"], {"c.yaml": BIN},
     ["c.yaml", "binary"]),
    ("config-missing", ["train", "--config", "{t}/nope.yaml", "--out", "{out}"], {}, ["nope.yaml", "does not exist"]),
    # --- seeds and non-finite numbers on the command line
    ("seed-negative-propose", ["propose", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-anchor", ["anchor", "--store", "{store}", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-train", ["train", "--store", "{store}", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-eval", ["eval", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-base", ["base", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-grade", ["grade", "--task", "countdown", "--responses", "{t}/r.jsonl", "--seed", "-1",
                             "--out", "{out}"], {"r.jsonl": GOOD_RESPONSES}, ["--seed", "-1"]),
    ("seed-negative-sweep", ["sweep", "--seed", "-1", "--out", "{out}"], {}, ["--seed", "-1"]),
    ("seed-negative-run", ["run", "--seed", "-1", "--out", "{out}"], {}, ["seed", "-1"]),
    ("seed-negative-import", ["store", "import", "{t}/c.jsonl", "--task", "countdown", "--proposal",
                              "embedded:teacher", "--seed", "-1", "--out", "{out}"],
     {"c.jsonl": '{"prompt": "x", "completion": "y"}\n'}, ["--seed", "-1"]),
    ("seed-too-big", ["propose", "--seed", str(2**40), "--out", "{out}"], {}, ["--seed", str(2**40)]),
    ("lr-inf", ["train", "--store", "{store}", "--lr", "inf", "--out", "{out}"], {}, ["--lr", "inf"]),
    ("lr-nan", ["train", "--store", "{store}", "--lr", "nan", "--out", "{out}"], {}, ["--lr", "nan"]),
    ("train-max-new-tokens-negative", ["train", "--method", "grpo", "--store", "{store}", "--max-new-tokens", "-1",
                                       "--out", "{out}"], {}, ["--max-new-tokens", "-1"]),
    ("train-max-new-tokens-zero", ["train", "--method", "grpo", "--store", "{store}", "--max-new-tokens", "0",
                                   "--out", "{out}"], {}, ["--max-new-tokens", "0"]),
    ("yaml-train-temperature-zero", ["train", "--method", "grpo", "--store", "{store}", "--config", "{t}/c.yaml",
                                     "--out", "{out}"], {"c.yaml": "temperature: 0\n"}, ["--temperature", "0"]),
    ("yaml-train-top-p-two", ["train", "--method", "gspo", "--store", "{store}", "--config", "{t}/c.yaml",
                              "--out", "{out}"], {"c.yaml": "top_p: 2\n"}, ["--top-p", "2"]),
    ("sweep-lr-inf", ["sweep", "--lr", "inf", "--out", "{out}"], {}, ["--lr", "inf"]),
    ("eval-temperature-inf", ["eval", "--temperature", "inf", "--out", "{out}"], {}, ["--temperature", "inf"]),
    ("eval-top-p-nan", ["eval", "--top-p", "nan", "--out", "{out}"], {}, ["--top-p", "nan"]),
    ("eval-max-new-tokens-0", ["eval", "--max-new-tokens", "0", "--out", "{out}"], {}, ["--max-new-tokens", "0"]),
    ("eval-max-new-tokens-neg", ["eval", "--max-new-tokens", "-1", "--out", "{out}"], {}, ["--max-new-tokens", "-1"]),
    ("propose-max-new-tokens-0", ["propose", "--max-new-tokens", "0", "--out", "{out}"], {}, ["--max-new-tokens", "0"]),
    ("disa-beta-nan", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{anchor}", "--beta", "nan",
                       "--out", "{out}"], {}, ["beta", "nan"]),
    ("disa-beta-negative", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{anchor}", "--method-arg",
                            "beta=-5", "--out", "{out}"], {}, ["beta", "-5"]),
    ("disa-units-bogus", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{anchor}", "--method-arg",
                          "units=nats", "--out", "{out}"], {}, ["units", "nats"]),
    # --- --out: a file, a path under a file, a place that cannot be written
    ("out-is-file-propose", ["propose", "--out", "{t}/f"], {"f": "x"}, ["--out", "/f'", "is a file"]),
    ("out-under-file-propose", ["propose", "--out", "{t}/f/sub"], {"f": "x"}, ["f/sub", "is a file"]),
    ("out-unwritable-propose", ["propose", "--out", "/proc/disa-bench-no/out"], {}, ["/proc/disa-bench-no/out", "cannot"]),
    ("out-is-file-anchor", ["anchor", "--store", "{store}", "--out", "{t}/f"], {"f": "x"}, ["--out", "is a file"]),
    ("out-under-file-anchor", ["anchor", "--store", "{store}", "--out", "{t}/f/a/b"], {"f": "x"},
     ["f/a/b", "is a file"]),
    ("out-unwritable-anchor", ["anchor", "--store", "{store}", "--out", "/proc/disa-bench-no"], {}, ["cannot"]),
    ("out-is-file-train", ["train", "--method", "grpo", "--store", "{store}", "--steps", "1", "--out", "{t}/f"],
     {"f": "x"}, ["--out", "is a file"]),
    ("out-under-file-eval", ["eval", "--out", "{t}/f/e"], {"f": "x"}, ["f/e", "is a file"]),
    ("out-is-file-grade", ["grade", "--task", "countdown", "--responses", "{t}/r.jsonl", "--out", "{t}/f"],
     {"r.jsonl": GOOD_RESPONSES, "f": "x"}, ["--out", "is a file"]),
    ("out-under-file-base", ["base", "--out", "{t}/f/b"], {"f": "x"}, ["f/b", "is a file"]),
    ("out-under-file-sweep", ["sweep", "--out", "{t}/f/s"], {"f": "x"}, ["f/s", "is a file"]),
    ("out-under-file-import", ["store", "import", "{t}/c.jsonl", "--task", "countdown", "--proposal",
                               "embedded:teacher", "--out", "{t}/f/i"],
     {"c.jsonl": '{"prompt": "x", "completion": "y"}\n', "f": "x"}, ["f/i", "is a file"]),
    # --- binary and malformed input files
    ("grade-binary-responses", ["grade", "--task", "countdown", "--responses", "{t}/r.jsonl", "--out", "{out}"],
     {"r.jsonl": BIN}, ["r.jsonl", "binary"]),
    ("grade-not-utf8", ["grade", "--task", "countdown", "--responses", "{t}/r.jsonl", "--out", "{out}"],
     {"r.jsonl": NOT_UTF8}, ["r.jsonl:1", "UTF-8"]),
    ("grade-bad-json-line", ["grade", "--task", "countdown", "--responses", "{t}/r.jsonl", "--out", "{out}"],
     {"r.jsonl": GOOD_RESPONSES + "{oops\n"}, ["r.jsonl:2", "not valid JSON"]),
    ("grade-responses-dir", ["grade", "--task", "countdown", "--responses", "{t}", "--out", "{out}"], {},
     ["is a directory"]),
    ("judge-binary-samples", ["judge", "{t}/ev", "--out", "{out}"], {"ev/samples.jsonl": BIN},
     ["samples.jsonl", "binary"]),
    ("judge-no-such-dir", ["judge", "{t}/nope", "--out", "{out}"], {}, ["nope"]),
    ("import-binary", ["store", "import", "{t}/c.jsonl", "--task", "countdown", "--proposal", "embedded:teacher",
                       "--out", "{out}"], {"c.jsonl": BIN}, ["c.jsonl", "binary"]),
    ("store-info-binary", ["store", "info", "{t}/s.parquet"], {"s.parquet": BIN}, ["s.parquet", "Parquet"]),
    ("store-info-missing", ["store", "info", "{t}/none.parquet"], {}, ["none.parquet", "does not exist"]),
    ("anchor-binary-store", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"], {"s.parquet": BIN},
     ["s.parquet", "Parquet"]),
    # --- the store validator: numbers that are wrong, not just malformed
    ("store-duplicated-rows", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(dup=True)}, ["s.parquet", "duplicates row 0", "sample 0"]),
    ("store-positive-ref-logprob", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(ref_logprob=(1, 50.0))}, ["'ref_logprob' row 1", "50", "positive"]),
    ("store-absurd-proposal-logprob", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(proposal_logprob=(2, -1e300))}, ["'proposal_logprob' row 2", "1e+300", "bound"]),
    ("store-null-prompt-id", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(prompt_id=(3, None))}, ["'prompt_id' row 3", "null"]),
    ("store-null-completion", ["train", "--method", "sft", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(completion=(0, None))}, ["'completion' row 0", "null"]),
    ("store-behavior-1e30-gspo", ["train", "--method", "gspo", "--data", "offline", "--store", "{t}/s.parquet",
                                  "--steps", "1", "--out", "{out}"],
     {"s.parquet": store_variant(behavior_logprobs=(1, lambda old: [1e30] * len(old)))}, ["behavior_logprobs", "row 1", "1e+30"]),
    ("store-same-draw-twice", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(sample=(1, 0))}, ["row 1 duplicates row 0", "the same draw"]),
    ("store-null-sample", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(sample=(0, None))}, ["'sample' row 0", "null"]),
    ("store-zero-temperature", ["anchor", "--store", "{t}/s.parquet", "--out", "{out}"],
     {"s.parquet": store_variant(temperature=(0, 0.0))}, ["'temperature' row 0", "> 0"]),
    ("sweep-max-new-tokens", ["sweep", "--max-new-tokens", "-1", "--out", "{out}"], {}, ["--max-new-tokens", "-1"]),
    ("anchor-rows-of-another-beta", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{t}/a.parquet",
                                     "--out", "{out}"], {"a.parquet": anchor_variant(beta=(1, 1.0))},
     ["a.parquet", "different beta", "5.0", "1.0 in row 1"]),
    ("anchor-no-rows", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{t}/a.parquet", "--out", "{out}"],
     {"a.parquet": anchor_variant(rows=0)}, ["a.parquet", "no rows"]),
    ("anchor-log-z-1e20", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{t}/a.parquet",
                           "--out", "{out}"], {"a.parquet": anchor_variant(log_z=(0, 1e20))},
     ["a.parquet", "'log_z' row 0", "1e+20", "bound"]),
    ("anchor-null-prompt-id", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{t}/a.parquet",
                               "--out", "{out}"], {"a.parquet": anchor_variant(prompt_id=(1, None))},
     ["'prompt_id' row 1", "null"]),
    ("anchor-repeated-prompt", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{t}/a.parquet",
                                "--out", "{out}"], {"a.parquet": anchor_variant(prompt_id=(1, "@0"))},
     ["row 1 repeats prompt"]),
    ("anchor-not-an-anchor", ["train", "--method", "disa", "--store", "{store}", "--anchor", "{store}", "--out", "{out}"],
     {}, ["store.parquet", "missing column 'log_z'"]),
    # --- models and adapters
    ("adapter-garbage-config", ["eval", "--adapter", "{t}/ad", "--out", "{out}"],
     {"ad/adapter_config.json": "{this is not json"}, ["ad/adapter_config.json", "JSON"]),
    ("adapter-config-not-peft", ["eval", "--adapter", "{t}/ad", "--out", "{out}"],
     {"ad/adapter_config.json": "[1, 2]"}, ["adapter_config.json", "peft"]),
    ("adapter-missing-config", ["eval", "--adapter", "{t}/ad", "--out", "{out}"], {"ad/x.txt": "hi"},
     ["no adapter_config.json"]),
    ("adapter-other-base", ["eval", "--adapter", "{adapter}", "--model", "embedded:teacher", "--out", "{out}"], {},
     ["trained on", "embedded:teacher", "--force"]),
    ("adapter-other-size", ["eval", "--adapter", "{small_adapter}", "--out", "{out}"], {},
     ["trained on", "--force"]),
    ("model-config-wrong-type", ["eval", "--model", "{t}/m", "--n-prompts", "1", "--k", "1", "--out", "{out}"],
     {"m": copy_of("base", _set_json("config.json", num_hidden_layers="four"))}, ["cannot load", "{t}/m"]),
    ("model-config-garbage", ["eval", "--model", "{t}/m", "--n-prompts", "1", "--k", "1", "--out", "{out}"],
     {"m": copy_of("base", _write("config.json", "{not json"))}, ["cannot load", "{t}/m"]),
    # --- other commands' own checks
    ("report-bad-format", ["report", "{t}", "--format", "md,pdf", "--out", "{out}"], {}, ["pdf"]),
    ("report-n-boot", ["report", "{t}", "--n-boot", "10", "--out", "{out}"], {}, ["--n-boot", "10"]),
    ("judge-max-attempts", ["judge", "{t}", "--judge-max-attempts", "0", "--out", "{out}"], {},
     ["--judge-max-attempts", "0"]),
    ("sweep-bad-beta-list", ["sweep", "--beta", "1,x", "--out", "{out}"], {}, ["--beta", "x"]),
    ("sweep-mix-out-of-range", ["sweep", "--proposal-mix", "0,2", "--out", "{out}"], {}, ["--proposal-mix", "2"]),
    ("run-unknown-profile", ["run", "--profile", "huge", "--out", "{out}"], {}, ["huge", "smoke"]),
    ("run-unknown-method", ["run", "--methods", "disa,dpo", "--out", "{out}"], {}, ["dpo", "disa"]),
    ("propose-unknown-task", ["propose", "--task", "countdwn", "--out", "{out}"], {}, ["countdwn", "countdown"]),
    ("import-unknown-task", ["store", "import", "{t}/c.jsonl", "--task", "nope", "--proposal", "embedded:teacher",
                             "--out", "{out}"], {"c.jsonl": '{"prompt": "x", "completion": "y"}\n'}, ["nope"]),
]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fx(tmp_path_factory, base_model_dir):
    """Real inputs the bad ones are made from: a proposed store, its anchor, LoRA adapters."""
    d = tmp_path_factory.mktemp("bad_inputs_fx")
    r = run_cli("propose", "--n-prompts", 2, "--k", 2, "--out", d / "p")
    assert r.exit_code == 0, r.output
    r = run_cli("anchor", "--store", d / "p" / "store.parquet", "--no-plots", "--out", d / "a")
    assert r.exit_code == 0, r.output
    return {"store": str(d / "p" / "store.parquet"), "anchor": str(d / "a" / "anchor.parquet"),
            "adapter": _adapter(base_model_dir, d / "adapter"), "small_adapter": _small_adapter(d),
            "base": base_model_dir}


def _adapter(model_dir: str, dest: Path) -> str:
    """A fresh LoRA adapter on ``model_dir``, saved as peft saves it (its config records the base model)."""
    from disa_bench.models import add_lora, load_model

    m = add_lora(load_model(model_dir).model, r=4, alpha=8)
    m.save_pretrained(dest)
    return str(dest)


def _small_adapter(d: Path) -> str:
    """An adapter of a smaller Llama (hidden 64, 2 layers) than the embedded models (hidden 128, 4 layers)."""
    from transformers import LlamaForCausalLM

    from disa_bench.world.embedded import build_tokenizer, tiny_llama_config

    tok = build_tokenizer()
    small = d / "small_model"
    LlamaForCausalLM(tiny_llama_config(len(tok), hidden=64, layers=2, heads=2)).save_pretrained(small)
    tok.save_pretrained(small)
    return _adapter(str(small), d / "small_adapter")


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), None if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns))
            for p in root.rglob("*")}


def _fill(s: str, t: Path, fx: dict) -> str:
    return s.format(t=t, out=t / "out", **fx)


@pytest.mark.parametrize("args,files,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(args, files, needles, tmp_path, fx, one_thread):
    for rel, content in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(p, fx)
        else:
            p.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _snapshot(tmp_path)
    argv = [_fill(a, tmp_path, fx) for a in args]
    r = run_cli(*argv)
    one_error_line(r, *[_fill(n, tmp_path, fx) for n in needles], code=2)
    assert _snapshot(tmp_path) == before, "the failed command changed the tmp dir"
    assert not (tmp_path / "out").exists()


def test_table_covers_every_command():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    commands = {c[1][0] if c[1][0] != "store" else " ".join(c[1][:2]) for c in CASES}
    assert commands >= {"base", "propose", "anchor", "train", "eval", "grade", "judge", "report", "sweep", "run",
                        "store import", "store info"}, commands


# ------------------------------------------------------------------ cases with their own shape


def test_adapter_of_another_base_model_with_force(tmp_path, fx, one_thread):
    """--force turns "trained on another model" into a warning line; an adapter of another size then fails to load
    with one error line (after the warning), and nothing is written."""
    r = run_cli("eval", "--adapter", fx["small_adapter"], "--force", "--n-prompts", 1, "--k", 1, "--out", tmp_path / "o")
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 2, r.output
    assert lines[0].startswith("warning: adapter") and "small_model" in lines[0] and "--force" in lines[0]
    assert lines[1].startswith("error: adapter") and "does not load onto this model" in lines[1] and "size mismatch" in lines[1]
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()
    r = run_cli("eval", "--adapter", fx["adapter"], "--model", "embedded:teacher", "--force", "--n-prompts", 1, "--k", 1,
                "--out", tmp_path / "e")
    assert r.exit_code == 0, r.output
    warn = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warn) == 1 and "embedded:teacher" in warn[0], r.stderr
    assert json.loads((tmp_path / "e" / "results.json").read_text())["num_prompts"] == 1


def test_prompt_count_the_split_cannot_meet_is_a_warning(tmp_path, one_thread):
    """enum-ab has 8 train prompts: asking for 20 is one warning line naming 20 and 8; the store holds the 8."""
    r = run_cli("propose", "--task", "enum-ab", "--n-prompts", 20, "--k", 1, "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    warn = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
    assert len(warn) == 1 and "--n-prompts 20" in warn[0] and "only 8 prompts" in warn[0], r.stderr
    man = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert man["summary"]["prompts"] == 8 and man["summary"]["warnings"] == [warn[0].removeprefix("warning: ")]


def test_sigint_exits_130_with_one_line_and_no_output(tmp_path):
    """Ctrl-C during a real propose (a subprocess): exit 130, one stderr line saying so, and the --out it created
    is gone (its staging dir removed)."""
    out = tmp_path / "p"
    env = dict(os.environ, DISA_BENCH_QUIET="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "disa_bench", "propose", "--n-prompts", "512", "--k", "8", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                         # a terminal's Ctrl-C: a suite started as a background job inherits SIGINT ignored, and Python
                         # then never installs its KeyboardInterrupt handler in the child
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out.is_dir() and any(x.name.startswith(".staging-") for x in out.iterdir())):
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    # inside the work: torch is loaded (a SIGINT during the first imports can land in library import code) and
    # a moment later the models load and sampling starts
    maps = Path(f"/proc/{p.pid}/maps")
    while not (maps.exists() and "libtorch_cpu" in maps.read_text()):
        assert p.poll() is None and time.time() < deadline, p.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    lines = [x for x in err.splitlines() if x.strip()]
    # 130 from sys.exit, or death by SIGINT after the message (a KeyboardInterrupt re-raised while a library's
    # threads shut down): the shell reports both as status 130
    assert p.returncode in (130, -signal.SIGINT), (p.returncode, err)
    assert len(lines) == 1 and lines[0].startswith("error: interrupted (SIGINT)") and "propose" in lines[0], err
    assert not out.exists()


def test_sigint_wrapped_by_library_code_is_still_an_interrupt():
    """A Ctrl-C that lands while a class is created (Python 3.11 wraps an exception from ``__set_name__`` in a
    RuntimeError, as when it hits ``import huggingface_hub``) is reported as the interrupt, exit 130, one line; a
    plain RuntimeError is not."""
    import typer
    from typer.testing import CliRunner

    from disa_bench.cli.app import OneLineErrors

    class Field:
        def __set_name__(self, owner, name):
            raise KeyboardInterrupt

    demo = typer.Typer(cls=OneLineErrors)

    @demo.command()
    def boom():
        type("Endpoint", (), {"name": Field()})

    @demo.command()
    def plain():
        raise RuntimeError("not an interrupt")

    r = CliRunner().invoke(demo, ["boom"])
    assert r.exit_code == 130, (r.exit_code, r.output, r.exception)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted (SIGINT) during") and "boom" in lines[0], lines
    r = CliRunner().invoke(demo, ["plain"])
    assert r.exit_code == 1 and isinstance(r.exception, RuntimeError)


def test_stale_staging_dirs_are_cleaned_on_the_next_run(tmp_path):
    """A SIGKILLed run leaves OUT/.staging-PID-*; the next command into OUT removes those of dead processes (and
    pid-less ones of earlier versions) and keeps a live process's."""
    out = tmp_path / "g"
    dead = out / ".staging-999999999-abc"  # above any pid_max: never a live process
    old = out / ".staging-k2j3h4g5"
    live = out / f".staging-{os.getpid()}-live"
    for d in (dead, old, live):
        d.mkdir(parents=True)
        (d / "metrics.jsonl").write_text('{"step": 1}\n')
    (tmp_path / "r.jsonl").write_text(GOOD_RESPONSES.replace("countdown/1", "countdown/123-6"))
    r = run_cli("grade", "--task", "countdown", "--split", "train", "--responses", tmp_path / "r.jsonl", "--out", out)
    if r.exit_code != 0:  # the id may not be in the split: any valid prompt id of the task will do
        from disa_bench.tasks import get_task

        pid = get_task("countdown").problems("test", 1)[0].prompt_id
        (tmp_path / "r.jsonl").write_text(GOOD_RESPONSES.replace("countdown/1", pid))
        r = run_cli("grade", "--task", "countdown", "--responses", tmp_path / "r.jsonl", "--out", out)
    assert r.exit_code == 0, r.output
    assert not dead.exists() and not old.exists() and live.exists()
    assert (out / "results.json").is_file()


def test_reused_anchor_dir_holds_only_the_new_runs_files(tmp_path, fx, one_thread):
    out = tmp_path / "a"
    assert run_cli("anchor", "--store", fx["store"], "--out", out).exit_code == 0
    assert {p.name for p in out.glob("*.png")} >= {"ess_frac_hist.png", "log_z_hist.png"}
    r = run_cli("anchor", "--store", fx["store"], "--no-plots", "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["anchor.parquet", "manifest.json", "summary.json"]


def test_staged_outputs_replaces_only_a_previous_output_of_the_same_command(tmp_path):
    from disa_bench.io import staged_outputs
    from disa_bench.manifest import Manifest

    def write(out, command, names, replace=True):
        with staged_outputs(out, replace=replace) as tmp:
            for n in names:
                (tmp / n).write_text(n)
            Manifest(command, {}, 0).write(tmp)

    write(tmp_path / "x", "eval", ["a", "b"])
    (tmp_path / "x" / ".hidden").write_text("kept")
    write(tmp_path / "x", "eval", ["a"])
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [".hidden", "a", "manifest.json"]
    write(tmp_path / "y", "grade", ["a", "b"])
    write(tmp_path / "y", "eval", ["a"])  # another command's dir: merged, nothing removed
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == ["a", "b", "manifest.json"]
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "mine.txt").write_text("a user's file")
    write(tmp_path / "z", "eval", ["a"])  # no previous manifest: nothing removed
    assert (tmp_path / "z" / "mine.txt").exists()


def test_failed_stage_removes_the_out_dirs_it_created(tmp_path):
    from disa_bench.errors import UserError
    from disa_bench.io import staged_outputs

    with pytest.raises(UserError):
        with staged_outputs(tmp_path / "a" / "b" / "c"):
            raise UserError("boom")
    assert list(tmp_path.iterdir()) == []


def test_judge_endpoint_answering_200_with_a_body_that_is_not_json(tmp_path):
    """A judge endpoint that answers 200 with HTML: every problem is recorded as missing with the reason, the
    offline measures are written, exit 0."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>gateway says hello</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    ev = tmp_path / "ev"
    ev.mkdir()
    rows = [{"prompt_id": f"p{i}", "prompt": "Use 1 2 to make 3:", "response": r, "reward": 1.0, "answer": "3"}
            for i in range(2) for r in (" 1+2=3", " 2+1=3")]
    (ev / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        r = run_cli("judge", ev, "--out", tmp_path / "j", "--judge-base-url", f"http://127.0.0.1:{httpd.server_address[1]}/v1",
                    "--judge-model", "m", "--judge-api-key-env", "DISA_BENCH_TEST_NO_KEY", "--judge-max-attempts", "1",
                    "--cache-dir", tmp_path / "cache")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    s = json.loads((tmp_path / "j" / "summary.json").read_text())
    assert s["llm"]["judged"] == 0 and s["llm"]["missing"] == 2
    assert s["offline"]["all"]["distinct_answers"] is not None
    judged = [json.loads(x) for x in (tmp_path / "j" / "judge.jsonl").read_text().splitlines()]
    assert all(j["llm"]["status"] == "missing" and j["llm"]["reason"] for j in judged)
