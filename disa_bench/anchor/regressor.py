"""Prompt-conditioned log Z regressor (methods.md §1.7): smooth the IS table and cover prompts with no proposals.

Features: h(x) = mean-pooled final-layer hidden state of the frozen pi_ref over the prompt tokens (no grad).
Model: FlowRL's ProjZ MLP with L = 3: [Linear(d,d) -> GELU -> LayerNorm(d) -> Dropout(0.1)] x 2 -> Linear(d,1).
Training: weighted MSE to the IS targets log Z-hat(x) with weight ESS/K; a prompt with no correct proposal
(``no_coverage``: log Z-hat is a floor, its ESS undefined) gets the least weight, ``no_coverage_weight``
(default: a tenth of the smallest covered weight). AdamW (lr 1e-3, weight decay 0.01),
full batch; 10% of prompts held out (seeded), early stopping on held-out MAE (the best epoch's weights are
kept). Inputs are z-scored and targets centred/scaled with training statistics (an implementation detail,
undone at prediction time).

Reported (held-out): MAE, the MAE of predicting the mean training target (the baseline it must beat), R^2,
and the calibration slope (OLS slope of target on prediction; 1 = calibrated, < 1 = over-confident spread).

Modes for the written anchor (``source`` column): ``table`` (log Z-hat), ``regressor`` (g(x) for every
prompt), ``shrunk`` (lambda log Z-hat + (1 - lambda) g(x), lambda = ESS / (ESS + kappa), kappa = 2; prompts
without proposals, and no-coverage prompts (lambda = 0, methods.md §1.5), get g(x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

MIN_PROMPTS = 10
MODES = ("table", "regressor", "shrunk")


@dataclass
class RegressorConfig:
    layers: int = 3
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.01
    epochs: int = 2000
    patience: int = 200
    holdout: float = 0.1
    seed: int = 0
    no_coverage_weight: float | None = None  # None: 0.1 x the smallest covered prompt's ESS/K


def prompt_features(ref: str, prompts: list[str], batch_size: int = 256) -> np.ndarray:
    """(N, d) mean-pooled final hidden states of the frozen ``ref`` over each prompt's tokens."""
    import torch

    from ..models import load_model
    from ..rollout.scoring import token_logprobs

    loaded = load_model(ref)
    tok = loaded.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    eos = tok.eos_token_id if tok.eos_token_id is not None else pad
    feats = []
    with torch.no_grad():
        for s in range(0, len(prompts), batch_size):
            ids = [tok(p)["input_ids"] for p in prompts[s:s + batch_size]]
            _, _, h = token_logprobs(loaded.model, ids, [[eos]] * len(ids), 1.0, pad, return_hidden=True)
            feats.append(h.double().numpy())
    return np.concatenate(feats)


def _mlp(d: int, cfg: RegressorConfig):
    import torch.nn as nn

    layers = []
    for _ in range(cfg.layers - 1):
        layers += [nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Dropout(cfg.dropout)]
    layers.append(nn.Linear(d, 1))
    return nn.Sequential(*layers)


