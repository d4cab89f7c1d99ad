"""The one training engine shared by every method: setup, the loop, checkpoints.

It owns batching, log-prob computation (policy with grad; pi_old and pi_ref without), the optimizer, LoRA,
accelerate, checkpoints and logging; it calls only the hooks ``methods.base.Method`` declares and never names a
method. Its helpers: ``data.py`` (the store: training prompts, the rows a method trains on, offline batches),
``online.py`` (rollouts from the live policy, hf or vllm), ``accounting.py`` (counts, timings, summary).

Online (default): each step samples ``prompts_per_step`` prompts, draws ``n`` rollouts per prompt from the
current policy (pi_old), grades them, then takes ``mini_batches`` optimizer steps over that rollout batch.
Offline: each step takes ``prompts_per_step`` prompts of the store and up to ``n`` stored trajectories per
prompt; pi_old is the stored behaviour distribution (``behavior_logprobs``). Methods that never sample
(``uses_rollouts = False``: LoRA-SFT) get store batches in both modes; the summary records the effective
``data_source``. ``mini_batches`` defaults to the method's ``default_mini_batches`` (1; GSPO 4).

The training prompt set is the store's prompts, so every method trains on the same prompts.

Distributed (``accelerate launch``, DDP): every rank samples its own prompts and rollouts (rng seeded with
seed + rank), DDP averages the policy gradients, method-owned parameters (FlowRL's log Z head) are
broadcast at start and their gradients all-reduced; only the main process writes files. The per-rank
batch is ``prompts_per_step x n``; the global batch is that times the number of processes.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from ..errors import UserError
from . import accounting
from .accounting import Accounting, ntok, step_record
from .config import TrainConfig
from .resume import Interrupted, ResumeMixin, _kill_hook, _Signals


class Trainer(ResumeMixin):
    def __init__(self, cfg: TrainConfig, out_dir: Path, bar=None, log=None, ckpt_root: Path | None = None,
                 resume_from: Path | None = None, tracker=None):
        """``out_dir``: where metrics.jsonl and adapter/ go (the stage's staging dir); ``ckpt_root``: where
        checkpoints go (``OUT/checkpoints``; None = none); ``resume_from``: a checkpoint dir to continue from
        (``checkpoint.find``); ``tracker``: a ``trackers.Tracker`` the main process streams each step to."""
        self.cfg = cfg
        self.out = Path(out_dir)
        self.bar = bar
        self.log = log or (lambda s: None)
        self.acct = Accounting()
        self.timings, self.counts = self.acct.timings, self.acct.counts
        self.online = None  # OnlineRollouts, made in setup when the method samples
        self.ckpt_root = Path(ckpt_root) if ckpt_root is not None else None
        self.resume_from = Path(resume_from) if resume_from is not None else None
        self.tracker = tracker
        self._kill = _kill_hook()

    # ------------------------------------------------------------------ setup
    def setup(self):
        import torch
        from accelerate import Accelerator

        from ..methods import get_method, method_config
        from ..models import add_lora, load_model
        from ..tasks import get_task
        from .data import StoreData

        cfg = self.cfg
        cfg.check()
        method_cls = get_method(cfg.method)
        self.method = method_cls(method_config(method_cls, cfg.method_args))
        self.needs = frozenset(self.method.needs)  # an instance may narrow it (GRPO without KL needs no pi_ref)
        if cfg.data == "offline" and not method_cls.supports_offline:
            raise UserError(f"method {cfg.method!r} does not support --data offline")
        self.use_store = cfg.data == "offline" or not method_cls.uses_rollouts
        self.task = get_task(cfg.task, model=cfg.model, template=cfg.template)  # the rendering propose/eval use
        self.accel = Accelerator(cpu=not torch.cuda.is_available())
        self.rank, self.world = self.accel.process_index, self.accel.num_processes
        cfg.check_backend(self.world)
        self.is_main = self.accel.is_main_process
        torch.manual_seed(cfg.seed)  # same init on every rank
        self.rng = random.Random(cfg.seed + 1_000_003 * self.rank)  # different prompts / rollouts per rank
        if cfg.store is None:
            raise UserError("--store is required: the trajectory store defines the training prompts (make one with 'disa-bench propose')")
        self.store = StoreData(cfg.store, self.task)
        self.data_source = "online"
        if self.use_store:
            self.data_source = self.store.select(self.method)
            if "old" in self.needs:
                self.store.check_behavior()
        self.problems = self.store.problems
        self.anchor = None
        if "anchor" in self.needs:
            self._load_anchor()
        if cfg.data == "online" and method_cls.uses_rollouts and cfg.mini_batches == 1 \
                and method_cls.default_mini_batches > 1 and self.is_main:
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
        if not self.use_store:
            from .online import OnlineRollouts

            self.online = OnlineRollouts(cfg, self.out, self.task, self.tok, self.max_new, self._policy_unwrapped,
                                         self.acct)

    def _load_anchor(self):
        from ..anchor.estimators import read_anchor

        cfg = self.cfg
        if cfg.anchor is None:
            raise UserError(f"method {cfg.method!r} needs --anchor (an anchor.parquet from 'disa-bench anchor')")
        self.anchor = read_anchor(cfg.anchor)
        self.method.check_anchor(self.anchor, str(cfg.anchor))
        missing = [p.prompt_id for p in self.problems if p.prompt_id not in self.anchor]
        if missing:
            raise UserError(f"{cfg.anchor}: no log Z for prompt {missing[0]!r} of the store ({len(missing)} missing)")

    # ------------------------------------------------------------------ data
    def _policy_unwrapped(self):
        return self.accel.unwrap_model(self.model)

    def _rollout_batch(self, problems):
        """Online: fresh rollouts from the current policy (``online.py``). Returns a list of sequence dicts."""
        return self.online.batch(problems, self.rng)

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
        from ..rollout.tokens import prompt_ids as encode

        prompt_ids = [encode(self.tok, s["problem"].prompt) for s in seqs]
        comp_ids = [s["ids"] for s in seqs]
        pad = self.tok.pad_token_id
        t0 = time.time()
        extra = {}
        model = self._policy_unwrapped()
        with torch.no_grad():
            model.eval()
            if "old" in needs and not self._on_policy():
                if self.use_store or all(s["behavior"] is not None for s in seqs):  # stored, or the sampler's own (T = 1)
                    tc = max(len(c) for c in comp_ids)
                    extra["old_logp"] = torch.tensor([s["behavior"] + [0.0] * (tc - len(s["behavior"])) for s in seqs])
                else:
                    extra["old_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                    self.counts["tokens_forward_nograd"] += ntok(prompt_ids, comp_ids)
            if "ref" in needs:
                if self.ref_model is not None:
                    extra["ref_logp"], _ = token_logprobs(self.ref_model, prompt_ids, comp_ids, 1.0, pad)
                else:
                    with model.disable_adapter():
                        extra["ref_logp"], _ = token_logprobs(model, prompt_ids, comp_ids, 1.0, pad)
                self.counts["tokens_forward_nograd"] += ntok(prompt_ids, comp_ids)
            model.train()
        if "anchor" in needs:
            extra["log_z"] = torch.tensor([self.anchor[s["problem"].prompt_id]["log_z"] for s in seqs], dtype=torch.float32)
        self.timings["score"] += time.time() - t0
        return prompt_ids, comp_ids, extra

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        """Train ``cfg.steps`` rollout batches (from the checkpoint ``resume_from`` if given); the summary.

        SIGINT / SIGTERM during the loop finish the current step, save a checkpoint and raise
        :class:`Interrupted` (the CLI prints how to resume and exits 130 / 143)."""
        import torch

        from . import checkpoint

        cfg = self.cfg
        self.setup()
        self.accel.wait_for_everyone()  # every process has chosen its checkpoint before old ones are removed
        self.ckpt_key = checkpoint.config_key(cfg) if self.ckpt_root is not None else None
        start, order, history, elapsed = 0, [], [], 0.0
        if self.resume_from is not None:
            start, order, history, elapsed = self._restore(self.resume_from)
        elif self.ckpt_root is not None and self.is_main:
            checkpoint.clear(self.ckpt_root)
        if self.ckpt_root is not None and self.is_main:
            checkpoint.clean_leftovers(self.ckpt_root)
        metrics_f = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            metrics_f = open(self.out / "metrics.jsonl", "w")
            for rec in history:
                metrics_f.write(json.dumps(rec) + "\n")
            metrics_f.flush()
        t_start = time.time() - elapsed
        saved = start  # the step of the newest checkpoint
        ctx = self.bar(f"train {cfg.method} ({self.data_source})", cfg.steps) if (self.bar and self.is_main) else _null()
        with ctx as adv, _Signals() as signals:
            if start:
                adv(start)
            for step in range(start, cfg.steps):
                if len(order) < cfg.prompts_per_step:
                    order = order + self.rng.sample(self.problems, len(self.problems))
                problems, order = order[: cfg.prompts_per_step], order[cfg.prompts_per_step:]
                seqs = self.store.batch(problems, cfg.n, self.rng, self.timings) if self.use_store \
                    else self._rollout_batch(problems)
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
                adv_full = self.method.advantages(reward, group)  # None: the method uses none
                chunks = [perm[m * len(perm) // M : (m + 1) * len(perm) // M] for m in range(M)]
                t0 = time.time()
                step_metrics = self._update(step, chunks, prompt_ids, comp_ids, extra, reward, group, adv_full)
                self.sched.step()
                self.timings["update"] += time.time() - t0
                self.counts["sequences"] += len(seqs)
                rec = step_record(step, step_metrics, M, reward, comp_ids, extra, self.use_store, t_start)
                if not self.use_store:
                    from .online import graded_counts

                    rec["graded"] = graded_counts(seqs)  # per task: sequences, reward sum, grader verdicts
                history.append(rec)
                if metrics_f:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metrics_f.flush()
                if self.tracker is not None and self.is_main:
                    self.tracker.log({"train": {k: v for k, v in rec.items() if k not in ("step", "per_minibatch", "graded")}
                                      | {"lr": self.sched.get_last_lr()[0]},
                                      "time": dict(self.timings), "tokens": dict(self.counts)}, step + 1)
                if self.ckpt_root is not None and checkpoint.due(cfg, step + 1):
                    self._checkpoint(step + 1, order, history, time.time() - t_start)
                    saved = step + 1
                self._maybe_kill(step + 1, "end")
                adv(1)
                signum = signals.agreed(self)
                if signum:
                    if self.ckpt_root is not None and saved != step + 1:
                        self._checkpoint(step + 1, order, history, time.time() - t_start)
                        saved = step + 1
                    if metrics_f:
                        metrics_f.close()
                    raise Interrupted(signum, step + 1, cfg.steps,
                                      self.ckpt_root / f"step-{saved}" if (self.ckpt_root is not None and saved) else None)
        if metrics_f:
            metrics_f.close()
        self.accel.wait_for_everyone()
        self.save(self.out / "adapter")
        return self.summary(history, time.time() - t_start)

    def _update(self, step, chunks, prompt_ids, comp_ids, extra, reward, group, adv_full) -> dict:
        """One optimizer step per mini-batch (``chunks``: row indices) of a rollout batch; the method's metrics, listed."""
        import torch

        from ..methods import Batch

        cfg = self.cfg
        token_logprobs = self._scorer()
        want_hidden = "hidden" in self.needs
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
            if m == 0:
                self._maybe_kill(step + 1, "mid")
            n_tok = ntok([prompt_ids[i] for i in idx], [comp_ids[i] for i in idx])
            self.counts["tokens_forward"] += n_tok
            self.counts["tokens_backward"] += n_tok
            self.counts["optimizer_steps"] += 1
            step_metrics.setdefault("loss", []).append(loss.item())
            for k, v in mm.items():
                step_metrics.setdefault(k, []).append(v)
        return step_metrics

    def save(self, d: Path):
        if not self.is_main:
            return
        from ..io import atomic_dir

        with atomic_dir(d) as tmp:
            self._policy_unwrapped().save_pretrained(tmp)
            self.tok.save_pretrained(tmp)
            state = self.method.state_dict() if self.method_params else {}
            if state:
                from safetensors.torch import save_file

                save_file({k: v.cpu() for k, v in state.items()}, str(tmp / self._method_state_file()),
                          metadata={"method": self.cfg.method})

    def params_sha256(self) -> str:
        """Hash of every trainable parameter (policy + method-owned), e.g. to check DDP ranks agree."""
        return accounting.params_sha256([p for p in self._policy_unwrapped().parameters() if p.requires_grad]
                                        + self.method_params)

    def summary(self, history, wall) -> dict:
        return accounting.summary(self, history, wall)


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
