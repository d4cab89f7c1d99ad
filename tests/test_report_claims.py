"""The claim family and the sweep's bias–variance claims of ``disa-bench report`` (hand-written inputs).

What each test checks:
- Holm: a claim significant on its raw p but not after adjustment is inconclusive and says so; a
  non-inferiority claim holds on its adjusted one-sided p;
- sweep cells with per-prompt results (exact reference): the shift and ESS claims hold for the claimed
  pattern and do not hold for the reversed one, each with a paired-bootstrap p in the family; a sweep.json
  without per-prompt results is never given a verdict; the sensitivity figure is drawn.
"""

from __future__ import annotations

import numpy as np

from conftest import run_cli
from test_paper_report import _load, _write, make_run


def test_holm_can_turn_a_raw_win_inconclusive():
    from disa_bench.report.claims import apply_family

    claims = [{"id": f"c{i}", "claim": "x", "verdict": None, "numbers": "n", "kind": "superiority", "diff": 1.0, "p": p}
              for i, p in enumerate((0.03, 0.2, 0.5))]
    claims.append({"id": "ni", "claim": "m", "verdict": None, "numbers": "n", "kind": "noninferiority", "diff": -0.2,
                   "p": 0.001, "p_inf": 0.9})
    out = {c["id"]: c for c in apply_family(claims)}
    assert out["c0"]["verdict"] == "inconclusive" and out["c0"]["p_adj"] == 0.09
    assert "significant before, not after" in out["c0"]["numbers"]
    assert out["ni"]["verdict"] == "holds" and out["ni"]["p_adj"] == 0.004 and out["ni"]["family_size"] == 4


def _sweep_cells(shift: bool, ess_falls: bool, n: int = 12) -> list[dict]:
    """Synthetic sweep cells with per-prompt results (exact reference = 0): at small β the weak proposal
    errs least, at large β the strong one (or the reverse); ESS/K falls with β (or rises)."""
    r = np.random.default_rng(0)
    cells = []
    for b in (1.0, 10.0):
        for a in (0.0, 0.5, 1.0):
            small = b == 1.0 if shift else b == 10.0
            err = (0.05 + 0.2 * a) if small else (0.05 + 0.4 * (1 - a))
            ess = ((0.9 if b == 1.0 else 0.4) if ess_falls else (0.4 if b == 1.0 else 0.9)) - 0.1 * a
            pp = {f"p{i}": {"log_z": err + r.normal(0, 0.01), "ref": 0.0, "ess_frac": ess + r.normal(0, 0.02)} for i in range(n)}
            errs = [abs(v["log_z"]) for v in pp.values()]
            cells.append({"alpha": a, "beta": b, "anchor_abs_err": float(np.mean(errs)),
                          "anchor_abs_err_ci": [float(np.mean(errs)) - 0.01, float(np.mean(errs)) + 0.01],
                          "ess_frac_mean": float(np.mean([v["ess_frac"] for v in pp.values()])), "coverage": 1.0,
                          "per_prompt": pp})
    return cells


def test_sweep_claims_and_sensitivity_figure(tmp_path):
    run_dir = make_run(tmp_path / "RUN")
    _write(tmp_path / "sw" / "sweep.json", {"config": {"seed": 0}, "reference": {"kind": "exact"}, "cells": _sweep_cells(True, True)})
    out = tmp_path / "out"
    r = run_cli("report", run_dir, tmp_path / "sw", "--out", out, "--n-boot", "200", "--format", "json,png")
    assert r.exit_code == 0, r.output
    claims = {c["id"]: c for c in _load(out)["claims"]}
    assert claims["sweep_shift"]["verdict"] == "holds", claims["sweep_shift"]
    assert "exact log Z" in claims["sweep_shift"]["numbers"] and claims["sweep_shift"]["p_adj"] < 0.05
    assert claims["sweep_ess"]["verdict"] == "holds" and "paired bootstrap p" in claims["sweep_ess"]["numbers"]
    assert (out / "figures" / "sensitivity.png").stat().st_size > 1000
    # reversed pattern -> does not hold
    _write(tmp_path / "sw" / "sweep.json", {"config": {"seed": 0}, "reference": {"kind": "exact"}, "cells": _sweep_cells(False, False)})
    assert run_cli("report", tmp_path / "sw", "--out", out, "--format", "json").exit_code == 0
    claims = {c["id"]: c for c in _load(out)["claims"]}
    assert claims["sweep_shift"]["verdict"] == "does not hold" and claims["sweep_ess"]["verdict"] == "does not hold"
    # a sweep.json from before the tests (no per_prompt): point estimates only, never a verdict
    cells = _sweep_cells(True, True)
    for c in cells:
        del c["per_prompt"]
    _write(tmp_path / "sw" / "sweep.json", {"config": {"seed": 0}, "cells": cells})
    assert run_cli("report", tmp_path / "sw", "--out", out, "--format", "json").exit_code == 0
    claims = {c["id"]: c for c in _load(out)["claims"]}
    assert claims["sweep_shift"]["verdict"] == claims["sweep_ess"]["verdict"] == "inconclusive"
    assert "not tested" in claims["sweep_ess"]["numbers"]
