"""The one training engine shared by every method.

It owns batching, online rollouts or the offline store, log-prob computation (policy with grad; pi_old and
pi_ref without), the optimizer, LoRA, accelerate, checkpoints and logging. Methods own only their loss.

Online (default): each step samples ``prompts_per_step`` prompts, draws ``n`` rollouts per prompt from the
current policy (pi_old), grades them, then takes ``mini_batches`` optimizer steps over that rollout batch.
Offline: each step takes ``prompts_per_step`` prompts of the store and up to ``n`` stored trajectories per
prompt; pi_old is the stored behaviour distribution (``behavior_logprobs``). Methods that never sample
(``uses_rollouts = False``: LoRA-SFT) get store batches in both modes; the summary records the effective
``data_source``. ``mini_batches`` defaults to the method's ``default_mini_batches`` (1; GSPO 4).

The training prompt set is the store's prompts, so every method trains on the same prompts.

Rollout backend (``backend``): ``hf`` samples with the policy (under LoRA: a copy with the live adapter merged
in, ``rollout/merged.py``); ``vllm`` samples with a vLLM engine on
the base model plus the current LoRA: before each rollout batch the policy's adapter is saved
(``save_pretrained`` of the unwrapped peft model) to ``OUT/vllm_lora/step-N`` and served through a fresh
``LoRARequest`` (``VLLMBackend.set_adapter``). So vllm needs LoRA (not ``--full``) and one process.

Distributed (``accelerate launch``, DDP): every rank samples its own prompts and rollouts (rng seeded with
seed + rank), DDP averages the policy gradients, method-owned parameters (FlowRL's log Z head) are
broadcast at start and their gradients all-reduced; only the main process writes files. The per-rank
batch is ``prompts_per_step x n``; the global batch is that times the number of processes.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import UserError
from .config import TrainConfig, _method_config


class Trainer:
    def __init__(self, cfg: TrainConfig, out_dir: Path, bar=None, log=None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.bar = bar
        self.log = log or (lambda s: None)
        self.timings = {"generate": 0.0, "data": 0.0, "score": 0.0, "update": 0.0}
        # tokens_forward / tokens_backward count prompt + completion tokens through the model (no-grad scoring
        # passes for pi_old / pi_ref included in tokens_forward); generation is counted in tokens_generated.
        self.counts = {"tokens_generated": 0, "tokens_forward": 0, "tokens_forward_nograd": 0, "tokens_backward": 0,
                       "sequences": 0, "optimizer_steps": 0}
        self._merged = None  # MergedPolicy: the hf rollout copy of a LoRA policy, made on first use
        self._engine = None  # vllm backend, opened on first use
        self._sync_step = 0  # LoRA syncs into the vllm engine so far

    # ------------------------------------------------------------------ setup
    def setup(self):
        import torch
        from accelerate import Accelerator

        from ..methods import get_method
        from ..models import add_lora, load_model
        from ..store.schema import read_store
        from ..tasks import get_task

        cfg = self.cfg
        cfg.check()
        method_cls = get_method(cfg.method)
        self.method = method_cls(_method_config(method_cls, cfg.method_args))
        self.needs = frozenset(self.method.needs)  # an instance may narrow it (GRPO without KL needs no pi_ref)
        if cfg.data == "offline" and not method_cls.supports_offline:
            raise UserError(f"method {cfg.method!r} does not support --data offline")
        self.use_store = cfg.data == "offline" or not method_cls.uses_rollouts
        self.task = get_task(cfg.task)
        self.accel = Accelerator(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.accel.process_index, self.accel.num_processes
        cfg.check_backend(self.world)
        self.is_main = self.accel.is_main_process
        torch.manual_seed(cfg.seed)  # same init on every rank
        self.rng = random.Random(cfg.seed + 1_000_003 * self.rank)  # different prompts / rollouts per rank
        if cfg.store is None:
            raise UserError("--store is required: the trajectory store defines the training prompts (make one with 'disa-bench propose')")
        self.table = read_store(cfg.store)
        self._index_store()
        self.data_source = "online"
        if not method_cls.uses_rollouts:
            self._select_sft_rows()
        elif cfg.data == "offline":
            self.data_source = "store"
            if "old" in self.needs:
                self._check_behavior()
        self.anchor = None
        if "anchor" in self.needs:
            self._load_anchor()
        if cfg.data == "online" and method_cls.uses_rollouts and cfg.mini_batches == 1 \
                and getattr(method_cls, "default_mini_batches", 1) > 1 and self.is_main:
            from ..progress import console

            console.print(f"[yellow]warning:[/] {cfg.method} with --mini-batches 1 is on-policy: the ratio to pi_old is "
                          f"identically 1 and clipping never acts (default {method_cls.default_mini_batches})",
                          soft_wrap=True)
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
        model.to(self.accel.device)
        if self.ref_model is not None:
            self.ref_model.to(self.accel.device)
        self.method.setup(model, model.config.hidden_size)
        self.method_params = list(self.method.parameters())
        if self.world > 1 and self.method_params:
            import torch.distributed as dist

            for p in self.method_params:
                dist.broadcast(p.data, src=0)
        params = [p for p in model.parameters() if p.requires_grad] + self.method_params
        self.n_trainable = sum(p.numel() for p in params)
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        # the scheduler is stepped by hand once per rollout batch (accelerate's wrapper would step it once per process)
        self.sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
        self.model, self.opt = self.accel.prepare(model, opt)
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

    def _select_sft_rows(self):
        """LoRA-SFT trains on store trajectories only: correct ones (reward > 0) by default, or all of them."""
        which = self.method.cfg.sft_data
        if which == "correct":
            rew = self.table.column("reward").to_pylist()
            rows = {p: [i for i in r if rew[i] > 0] for p, r in self.rows_by_prompt.items()}
            rows = {p: r for p, r in rows.items() if r}
            if not rows:
                raise UserError(f"{self.cfg.store}: the store has no correct trajectory (reward > 0) for sft_data: correct; "
                                f"use a stronger proposal or --sft-data all")
            self.rows_by_prompt = rows
            self.problems = [p for p in self.problems if p.prompt_id in rows]
        self.data_source = f"store:{which}"

    def _check_behavior(self):
        """Offline ratios need the stored behaviour log-probs of every trajectory."""
        col = self.table.column("behavior_logprobs").to_pylist()
        ids = self.table.column("completion_ids").to_pylist()
        for i, (b, c) in enumerate(zip(col, ids)):
            if b is None or len(b) == 0 or len(b) != len(c):
                raise UserError(f"{self.cfg.store}: row {i} has no behavior_logprobs (got {0 if b is None else len(b)} for "
                                f"{len(c)} tokens); --data offline needs the behaviour log-probs of every trajectory")

    def _load_anchor(self):
        from ..anchor.estimators import read_anchor

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
        from ..rollout import get_backend
        from ..rollout.graded import sample_and_grade
        from ..types import SamplingParams

        cfg = self.cfg
        # vllm: the LoRA sync is timed as weight_sync, not generate
        backend = self._sync_engine() if cfg.backend != "hf" else None
        t0 = time.time()
        params = SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=self.max_new,
                                seed=self.rng.randrange(2**31))
        if backend is None:
            backend = get_backend("hf", self._sampling_model(), self.tok, batch_size=len(problems))
        graded = sample_and_grade(backend, self.task, problems, params)
        self._drop_stale_adapters()
        self.timings["generate"] += time.time() - t0
        seqs = []
        for gi, group in enumerate(graded):
            for g in group:
                seqs.append({"problem": g.problem, "group": gi, "ids": g.completion.token_ids,
                             "reward": g.grade.reward, "behavior": None, "strategy": g.grade.strategy})
                self.counts["tokens_generated"] += g.completion.num_tokens
        return seqs

    def _sync_engine(self):
        """vllm: save the current LoRA to OUT/vllm_lora/step-N and point the engine at it (opened on first use)."""
        from ..rollout import open_backend

        t0 = time.time()
        self._sync_step += 1
        d = self.out / "vllm_lora" / f"step-{self._sync_step}"
        self._policy_unwrapped().save_pretrained(d)
        if self._engine is None:
            import torch

            kw = {"gpu_memory_utilization": 0.3} if torch.cuda.is_available() else {}  # the trainer shares the GPU
            self._engine = open_backend(self.cfg.backend, self.cfg.model, adapter=str(d), max_lora_rank=self.cfg.lora_r,
                                        **kw)
        else:
            self._engine.set_adapter(d)
        self.timings["weight_sync"] = self.timings.get("weight_sync", 0.0) + time.time() - t0
        return self._engine

    def _drop_stale_adapters(self):
        """Keep only the adapter the engine served last (earlier ones are already loaded or never used again)."""
        if self.cfg.backend == "hf":
            return
        import shutil

        for d in (self.out / "vllm_lora").glob("step-*"):
            if d.name != f"step-{self._sync_step}":
                shutil.rmtree(d, ignore_errors=True)

    def _offline_batch(self, problems):
        t0 = time.time()
        seqs = self._store_rows(problems)
        self.timings["data"] += time.time() - t0  # store reads (no sampling)
        return seqs

    def _store_rows(self, problems):
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

    def _sampling_model(self):
        """What HF rollouts are drawn from: under LoRA a plain copy of the policy with the live adapter merged
        in (rollout/merged.py; refreshed before every rollout batch, the policy itself untouched), which
        samples faster than the PeftModel; with --full the policy itself."""
        if self.cfg.full:
            return self._policy_unwrapped()
        if self._merged is None:
            from ..rollout.merged import MergedPolicy

            self._merged = MergedPolicy(self._policy_unwrapped())
        return self._merged.refresh()

    def _scorer(self):
        """Teacher-forced log-probs; single-process runs share each prompt's forward pass across its group
        (rollout.scoring.token_logprobs_shared: same values up to rounding, prompt tokens computed once per
        prompt). Under DDP every forward goes through the wrapped module once per backward, so the plain
        per-row pass is used there."""
        from ..rollout.scoring import token_logprobs, token_logprobs_shared

        return token_logprobs_shared if self.world == 1 else token_logprobs

    def _on_policy(self) -> bool:
        """Online with one optimizer step per rollout batch: pi_old = pi_theta, so log pi_old = sg(log pi_theta) and
        the separate no-grad pi_old pass is skipped (as TRL does when num_iterations = 1)."""
        return not self.use_store and self.cfg.mini_batches == 1

    def _tensors(self, seqs):
        """Prompt ids, completion ids and the no-grad inputs the method declared (old / ref / anchor)."""
        import torch

        needs = self.needs
        token_logprobs = self._scorer()
        prompt_ids = [self.tok(s["problem"].prompt)["input_ids"] for s in seqs]
        comp_ids = [s["ids"] for s in seqs]
        pad = self.tok.pad_token_id
        t0 = time.time()
        extra = {}
        model = self._policy_unwrapped()
        with torch.no_grad():
            model.eval()
            if "old" in needs and not self._on_policy():
                if self.use_store:
                    tc = max(len(c) for c in comp_ids)
                    extra["old_logp"] = torch.tensor([s["behavior"] + [0.0] * (tc - len(s["behavior"])) for s in seqs])
                else:
                    extra["old_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                    self.counts["tokens_forward_nograd"] += _ntok(prompt_ids, comp_ids)
            if "ref" in needs:
                if self.ref_model is not None:
                    extra["ref_logp"], _ = token_logprobs(self.ref_model, prompt_ids, comp_ids, 1.0, pad)
                else:
                    with model.disable_adapter():
                        extra["ref_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                self.counts["tokens_forward_nograd"] += _ntok(prompt_ids, comp_ids)
            model.train()
        if "anchor" in needs:
            extra["log_z"] = torch.tensor([self.anchor[s["problem"].prompt_id]["log_z"] for s in seqs], dtype=torch.float32)
        self.timings["score"] += time.time() - t0
        return prompt_ids, comp_ids, extra

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        import torch

        from ..methods import Batch

        cfg = self.cfg
        self.setup()
        token_logprobs = self._scorer()
        metrics_f = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            metrics_f = open(self.out / "metrics.jsonl", "w")
        order: list = []
        history = []
        t_start = time.time()
        want_hidden = "hidden" in self.needs
        ctx = self.bar(f"train {cfg.method} ({self.data_source})", cfg.steps) if (self.bar and self.is_main) else _null()
        with ctx as adv:
            for step in range(cfg.steps):
                if len(order) < cfg.prompts_per_step:
                    order = order + self.rng.sample(self.problems, len(self.problems))
                problems, order = order[: cfg.prompts_per_step], order[cfg.prompts_per_step:]
                seqs = self._offline_batch(problems) if self.use_store else self._rollout_batch(problems)
                if len(seqs) < cfg.mini_batches:
                    raise UserError(f"step {step + 1}: only {len(seqs)} trajectories for {cfg.mini_batches} mini-batches "
                                    f"(the store has too few rows for these prompts); lower --mini-batches")
                prompt_ids, comp_ids, extra = self._tensors(seqs)
                reward = torch.tensor([s["reward"] for s in seqs], dtype=torch.float32)
                group = torch.tensor([s["group"] for s in seqs])
                perm = list(range(len(seqs)))
                if cfg.mini_batches > 1:
                    self.rng.shuffle(perm)
                M = cfg.mini_batches
                # group statistics over the whole rollout batch, never over a mini-batch's partial groups
                adv_full = self.method.advantages(reward, group) if hasattr(self.method, "advantages") else None
                chunks = [perm[m * len(perm) // M : (m + 1) * len(perm) // M] for m in range(M)]
                t0 = time.time()
                step_metrics: dict = {}
                for m, idx in enumerate(chunks):
                    res = token_logprobs(self.model, [prompt_ids[i] for i in idx], [comp_ids[i] for i in idx], 1.0,
                                         self.tok.pad_token_id, return_hidden=want_hidden)
                    logp, mask = res[0], res[1]
                    sel = torch.tensor(idx)
                    dev = logp.device
                    if "old" in self.needs and self._on_policy():
                        extra["old_logp"] = logp.detach()  # the whole rollout batch, in order (M = 1)
                    batch = Batch(logp=logp, mask=mask, reward=reward[sel].to(dev), group=group[sel].to(dev),
                                  old_logp=_pad_to(extra.get("old_logp"), sel, logp.shape[1], dev),
                                  ref_logp=_pad_to(extra.get("ref_logp"), sel, logp.shape[1], dev),
                                  log_z=extra["log_z"][sel].to(dev) if "log_z" in extra else None,
                                  prompt_hidden=res[2] if want_hidden else None,
                                  extra={"offline": self.use_store, "minibatch": m, "max_new_tokens": self.max_new})
                    if adv_full is not None:
                        batch.extra["advantage"] = adv_full[sel].to(dev)
                    loss, mm = self.method.loss(batch)
                    if not torch.isfinite(loss):
                        raise RuntimeError(f"non-finite loss at step {step} (method {cfg.method}): {loss.item()}")
                    self.opt.zero_grad()
                    self.accel.backward(loss)
                    if self.world > 1 and self.method_params:
                        import torch.distributed as dist

                        for p in self.method_params:  # not inside the DDP module: average by hand
                            if p.grad is not None:
                                dist.all_reduce(p.grad)
                                p.grad /= self.world
                    if cfg.grad_clip:
                        self.accel.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], cfg.grad_clip)
                    self.opt.step()
                    ntok = _ntok([prompt_ids[i] for i in idx], [comp_ids[i] for i in idx])
                    self.counts["tokens_forward"] += ntok
                    self.counts["tokens_backward"] += ntok
                    self.counts["optimizer_steps"] += 1
                    step_metrics.setdefault("loss", []).append(loss.item())
                    for k, v in mm.items():
                        step_metrics.setdefault(k, []).append(v)
                self.sched.step()
                self.timings["update"] += time.time() - t0
                self.counts["sequences"] += len(seqs)
                rec = {"step": step + 1, **{k: _nanmean(v) for k, v in step_metrics.items()}}
                if M > 1:  # per-mini-batch values, e.g. GSPO's ratio drifting away from 1 after the first update
                    rec["per_minibatch"] = {k: [None if (isinstance(x, float) and math.isnan(x)) else x for x in v]
                                            for k, v in step_metrics.items()}
                rec["reward"] = float(reward.mean())
                rec["response_length"] = float(np.mean([len(c) for c in comp_ids]))
                if "ref_logp" in extra and "old_logp" in extra and not self.use_store:
                    # mean per-token log(pi_theta / pi_ref) on the policy's own samples: a KL(pi_theta || pi_ref) estimate
                    m_ = torch.zeros_like(extra["ref_logp"])
                    for i, c in enumerate(comp_ids):
                        m_[i, : len(c)] = 1
                    rec["kl_ref"] = float(((extra["old_logp"] - extra["ref_logp"]) * m_).sum() / m_.sum())
                rec["wall"] = round(time.time() - t_start, 3)
                history.append(rec)
                if metrics_f:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metrics_f.flush()
                if cfg.save_every and (step + 1) % cfg.save_every == 0:
                    self.save(self.out / f"checkpoint-{step + 1}")
                adv(1)
        if metrics_f:
            metrics_f.close()
        self.accel.wait_for_everyone()
        self.save(self.out / "adapter")
        return self.summary(history, time.time() - t_start)

    def save(self, d: Path):
        if not self.is_main:
            return
        from ..io import atomic_dir

        with atomic_dir(d) as tmp:
            self._policy_unwrapped().save_pretrained(tmp)
            self.tok.save_pretrained(tmp)
            if self.method_params and hasattr(self.method, "state_dict"):
                from safetensors.torch import save_file

                fname = getattr(self.method, "state_file", f"{self.cfg.method}_params.safetensors")
                save_file({k: v.cpu() for k, v in self.method.state_dict().items()}, str(tmp / fname),
                          metadata={"method": self.cfg.method})

    def params_sha256(self) -> str:
        """Hash of every trainable parameter (policy + method-owned), e.g. to check DDP ranks agree."""
        import hashlib

        h = hashlib.sha256()
        params = [p for p in self._policy_unwrapped().parameters() if p.requires_grad] + self.method_params
        for p in params:
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

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
        counts = dict(self.counts)
        counts["tokens_forward"] += counts["tokens_forward_nograd"]
        if self.world > 1:  # token counts summed over ranks; wall and phases are the main process's
            import torch.distributed as dist

            keys = sorted(counts)
            t = torch.tensor([float(counts[k]) for k in keys], device=self.accel.device)
            dist.all_reduce(t)
            counts = {k: int(v) for k, v in zip(keys, t.tolist())}
        first = history[: max(1, len(history) // 10)]
        last = history[-max(1, len(history) // 10):]
        fair = {k: getattr(self.cfg, k) for k in ("model", "store", "steps", "prompts_per_step", "n", "mini_batches", "lr",
                                                  "weight_decay", "grad_clip", "warmup_steps", "lora_r", "lora_alpha",
                                                  "lora_dropout", "full", "seed", "temperature", "top_p", "data",
                                                  "backend")}
        fair.update({"data_source": self.data_source, "max_new_tokens": self.max_new, "optimizer": "AdamW",
                     "num_processes": self.world, "global_sequences_per_step": self.cfg.prompts_per_step * self.cfg.n * self.world})
        return {
            "method": self.cfg.method,
            "data": self.cfg.data,
            "data_source": self.data_source,
            "steps": len(history),
            "trainable_parameters": self.n_trainable,
            "reward_first": float(np.mean([h["reward"] for h in first])),
            "reward_last": float(np.mean([h["reward"] for h in last])),
            "loss_last": last[-1].get("loss"),
            "params_sha256": self.params_sha256(),
            "compute": {**counts, "wall_seconds": round(wall, 2),
                        "phase_seconds": {k: round(v, 2) for k, v in self.timings.items()},
                        "peak_memory_mb": round(peak, 1) if peak else None,
                        "peak_memory_kind": "cuda_max_allocated" if torch.cuda.is_available() else "process_max_rss"},
            "fairness": fair,
            "method_config": asdict(self.method.cfg),
        }


def _ntok(prompt_ids, comp_ids) -> int:
    return sum(len(p) + len(c) for p, c in zip(prompt_ids, comp_ids))


def _nanmean(v):
    vals = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(vals)) if vals else None


def _pad_to(x, sel, width, device=None):
    if x is None:
        return None
    import torch

    x = x[sel]
    if device is not None:
        x = x.to(device)
    if x.shape[1] < width:
        x = torch.nn.functional.pad(x, (0, width - x.shape[1]))
    return x[:, :width]


class _null:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *a):
        return False
