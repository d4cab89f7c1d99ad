"""Markdown report of a pipeline run: base vs trained policies (Mean@8 with 95% CIs), anchor diagnostics,
training and compute summaries, and a provenance footer."""

from __future__ import annotations

import numpy as np


def anchor_summary(rows: list[dict]) -> dict:
    lz = np.array([r["log_z"] for r in rows])
    ef = np.array([r["ess_frac"] for r in rows])
    cov = np.array([r["coverage"] for r in rows])
    return {
        "prompts": len(rows),
        "log_z_mean": float(lz.mean()),
        "log_z_min": float(lz.min()),
        "log_z_max": float(lz.max()),
        "ess_frac_mean": float(ef.mean()),
        "ess_frac_below_0.1": int((ef < 0.1).sum()),
        "no_coverage": int((~cov).sum()),
        "ci_width_mean": float(np.mean([r["log_z_ci_high"] - r["log_z_ci_low"] for r in rows])),
        "beta": rows[0]["beta"],
        "units": rows[0]["units"],
        "estimator": rows[0]["estimator"],
    }


def _fmt_ci(res: dict, k: int) -> str:
    lo, hi = res[f"mean@{k}_ci"]
    return f"{res[f'mean@{k}']:.1f} [{lo:.1f}, {hi:.1f}]"


def render_markdown(title: str, evals: dict[str, dict], anchor: dict | None, trains: dict[str, dict],
                    propose: dict | None, manifest: dict, k: int = 8) -> str:
    from .metrics import paired_bootstrap_p, paired_diff_ci

    lines = [f"# {title}", ""]
    lines += [f"Task `{next(iter(evals.values()))['task']}`, held-out split, "
              f"{next(iter(evals.values()))['num_prompts']} prompts x {k} samples "
              f"(T = {next(iter(evals.values()))['sampling']['temperature']}, top_p = {next(iter(evals.values()))['sampling']['top_p']}).", ""]
    lines += ["## Mean@8 on the held-out split", "",
              f"| model | Mean@{k} [95% CI] | pass@{k} | maj@{k} | truncated | Δ vs base [paired 95% CI] | paired p vs base |",
              "|---|---|---|---|---|---|---|"]
    base = evals.get("base")
    for name, res in evals.items():
        delta, p = "", ""
        if base is not None and name != "base":
            common = sorted(set(res["per_prompt"]) & set(base["per_prompt"]))
            a = np.array([res["per_prompt"][c] for c in common])
            b = np.array([base["per_prompt"][c] for c in common])
            d, lo, hi = paired_diff_ci(a, b)
            res["_paired"] = (100 * d, 100 * lo, 100 * hi)
            delta = f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
            p = f"{paired_bootstrap_p(a, b):.4f}"
        lines.append(f"| {name} | {_fmt_ci(res, k)} | {res[f'pass@{k}']:.1f} | {res[f'maj@{k}']:.1f} | "
                     f"{res['truncated']} | {delta} | {p} |")
    if base is not None:
        verdicts = []
        for name, res in evals.items():
            if name == "base":
                continue
            d, lo, hi = res.pop("_paired")
            unpaired = res[f"mean@{k}_ci"][0] > base[f"mean@{k}_ci"][1]
            if lo > 0:
                verdict = ("improves on the base beyond the paired 95% CI of the difference"
                           + (" and beyond both models' own CIs" if unpaired else ""))
            elif hi < 0:
                verdict = "worse than the base beyond the paired 95% CI"
            else:
                verdict = "no significant difference (the paired 95% CI of the difference contains 0)"
            verdicts.append(f"- **{name}** vs base: {d:+.1f} points, {verdict}.")
        lines += [""] + verdicts
    if propose:
        lines += ["", "## Offline proposals (shared trajectory store)", "",
                  f"{propose['prompts']} prompts x {propose['trajectories'] // max(1, propose['prompts'])} trajectories; "
                  f"proposal `{propose['config']['proposal']}` mixed with pi_ref at a = {propose['config']['proposal_mix']}; "
                  f"success rate {100 * propose['success_rate']:.1f}%."]
    if anchor:
        lines += ["", "## Anchor (frozen log Z)", "",
                  f"{anchor['estimator'].upper()} in {anchor['units'].upper()} units, beta = {anchor['beta']}: "
                  f"mean log Z {anchor['log_z_mean']:.3f} (range {anchor['log_z_min']:.3f} to {anchor['log_z_max']:.3f}), "
                  f"mean ESS/K {anchor['ess_frac_mean']:.3f}, {anchor['ess_frac_below_0.1']} prompts with ESS/K < 0.1, "
                  f"{anchor['no_coverage']} prompts with no correct proposal (flagged, kept), mean bootstrap CI width {anchor['ci_width_mean']:.3f}."]
    if trains:
        lines += ["", "## Training", "", "| method | data | steps | reward first→last 10% | tokens generated | wall (s) | generate / score / update (s) | peak RSS (MB) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, s in trains.items():
            c = s["compute"]
            ph = c["phase_seconds"]
            lines.append(f"| {name} | {s['data']} | {s['steps']} | {s['reward_first']:.3f} → {s['reward_last']:.3f} | "
                         f"{c['tokens_generated']} | {c['wall_seconds']:.1f} | {ph['generate']:.1f} / {ph['score']:.1f} / {ph['update']:.1f} | "
                         f"{c['peak_memory_mb']} |")
    v = manifest.get("versions", {})
    lines += ["", "---", "", f"Provenance: disa-bench {v.get('disa-bench')}, commit `{manifest.get('git_commit')}`, "
              f"seed {manifest.get('seed')}, torch {v.get('torch')}, transformers {v.get('transformers')}, peft {v.get('peft')}; "
              f"profile `{manifest.get('config', {}).get('profile')}`.", ""]
    return "\n".join(lines)
