"""Time `disa-bench run` end to end, report its peak memory, and check it reproduces the committed report.

    python benchmarks/pipeline_time.py --profile smoke              # target <= 120 s on 2 cores
    python benchmarks/pipeline_time.py --profile default            # target <= 40 min on 2 cores; compares the
                                                                    # tables with reports/embedded/report.json
    python benchmarks/pipeline_time.py --profile default --seeds 0  # one training seed: target <= 15 min

Prints wall seconds, the ratio to the target, peak RSS (the largest single process, and the largest sum over the
run's process tree -- the run and its worker processes -- sampled every 0.5 s), the per-stage split from the run's
manifest, and (default profile with its seeds, or with --compare) whether every number of the report's tables
(Mean@8 and CIs, paired p-values, diversity, sweep cells, claims) equals the committed report's. Wall times, paths
and timestamps are not compared. Exit status 1 when the tables differ.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"smoke": 120.0, "default": 2400.0}
ONE_SEED_TARGET = 900.0  # --profile default --seeds 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), in MB."""
    import os

    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                kids.setdefault(int(fields[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def stage_split(timings: dict) -> dict:
    """The manifest's timings grouped: one entry per stage; per-job train/eval seconds summed (with worker
    processes those overlap, and ``train+eval (parallel wall)`` is the wall time of the whole phase)."""
    out: dict[str, float] = {}
    for k, v in timings.items():
        if k.startswith("tune:") and k != "tune:train+eval (parallel wall)":
            key = f"tune {k.split(':')[1]} (sum over jobs)"
        elif k.startswith(("train:", "eval:")) and k != "eval:base":
            key = f"{k.split(':')[0]} (sum over jobs)"
        else:
            key = k
        out[key] = round(out.get(key, 0.0) + v, 1)
    return out
ROOT = Path(__file__).resolve().parents[1]


def tables(rep: dict) -> dict:
    """The reproducible content of a report.json: everything but wall times, paths and timestamps."""
    acc = {(r["name"], col): {k: c.get(k) for k in ("mean", "ci", "n", "vs_ref")}
           for r in rep["accuracy"]["rows"] for col, c in r["cells"].items()}
    div = {r["name"]: r["values"] for r in rep["diversity"]["rows"]}
    comp = {r["name"]: {k: r.get(k) for k in ("steps", "tokens_generated", "tokens_forward", "tokens_backward",
                                              "reward_first", "reward_last")} for r in rep["compute"]["rows"]}
    claims = {c["id"]: (c["verdict"], c["numbers"]) for c in rep["claims"]}
    sweep = [{k: v for k, v in c.items() if k not in ("anchor", "eval")} for s in rep.get("sweeps", []) for c in s["cells"]]
    return {"accuracy": acc, "diversity": div, "compute": comp, "claims": claims, "sweep": sweep}


def diff(a, b, path="", tol=1e-9) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'new' if k in a else 'committed'}")
            else:
                out += diff(a[k], b[k], f"{path}/{k}", tol)
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]", tol)]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1.0, abs(a), abs(b))
        return [] if same else [f"{path}: {a!r} vs committed {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs committed {b!r}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke", choices=sorted(TARGETS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seeds", default=None, help="passed to run --seeds (e.g. 0: the one-seed budget)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="report.json to compare the tables with (default for --profile default: reports/embedded/report.json)")
    args = ap.parse_args()
    compare = args.compare or (ROOT / "reports" / "embedded" / "report.json"
                               if args.profile == "default" and args.seeds is None else None)
    target = ONE_SEED_TARGET if args.profile == "default" and args.seeds == "0" else TARGETS[args.profile]
    out = args.out or Path(tempfile.mkdtemp(prefix=f"disa-bench-{args.profile}-"))
    exe = Path(sys.executable).with_name("disa-bench")
    t0 = time.time()
    cmd = [str(exe), "run", "--profile", args.profile, "--out", str(out)] + (["--seeds", args.seeds] if args.seeds else [])
    import threading

    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True)
        peak_tree = [0.0]

        def watch():
            while proc.poll() is None:
                peak_tree[0] = max(peak_tree[0], tree_rss_mb(proc.pid))
                time.sleep(0.5)

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        proc.wait()
        th.join()
        se.seek(0)
        proc.stderr = se.read()
    wall = time.time() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit(f"disa-bench run failed with exit {proc.returncode}")
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"profile={args.profile}{' seeds=' + args.seeds if args.seeds else ''} wall={wall:.1f}s target={target:.0f}s "
          f"ratio={wall / target:.2f} peak_rss_one_process={peak_mb:.0f}MB peak_rss_process_tree={peak_tree[0]:.0f}MB")
    print("stages (s):", json.dumps(stage_split(manifest["timings"])))
    print("summary:", json.dumps(manifest.get("summary")))
    print("report:", out / "report" / "report.md")
    if compare:
        new = tables(json.loads((out / "report" / "report.json").read_text()))
        old = tables(json.loads(Path(compare).read_text()))
        d = diff(new, old)
        if d:
            print(f"tables DIFFER from {compare} ({len(d)} values):")
            for line in d[:40]:
                print("  " + line)
            raise SystemExit(1)
        print(f"tables identical to {compare} (accuracy, p-values, diversity, compute tokens, claims, sweep)")


if __name__ == "__main__":
    main()
