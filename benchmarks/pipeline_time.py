"""Time `disa-bench run` end to end and report its peak memory.

    python benchmarks/pipeline_time.py --profile smoke      # target <= 120 s on 2 cores
    python benchmarks/pipeline_time.py --profile default    # target <= 20 min on 2 cores

Prints wall seconds, peak RSS of the child process tree's largest process, and the ratio to the target.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"smoke": 120.0, "default": 1200.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke", choices=sorted(TARGETS))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix=f"disa-bench-{args.profile}-"))
    exe = Path(sys.executable).with_name("disa-bench")
    t0 = time.time()
    proc = subprocess.run([str(exe), "run", "--profile", args.profile, "--out", str(out)], capture_output=True, text=True)
    wall = time.time() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit(f"disa-bench run failed with exit {proc.returncode}")
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"profile={args.profile} wall={wall:.1f}s target={TARGETS[args.profile]:.0f}s ratio={wall / TARGETS[args.profile]:.2f} "
          f"peak_rss={peak_mb:.0f}MB (limit 3072MB)")
    print("phases (s):", json.dumps(manifest["timings"]))
    print("summary:", json.dumps(manifest.get("summary")))
    print("report:", out / "report.md")


if __name__ == "__main__":
    main()
