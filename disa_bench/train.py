"""The one training engine shared by every method.

It owns batching, online rollouts or the offline store, log-prob computation (policy with grad; pi_old and
pi_ref without), the optimizer, LoRA, accelerate, checkpoints and logging. Methods own only their loss.

Online (default): each step samples ``prompts_per_step`` prompts, draws ``n`` rollouts per prompt from the
current policy (pi_old), grades them, then takes ``mini_batches`` optimizer steps over that rollout batch.
Offline: each step takes ``prompts_per_step`` prompts of the store and up to ``n`` stored trajectories per
prompt; pi_old is the stored behaviour distribution (``behavior_logprobs``).

The training prompt set is the store's prompts, so every method trains on the same prompts.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError


@dataclass
class TrainConfig:
    method: str = "disa"
    task: str = "countdown"
    model: str = "embedded:base"  # pi_ref = the initial policy
    store: str | None = None  # trajectory store (defines the training prompts; offline data)
    anchor: str | None = None  # anchor.parquet (DISA)
    data: str = "online"  # "online" | "offline"
    steps: int = 100
    prompts_per_step: int = 16
    n: int = 8  # rollouts per prompt (methods.md §6 #8)
    mini_batches: int = 1  # optimizer steps per rollout batch
    temperature: float = 1.0  # rollout temperature (methods.md §1.8)
    top_p: float = 1.0
    max_new_tokens: int | None = None
    lr: float = 5e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # verl default (methods.md §1.10)
    warmup_steps: int = 0
    full: bool = False  # full fine-tuning instead of LoRA
    lora_r: int = 32  # methods.md §6 #10
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    seed: int = 0
    log_every: int = 1
    save_every: int = 0
    method_args: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.data not in ("online", "offline"):
            raise UserError(f"--data must be 'online' or 'offline', got {self.data!r}")
        for name in ("steps", "prompts_per_step", "n", "mini_batches"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if (self.prompts_per_step * self.n) % self.mini_batches:
            raise UserError(f"--mini-batches {self.mini_batches} does not divide the rollout batch "
                            f"({self.prompts_per_step} prompts x {self.n} = {self.prompts_per_step * self.n} sequences)")
        if not self.lr > 0:
            raise UserError(f"--lr must be > 0, got {self.lr}")


def _method_config(method_cls, args: dict):
    import dataclasses

    names = {f.name for f in dataclasses.fields(method_cls.Config)}
    unknown = sorted(set(args) - names)
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)} for method {method_cls.name!r}; valid: {', '.join(sorted(names))}")
    return method_cls.Config(**args)


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: Path, bar=None, log=None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.bar = bar
        self.log = log or (lambda s: None)
        self.timings = {"generate": 0.0, "score": 0.0, "update": 0.0}
        self.counts = {"tokens_generated": 0, "tokens_forward": 0, "tokens_backward": 0, "sequences": 0}

    # ------------------------------------------------------------------ setup
    def setup(self):
        import torch
        from accelerate import Accelerator

        from .methods import get_method
        from .models import add_lora, load_model
        from .store import read_store
        from .tasks import get_task

        cfg = self.cfg
        cfg.check()
        method_cls = get_method(cfg.method)
        self.method = method_cls(_method_config(method_cls, cfg.method_args))
        if cfg.data == "offline" and not method_cls.supports_offline:
            raise UserError(f"method {cfg.method!r} does not support --data offline")
        self.task = get_task(cfg.task)
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
        if cfg.store is None:
            raise UserError("--store is required: the trajectory store defines the training prompts (make one with 'disa-bench propose')")
        self.table = read_store(cfg.store)
        self._index_store()
        self.anchor = None
        if "anchor" in method_cls.needs:
            self._load_anchor()
        loaded = load_model(cfg.model)
        self.tok = loaded.tokenizer
        model = loaded.model
        if cfg.full:
            import copy

            self.ref_model = copy.deepcopy(model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        else:
            model = add_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)
            self.ref_model = None  # the base under disabled adapters
        model.train()
        self.method.setup(model, model.config.hidden_size)
        params = [p for p in model.parameters() if p.requires_grad] + list(self.method.parameters())
        self.n_trainable = sum(p.numel() for p in params)
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
        self.accel = Accelerator(cpu=not torch.cuda.is_available())
        self.model, self.opt, self.sched = self.accel.prepare(model, opt, sched)
        self.max_new = cfg.max_new_tokens or self.task.max_new_tokens

    def _index_store(self):
        t = self.table
        tasks = set(t.column("task").to_pylist())
        if tasks != {self.task.name}:
            raise UserError(f"{self.cfg.store}: store holds task(s) {sorted(tasks)}, but --task is {self.task.name!r}")
        pids = t.column("prompt_id").to_pylist()
        self.rows_by_prompt: dict[str, list[int]] = {}
        for i, p in enumerate(pids):
            self.rows_by_prompt.setdefault(p, []).append(i)
        by_id = {p.prompt_id: p for p in self.task.problems("train")}
        missing = [p for p in self.rows_by_prompt if p not in by_id]
        if missing:
            raise UserError(f"{self.cfg.store}: prompt_id {missing[0]!r} is not a train problem of task {self.task.name!r}")
        self.problems = [by_id[p] for p in self.rows_by_prompt]

    def _load_anchor(self):
        from .anchor import read_anchor

        cfg = self.cfg
        if cfg.anchor is None:
            raise UserError(f"method {cfg.method!r} needs --anchor (an anchor.parquet from 'disa-bench anchor')")
        self.anchor = read_anchor(cfg.anchor)
        first = next(iter(self.anchor.values()))
        mc = self.method.cfg
        if hasattr(mc, "beta") and abs(first["beta"] - mc.beta) > 1e-9:
            raise UserError(f"{cfg.anchor}: anchor beta={first['beta']} but the method uses beta={mc.beta}; re-anchor or pass the same --beta")
        if hasattr(mc, "units") and first["units"] != mc.units:
            raise UserError(f"{cfg.anchor}: anchor units={first['units']!r} but the method uses units={mc.units!r}")
        missing = [p.prompt_id for p in self.problems if p.prompt_id not in self.anchor]
        if missing:
            raise UserError(f"{cfg.anchor}: no log Z for prompt {missing[0]!r} of the store ({len(missing)} missing)")

    # ------------------------------------------------------------------ data
    def _policy_unwrapped(self):
        return self.accel.unwrap_model(self.model)

    def _rollout_batch(self, problems):
        """Online: fresh rollouts from the current policy. Returns a list of sequence dicts."""
        from .rollout import get_backend
        from .rollouts import sample_and_grade
        from .types import SamplingParams

        cfg = self.cfg
        t0 = time.time()
        params = SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=self.max_new,
                                seed=self.rng.randrange(2**31))
        backend = get_backend("hf", self._policy_unwrapped(), self.tok, batch_size=len(problems))
        graded = sample_and_grade(backend, self.task, problems, params)
        self.timings["generate"] += time.time() - t0
        seqs = []
        for gi, group in enumerate(graded):
            for g in group:
                seqs.append({"problem": g.problem, "group": gi, "ids": g.completion.token_ids,
                             "reward": g.grade.reward, "behavior": None, "strategy": g.grade.strategy})
                self.counts["tokens_generated"] += g.completion.num_tokens
        return seqs

    def _offline_batch(self, problems):
        t = self.table
        seqs = []
        for gi, p in enumerate(problems):
            rows = self.rows_by_prompt[p.prompt_id]
            take = rows if len(rows) <= self.cfg.n else self.rng.sample(rows, self.cfg.n)
            for i in take:
                seqs.append({"problem": p, "group": gi, "ids": t.column("completion_ids")[i].as_py(),
                             "reward": t.column("reward")[i].as_py(),
                             "behavior": t.column("behavior_logprobs")[i].as_py(),
                             "strategy": None})
        return seqs

    def _tensors(self, seqs):
        """Prompt ids, completion ids and the no-grad inputs the method declared (old / ref / anchor)."""
        import torch

        from .rollout.scoring import token_logprobs

        needs = self.method.needs
        prompt_ids = [self.tok(s["problem"].prompt)["input_ids"] for s in seqs]
        comp_ids = [s["ids"] for s in seqs]
        pad = self.tok.pad_token_id
        t0 = time.time()
        extra = {}
        model = self._policy_unwrapped()
        with torch.no_grad():
            model.eval()
            if "old" in needs:
                if self.cfg.data == "offline":
                    tc = max(len(c) for c in comp_ids)
                    extra["old_logp"] = torch.tensor([s["behavior"] + [0.0] * (tc - len(s["behavior"])) for s in seqs])
                else:
                    extra["old_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                    self.counts["tokens_forward"] += sum(map(len, comp_ids))
            if "ref" in needs:
                if self.ref_model is not None:
                    extra["ref_logp"], _ = token_logprobs(self.ref_model, prompt_ids, comp_ids, 1.0, pad)
                else:
                    with model.disable_adapter():
                        extra["ref_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                self.counts["tokens_forward"] += sum(map(len, comp_ids))
            model.train()
        if "anchor" in needs:
            extra["log_z"] = torch.tensor([self.anchor[s["problem"].prompt_id]["log_z"] for s in seqs], dtype=torch.float32)
        self.timings["score"] += time.time() - t0
        return prompt_ids, comp_ids, extra

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        import torch

        from .methods import Batch
        from .rollout.scoring import token_logprobs

        cfg = self.cfg
        self.setup()
        self.out.mkdir(parents=True, exist_ok=True)
        metrics_f = open(self.out / "metrics.jsonl", "w")
        order: list = []
        history = []
        t_start = time.time()
        ctx = self.bar(f"train {cfg.method} ({cfg.data})", cfg.steps) if self.bar else _null()
        with ctx as adv:
            for step in range(cfg.steps):
                if len(order) < cfg.prompts_per_step:
                    order = order + self.rng.sample(self.problems, len(self.problems))
                problems, order = order[: cfg.prompts_per_step], order[cfg.prompts_per_step:]
                seqs = self._offline_batch(problems) if cfg.data == "offline" else self._rollout_batch(problems)
                prompt_ids, comp_ids, extra = self._tensors(seqs)
                reward = torch.tensor([s["reward"] for s in seqs], dtype=torch.float32)
                group = torch.tensor([s["group"] for s in seqs])
                perm = list(range(len(seqs)))
                if cfg.mini_batches > 1:
                    self.rng.shuffle(perm)
                mb = len(seqs) // cfg.mini_batches
                t0 = time.time()
                step_metrics: dict = {}
                for m in range(cfg.mini_batches):
                    idx = perm[m * mb : (m + 1) * mb] if cfg.mini_batches > 1 else perm
                    want_hidden = "hidden" in self.method.needs
                    res = token_logprobs(self.model, [prompt_ids[i] for i in idx], [comp_ids[i] for i in idx], 1.0,
                                         self.tok.pad_token_id, return_hidden=want_hidden)
                    logp, mask = res[0], res[1]
                    sel = torch.tensor(idx)
                    batch = Batch(logp=logp, mask=mask, reward=reward[sel], group=group[sel],
                                  old_logp=_pad_to(extra.get("old_logp"), sel, logp.shape[1]),
                                  ref_logp=_pad_to(extra.get("ref_logp"), sel, logp.shape[1]),
                                  log_z=extra["log_z"][sel] if "log_z" in extra else None,
                                  prompt_hidden=res[2] if want_hidden else None,
                                  extra={"offline": cfg.data == "offline", "minibatch": m})
                    loss, mm = self.method.loss(batch)
                    if not torch.isfinite(loss):
                        raise RuntimeError(f"non-finite loss at step {step} (method {cfg.method}): {loss.item()}")
                    self.opt.zero_grad()
                    self.accel.backward(loss)
                    if cfg.grad_clip:
                        self.accel.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], cfg.grad_clip)
                    self.opt.step()
                    ntok = int(mask.sum())
                    self.counts["tokens_forward"] += ntok
                    self.counts["tokens_backward"] += ntok
                    step_metrics.setdefault("loss", []).append(loss.item())
                    for k, v in mm.items():
                        step_metrics.setdefault(k, []).append(v)
                self.sched.step()
                self.timings["update"] += time.time() - t0
                self.counts["sequences"] += len(seqs)
                rec = {"step": step + 1, **{k: float(np.nanmean(v)) if not all(math.isnan(x) for x in v) else None
                                           for k, v in step_metrics.items()}}
                rec["reward"] = float(reward.mean())
                rec["response_length"] = float(np.mean([len(c) for c in comp_ids]))
                if "ref_logp" in extra and "old_logp" in extra and cfg.data == "online":
                    # mean per-token log(pi_theta / pi_ref) on the policy's own samples: a KL(pi_theta || pi_ref) estimate
                    m_ = torch.zeros_like(extra["ref_logp"])
                    for i, c in enumerate(comp_ids):
                        m_[i, : len(c)] = 1
                    rec["kl_ref"] = float(((extra["old_logp"] - extra["ref_logp"]) * m_).sum() / m_.sum())
                rec["wall"] = round(time.time() - t_start, 3)
                history.append(rec)
                metrics_f.write(json.dumps(rec) + "\n")
                metrics_f.flush()
                if cfg.save_every and (step + 1) % cfg.save_every == 0:
                    self.save(self.out / f"checkpoint-{step + 1}")
                adv(1)
        metrics_f.close()
        self.save(self.out / "adapter")
        return self.summary(history, time.time() - t_start)

    def save(self, d: Path):
        from .io import atomic_dir

        with atomic_dir(d) as tmp:
            self._policy_unwrapped().save_pretrained(tmp)
            self.tok.save_pretrained(tmp)

    def summary(self, history, wall) -> dict:
        import torch

        peak = None
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KiB)
        except Exception:
            pass
        if torch.cuda.is_available():
            peak = torch.cuda.max_memory_allocated() / 2**20
        first = history[: max(1, len(history) // 10)]
        last = history[-max(1, len(history) // 10):]
        return {
            "method": self.cfg.method,
            "data": self.cfg.data,
            "steps": len(history),
            "trainable_parameters": self.n_trainable,
            "reward_first": float(np.mean([h["reward"] for h in first])),
            "reward_last": float(np.mean([h["reward"] for h in last])),
            "loss_last": last[-1].get("loss"),
            "compute": {**self.counts, "wall_seconds": round(wall, 2),
                        "phase_seconds": {k: round(v, 2) for k, v in self.timings.items()},
                        "peak_memory_mb": round(peak, 1) if peak else None},
            "fairness": {k: getattr(self.cfg, k) for k in ("model", "store", "steps", "prompts_per_step", "n",
                                                           "mini_batches", "lr", "lora_r", "lora_alpha", "full", "seed",
                                                           "temperature", "data")},
            "method_config": asdict(self.method.cfg),
        }


def _pad_to(x, sel, width):
    if x is None:
        return None
    import torch

    x = x[sel]
    if x.shape[1] < width:
        x = torch.nn.functional.pad(x, (0, width - x.shape[1]))
    return x[:, :width]


class _null:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *a):
        return False
