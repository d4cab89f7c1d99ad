"""Checkpoint, restore and interrupt handling of the training engine (``engine.Trainer`` mixes this in).

``checkpoint.py`` owns the on-disk format (``OUT/checkpoints/step-N``: weights, optimizer and scheduler, every RNG
stream per process, data order, counts, metrics, the method's own state); this module moves a live trainer's state
into and out of it, turns SIGINT/SIGTERM into a saved checkpoint and exit 130/143, and holds the kill hook the
resume tests use (``DISA_BENCH_KILL_AT_STEP``). See docs/resume.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


class ResumeMixin:
    """The trainer's checkpoint methods; they read the attributes ``Trainer.setup`` creates."""

    def _rank_state(self, order, history) -> dict:
        from . import checkpoint

        return {"rng": checkpoint.rng_state(self.rng), "order": [p.prompt_id for p in order],
                "counts": dict(self.counts), "timings": dict(self.timings), "history": history,
                "sync_step": self.online._sync_step if self.online is not None else 0}

    def _checkpoint(self, step: int, order, history, elapsed: float) -> None:
        """Write ``ckpt_root/step-N`` (main process; every process's own state gathered to it)."""
        from . import checkpoint

        mine = self._rank_state(order, history)
        ranks = [mine]
        if self.world > 1:
            import torch.distributed as dist

            ranks = [None] * self.world if self.is_main else None
            dist.gather_object(mine, ranks, dst=0)
        if self.is_main:
            from safetensors.torch import save_file

            state = {"step": step, "config_key": self.ckpt_key, "world": self.world, "elapsed": elapsed,
                     "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "ranks": ranks}
            weights = {n: p.detach().cpu().contiguous() for n, p in self._policy_unwrapped().named_parameters()
                       if p.requires_grad}
            method_state = self.method.state_dict()

            def fill(d: Path):
                import torch

                save_file(weights, str(d / checkpoint.WEIGHTS))
                if method_state:
                    save_file({k: v.cpu() for k, v in method_state.items()}, str(d / self._method_state_file()))
                torch.save(state, d / checkpoint.STATE)
                with open(d / "metrics.jsonl", "w") as f:
                    for rec in history:
                        f.write(json.dumps(rec) + "\n")

            checkpoint.write(self.ckpt_root, step, fill, self.cfg.keep_checkpoints)
        if self.world > 1:
            self.accel.wait_for_everyone()  # no process runs ahead of a checkpoint being written

    def _restore(self, d: Path):
        """Load checkpoint ``d`` into the set-up trainer; returns (step, order, history, elapsed seconds)."""
        from safetensors.torch import load_file

        from . import checkpoint

        state = checkpoint.read_state(d)
        if state["world"] != self.world:
            raise UserError(f"{d}: written by {state['world']} process(es), this run has {self.world}; "
                            f"resume with the same number of processes")
        weights = load_file(str(d / checkpoint.WEIGHTS))
        params = {n: p for n, p in self._policy_unwrapped().named_parameters() if p.requires_grad}
        if set(weights) != set(params):
            raise UserError(f"{d}: its weights do not match this model's trainable parameters")
        import torch

        with torch.no_grad():
            for n, p in params.items():
                p.copy_(weights[n])
        mfile = d / self._method_state_file()
        if mfile.exists():
            self.method.load_state_dict({k: v.to(self.accel.device) for k, v in load_file(str(mfile)).items()})
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        mine = state["ranks"][self.rank]
        checkpoint.set_rng_state(mine["rng"], self.rng)
        by_id = {p.prompt_id: p for p in self.problems}
        order = [by_id[pid] for pid in mine["order"]]
        self.counts.update(mine["counts"])
        self.timings.update(mine["timings"])
        if self.online is not None:
            self.online._sync_step = mine["sync_step"]
        return int(state["step"]), order, list(mine["history"]), float(state["elapsed"])

    def _method_state_file(self) -> str:
        return self.method.state_file or f"{self.cfg.method}_params.safetensors"

    def _maybe_kill(self, step: int, where: str) -> None:
        """Test hook: DISA_BENCH_KILL_AT_STEP=N SIGKILLs the process right after step N (after its checkpoint, if
        one is due); N:mid in the middle of step N (after its first optimizer step)."""
        if self._kill == (step, where):
            import os
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


class Interrupted(Exception):
    """SIGINT / SIGTERM stopped training after ``step`` of ``steps``; ``checkpoint`` holds that state (or None)."""

    def __init__(self, signum: int, step: int, steps: int, checkpoint):
        import signal

        self.signum, self.step, self.steps, self.checkpoint = signum, step, steps, checkpoint
        self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM
        super().__init__(f"{signal.Signals(signum).name} after step {step} of {steps}")


class _Signals:
    """Within the loop, SIGINT / SIGTERM only set a flag (a second one acts at once, as by default); processes
    agree on it at each step's end, so every DDP rank stops after the same step. Outside the main thread: no-op."""

    def __init__(self):
        self.signum = 0
        self._old = {}

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        import signal

        self.signum = signum
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))  # a second signal acts at once

    def agreed(self, tr) -> int:
        """The signal every process saw by now (max over ranks under DDP), 0 for none."""
        if tr.world == 1:
            return self.signum
        import torch
        import torch.distributed as dist

        t = torch.tensor([self.signum], device=tr.accel.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def __exit__(self, *a):
        import signal

        for s, h in self._old.items():
            signal.signal(s, h)
        return False


def _kill_hook():
    """DISA_BENCH_KILL_AT_STEP=N or N:mid (a test hook, see ``Trainer._maybe_kill``) -> (N, "end" | "mid")."""
    import os

    v = os.environ.get("DISA_BENCH_KILL_AT_STEP", "").strip()
    if not v:
        return None
    n, _, where = v.partition(":")
    try:
        return int(n), where or "end"
    except ValueError:
        raise UserError(f"DISA_BENCH_KILL_AT_STEP must be N or N:mid, got {v!r}") from None
