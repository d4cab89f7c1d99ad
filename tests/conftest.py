"""Shared fixtures. The embedded models ship with the package, so tests use real tiny models, no downloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = Path(os.environ.get("DISA_BENCH_BENCHMARKS", ROOT.parent / "shared" / "benchmarks"))


@pytest.fixture(autouse=True, scope="session")
def _env(tmp_path_factory):
    home = tmp_path_factory.mktemp("disa_home")
    os.environ.setdefault("DISA_BENCH_HOME", str(home))
    os.environ["DISA_BENCH_QUIET"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one torch thread is faster than two when the CPU is shared (restored afterwards)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    if not SHARED_BENCHMARKS.exists():
        pytest.skip(f"offline benchmark copies not found at {SHARED_BENCHMARKS}")
    return SHARED_BENCHMARKS


@pytest.fixture(scope="session")
def base_model_dir() -> str:
    from disa_bench.world.embedded import ensure_embedded

    return str(ensure_embedded("base"))


@pytest.fixture(scope="session")
def teacher_model_dir() -> str:
    from disa_bench.world.embedded import ensure_embedded

    return str(ensure_embedded("teacher"))


def run_cli(*args: str):
    """Invoke the real Typer app in-process; returns the click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from disa_bench.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(r, *needles, out_dir=None, code: int | None = None) -> str:
    """A user mistake: exit status != 0 (or ``code``), exactly one stderr line ``error: ...`` containing every
    needle, no traceback, and nothing written under ``out_dir``. Returns the line."""
    assert (r.exit_code == code) if code is not None else (r.exit_code != 0), r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in r.output
    if out_dir is not None:
        assert not out_dir.exists() or not [p for p in out_dir.iterdir()], list(out_dir.iterdir())
    return lines[0]
