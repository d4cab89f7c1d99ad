"""Run ``disa-bench`` commands in real child processes that start fast: a multiprocessing fork server imports
torch, transformers and disa_bench once, and each command runs in a fresh process forked from it (a real OS
process: SIGKILL, SIGTERM and exit codes are real). Kill-and-resume tests need a separate process per run, and
a cold ``python -m disa_bench`` spends seconds on imports before any work.

``ForkedCLI.start(args, env, log)`` returns the ``multiprocessing.Process`` (``.pid``, ``.join()``,
``.exitcode``: the command's exit status, or ``-9`` after SIGKILL); ``run`` waits for it. The child's stdout and
stderr go to ``log``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys


WARM = ("accelerate", "peft", "pyarrow.dataset", "pyarrow.parquet", "safetensors.torch",
        "transformers.models.llama.modeling_llama", "disa_bench.cli", "disa_bench.anchor.estimators",
        "disa_bench.rollout.graded", "disa_bench.rollout.hf", "disa_bench.rollout.merged", "disa_bench.rollout.scoring",
        "disa_bench.store.schema", "disa_bench.train.engine", "disa_bench.train.checkpoint")


def _warm() -> None:
    """Imports every run pays for (executed once, in the fork server)."""
    import importlib

    import torch

    torch.set_num_threads(1)
    for name in WARM:
        importlib.import_module(name)
    from disa_bench.methods import method_names
    from disa_bench.tasks import get_task

    method_names()
    get_task("countdown")


if os.environ.get("DISA_BENCH_FORK_SERVER") == "1":
    _warm()


def _apply(env: dict) -> None:
    """Set each variable, or unset it where the value is None."""
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _child(args: list[str], env: dict, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    _apply(env)
    sys.argv = ["disa-bench", *args]
    import torch

    torch.set_num_threads(1)
    from disa_bench.cli import app

    app([str(a) for a in args], prog_name="disa-bench")


class ForkedCLI:
    def __init__(self):
        import multiprocessing.forkserver

        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload([__name__])
        # The server imports this module by name, and so warms up. Python < 3.13 does not hand the server our
        # sys.path, so this module's directory goes in through PYTHONPATH, for the server's start only.
        saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "DISA_BENCH_FORK_SERVER")}
        here = os.path.dirname(os.path.abspath(__file__))
        os.environ["PYTHONPATH"] = os.pathsep.join(x for x in (here, saved["PYTHONPATH"]) if x)
        os.environ["DISA_BENCH_FORK_SERVER"] = "1"
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            _apply(saved)
        self.saved = saved  # what each child resets them to

    def start(self, args, env=None, log=os.devnull):
        env = {**self.saved, **(env or {})}
        p = self.ctx.Process(target=_child, args=([str(a) for a in args], env, str(log)))
        p.start()
        return p

    def run(self, args, env=None, log=os.devnull, timeout=600) -> int:
        p = self.start(args, env, log)
        p.join(timeout)
        if p.exitcode is None:
            p.kill()
            p.join()
            raise TimeoutError(f"disa-bench {' '.join(map(str, args))} did not finish in {timeout} s")
        return p.exitcode
