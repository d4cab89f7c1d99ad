"""Train the embedded Countdown model once, saving and scoring a checkpoint every N steps.

Used to choose ``embedded.CHECKPOINTS`` (base in the 40-70% Mean@8 band, teacher clearly stronger) and to
build the shipped weights:

    python scripts/build_embedded.py --steps 3000 --every 250 --out /tmp/emb      # CPU or GPU
    python scripts/build_embedded.py --ship /tmp/emb                              # copy the chosen ones into the package

Mean@8 is measured exactly as ``disa-bench eval`` does (T = 0.6, top_p = 0.95, held-out split).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def score(path: Path, n_prompts: int, device: str) -> dict:
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from disa_bench.rollout.hf import HFBackend
    from disa_bench.tasks import get_task
    from disa_bench.types import SamplingParams

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
    task = get_task("countdown")
    probs = task.problems("test", n_prompts, seed=0)
    groups = HFBackend(model, tok, batch_size=128).generate([p.prompt for p in probs],
                                                            SamplingParams(n=8, temperature=0.6, top_p=0.95,
                                                                           max_new_tokens=task.max_new_tokens))
    acc, by = [], {}
    for p, g in zip(probs, groups):
        a = np.mean([task.grade(p, c.text).reward for c in g])
        acc.append(a)
        by.setdefault(len(p.meta["numbers"]), []).append(a)
    return {"mean@8": 100 * float(np.mean(acc)), **{f"{k}num": 100 * float(np.mean(v)) for k, v in sorted(by.items())}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--out", type=Path, default=Path("/tmp/embedded-build"))
    ap.add_argument("--n-prompts", type=int, default=512)
    ap.add_argument("--pick-base", type=float, default=None, help="Mean@8 target for the base checkpoint")
    ap.add_argument("--keep-every", type=int, default=0, help="after scoring, delete step checkpoints not a multiple of this")
    ap.add_argument("--ship", type=Path, help="copy <dir>/{base,teacher} into disa_bench/assets/embedded")
    args = ap.parse_args()
    import torch

    from disa_bench.world import embedded

    if args.ship:
        for name in embedded.CHECKPOINTS:
            dst = embedded.ASSETS / name
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(args.ship / name, dst)
            print("shipped", name, "->", dst)
        return
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    saves = {s: (n, args.out / n) for n, s in embedded.CHECKPOINTS.items() if s <= args.steps}
    embedded.train_embedded(args.steps, saves, every=args.every, every_dir=args.out / "ckpt", device=device)
    print(f"trained {args.steps} steps on {device} in {time.time() - t0:.0f}s", flush=True)
    table = {}
    for d in sorted((args.out / "ckpt").iterdir(), key=lambda p: int(p.name[4:])):
        table[d.name] = score(d, args.n_prompts, device)
        print(d.name, json.dumps(table[d.name]), flush=True)
    (args.out / "scores.json").write_text(json.dumps(table, indent=2))
    if args.pick_base is not None:  # first checkpoint at or above the target Mean@8 becomes the base
        steps = sorted(int(k[4:]) for k in table)
        base = next((s for s in steps if table[f"step{s}"]["mean@8"] >= args.pick_base), steps[len(steps) // 3])
        picked = args.out / "picked"
        picked.mkdir(exist_ok=True)
        shutil.copy(args.out / "ckpt" / f"step{base}" / "model.safetensors", picked / "base.safetensors")
        shutil.copy(args.out / "ckpt" / f"step{steps[-1]}" / "model.safetensors", picked / "teacher.safetensors")
        (picked / "picked.json").write_text(json.dumps({"base": base, "teacher": steps[-1], "scores": table}, indent=2))
        print("picked base", base, "teacher", steps[-1], flush=True)
    if args.keep_every:
        for d in (args.out / "ckpt").iterdir():
            if int(d.name[4:]) % args.keep_every:
                shutil.rmtree(d)


if __name__ == "__main__":
    main()
