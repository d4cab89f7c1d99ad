"""Independent trainings on this machine: 2 worker processes x 1 torch thread vs 1 process x 2 threads.

    python benchmarks/workers.py [--steps 50] [--rows grpo,disa]

Runs the same ``disa-bench run --profile default --no-sweep`` slice (the given rows, ``--steps`` training steps each,
a small eval) twice, once with ``--workers 1`` (torch's default threads) and once with ``--workers 2`` (one thread
each), into temporary dirs; prints the train+eval wall time of each, their ratio, and whether every adapter
(params_sha256) is the same in both (it must be: the numbers may not depend on the worker count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(out: Path, cfg: Path, rows: str, workers: int) -> tuple[float, dict]:
    t = time.time()
    subprocess.run([sys.executable, "-m", "disa_bench", "run", "--profile", "default", "--no-sweep", "--config", str(cfg),
                    "--methods", rows, "--workers", str(workers), "--out", str(out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, env={**__import__("os").environ, "DISA_BENCH_QUIET": "1"})
    wall = time.time() - t
    tim = json.loads((out / "manifest.json").read_text())["timings"]
    jobs = tim.get("train+eval (parallel wall)") or sum(v for k, v in tim.items() if k.startswith(("train:", "eval:")) and k != "eval:base")
    sha = {p.parent.name: json.loads(p.read_text())["params_sha256"] for p in sorted((out / "train").glob("*/summary.json"))}
    return jobs, {"wall": wall, "sha": sha}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rows", default="grpo,disa")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.yaml"
        cfg.write_text(f"train: {{steps: {a.steps}}}\neval: {{n_prompts: 128}}\n")
        t1, r1 = one(Path(d) / "w1", cfg, a.rows, 1)
        t2, r2 = one(Path(d) / "w2", cfg, a.rows, 2)
    print(f"rows {a.rows}, {a.steps} steps each: train+eval jobs 1 process x default threads {t1:.1f} s, "
          f"2 workers x 1 thread {t2:.1f} s, ratio {t1 / t2:.2f} (>1: workers faster)")
    print(f"same adapters in both: {r1['sha'] == r2['sha']}")


if __name__ == "__main__":
    main()