def _metrics(y, pred, baseline) -> dict:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    vp = float(((pred - pred.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(y - pred).mean()),
        "mae_mean_baseline": float(np.abs(y - baseline).mean()),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "calibration_slope": float(((pred - pred.mean()) * (y - y.mean())).sum() / vp) if vp > 0 else float("nan"),
        "n": int(len(y)),
    }


class LogZRegressor:
    def __init__(self, cfg: RegressorConfig | None = None):
        self.cfg = cfg or RegressorConfig()

    def fit(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> dict:
        import torch

        cfg = self.cfg
        X, y = np.asarray(X, float), np.asarray(y, float)
        n = len(y)
        if n < MIN_PROMPTS:
            raise UserError(f"the log Z regressor needs at least {MIN_PROMPTS} prompts with proposals, got {n}")
        w = np.ones(n) if w is None else np.clip(np.asarray(w, float), 1e-6, None)
        rng = np.random.default_rng(cfg.seed)
        perm = rng.permutation(n)
        n_ho = max(1, int(round(cfg.holdout * n)))
        ho, tr = perm[:n_ho], perm[n_ho:]
        self.mu, self.sd = X[tr].mean(0), X[tr].std(0) + 1e-6
        self.ym, self.ys = float(y[tr].mean()), float(y[tr].std() + 1e-6)
        torch.manual_seed(cfg.seed)
        net = _mlp(X.shape[1], cfg).double()
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        Xt = torch.tensor((X - self.mu) / self.sd)
        yt = torch.tensor((y - self.ym) / self.ys)
        wt = torch.tensor(w / w[tr].mean())
        tr_t, ho_t = torch.tensor(tr), torch.tensor(ho)
        best, best_state, since = float("inf"), None, 0
        for epoch in range(cfg.epochs):
            net.train()
            pred = net(Xt[tr_t]).squeeze(-1)
            loss = (wt[tr_t] * (pred - yt[tr_t]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                mae = float((net(Xt[ho_t]).squeeze(-1) - yt[ho_t]).abs().mean())
            if mae < best - 1e-9:
                best, since, self.best_epoch = mae, 0, epoch
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since > cfg.patience:
                    break
        net.load_state_dict(best_state)
        net.eval()
        self.net = net
        self.train_idx, self.holdout_idx = tr, ho
        self.metrics = {"holdout": _metrics(y[ho], self.predict(X[ho]), y[tr].mean()),
                        "train": _metrics(y[tr], self.predict(X[tr]), y[tr].mean()),
                        "best_epoch": int(self.best_epoch), "prompts": int(n), "holdout_prompts": int(n_ho),
                        "config": vars(cfg).copy()}
        return self.metrics

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            z = self.net(torch.tensor((np.asarray(X, float) - self.mu) / self.sd)).squeeze(-1).numpy()
        return z * self.ys + self.ym


def fit_weights(rows: list[dict], cfg: RegressorConfig | None = None) -> np.ndarray:
    """Regression weights: ESS/K for prompts with a correct proposal, the least weight for the others."""
    cfg = cfg or RegressorConfig()
    nc = np.array([bool(r.get("no_coverage")) for r in rows])
    w = np.array([0.0 if n else float(r["ess_frac"]) for r, n in zip(rows, nc)])
    if nc.any():
        floor = cfg.no_coverage_weight
        if floor is None:
            floor = 0.1 * (w[~nc].min() if (~nc).any() else 1.0)
        w[nc] = floor
    return w


def shrink_lambda(ess: float | None, kappa: float) -> float:
    """lambda = ESS / (ESS + kappa); 0 when ESS is undefined (no correct proposal): all weight on g(x)."""
    return 0.0 if ess is None else ess / (ess + kappa)


def shrink(log_z_table: float, ess: float | None, pred: float, kappa: float) -> float:
    lam = shrink_lambda(ess, kappa)
    return lam * log_z_table + (1.0 - lam) * pred


def apply_regressor(rows: list[dict], prompts: dict[str, str], ref: str, mode: str, kappa: float = 2.0,
                    cfg: RegressorConfig | None = None) -> tuple[list[dict], dict]:
    """Fit on the table rows (prompt_id -> IS estimate) and return anchor rows for every prompt in
    ``prompts`` (prompt_id -> prompt text, a superset of the table's prompts) plus metrics."""
    if mode not in MODES:
        raise UserError(f"unknown anchor mode {mode!r}; valid: {', '.join(MODES)}")
    if kappa <= 0:
        raise UserError(f"--kappa must be > 0, got {kappa}")
    if len(rows) < MIN_PROMPTS:
        raise UserError(f"the log Z regressor needs at least {MIN_PROMPTS} prompts with proposals, got {len(rows)}")
    ids = list(prompts)
    X = prompt_features(ref, [prompts[p] for p in ids])
    pos = {p: i for i, p in enumerate(ids)}
    missing = [r["prompt_id"] for r in rows if r["prompt_id"] not in pos]
    if missing:
        raise UserError(f"store prompt {missing[0]!r} has no prompt text for the regressor")
    Xt = X[[pos[r["prompt_id"]] for r in rows]]
    reg = LogZRegressor(cfg)
    weights = fit_weights(rows, reg.cfg)
    metrics = reg.fit(Xt, np.array([r["log_z"] for r in rows]), weights)
    pred = reg.predict(X)
    by_id = {r["prompt_id"]: r for r in rows}
    out = []
    template = {c: None for c in rows[0]}
    for p in ids:
        g = float(pred[pos[p]])
        if p in by_id:
            r = dict(by_id[p])
            r["log_z_table"] = r["log_z"]
            if mode == "regressor":
                r["log_z"], r["source"] = g, "regressor"
            elif mode == "shrunk":
                r["shrink_lambda"] = shrink_lambda(r["ess"], kappa)
                r["log_z"] = shrink(r["log_z"], r["ess"], g, kappa)
                r["source"] = "shrunk" if r["shrink_lambda"] > 0 else "regressor"
        else:
            r = dict(template) | {"prompt_id": p, "k": 0, "beta": rows[0]["beta"], "units": rows[0]["units"],
                                  "estimator": rows[0]["estimator"], "log_z_table": None,
                                  "log_z": g, "source": "regressor"}
        r["log_z_pred"] = g
        out.append(r)
    metrics["mode"] = mode
    metrics["kappa"] = kappa
    metrics["prompts_written"] = len(out)
    metrics["prompts_without_proposals"] = sum(1 for p in ids if p not in by_id)
    nc = [bool(r.get("no_coverage")) for r in rows]
    metrics["no_coverage"] = {"prompts": int(sum(nc)), "weight": float(weights[nc].max()) if any(nc) else None,
                              "min_covered_weight": float(min(w for w, n in zip(weights, nc) if not n)) if not all(nc) else None}
    return out, metrics
