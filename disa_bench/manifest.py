"""Run manifests: resolved config, seed, package versions, git commit, wall time per phase."""

from __future__ import annotations

import contextlib
import platform
import subprocess
import sys
import time
from pathlib import Path

from .io import write_json

PACKAGES = ("disa-bench", "torch", "transformers", "tokenizers", "peft", "accelerate", "pyarrow", "numpy",
            "math-verify", "lm-eval", "openai", "typer", "rich")


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if r.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return r.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


class Manifest:
    def __init__(self, command: str, config: dict, seed: int):
        self.data = {
            "command": command,
            "argv": sys.argv,
            "config": config,
            "seed": seed,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "platform": {"machine": platform.machine(), "system": platform.system(), "processor": platform.processor()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "timings": {},
            "outputs": {},
        }
        self._t0 = time.time()

    @contextlib.contextmanager
    def phase(self, name: str):
        t = time.time()
        try:
            yield
        finally:
            self.data["timings"][name] = round(self.data["timings"].get(name, 0.0) + time.time() - t, 3)

    def write(self, out_dir: Path, **extra) -> Path:
        self.data["timings"]["total"] = round(time.time() - self._t0, 3)
        self.data.update(extra)
        p = Path(out_dir) / "manifest.json"
        write_json(p, self.data)
        return p
