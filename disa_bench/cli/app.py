"""The Typer app and what every command shares: the one-line error wrapper, the common options, flag helpers.

Config precedence for every command: built-in defaults < ``--config FILE.yaml`` < explicit flags.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    help="Train and compare DISA, FlowRL, GRPO, GSPO and LoRA-SFT on one shared offline trajectory store.\n\n"
    "Quick start: [bold]disa-bench run --profile smoke[/]",
)

ConfigOpt = typer.Option(None, "--config", help="YAML file with options for this command (flags override it).")
SeedOpt = typer.Option(None, "--seed", help="Random seed (default 0).")


def user_errors(fn):
    """Turn a UserError into one line on stderr and exit status 2; never a traceback for a user mistake."""

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(2)

    return wrapper


def rank_line(rank: int, world: int, s: dict) -> None:
    """One line per DDP rank, written with a single write so ranks sharing a pipe do not interleave mid-line."""
    import os

    sys.stdout.flush()
    os.write(1, f"rank {rank}/{world}: params_sha256 {s['params_sha256']} loss_last {s['loss_last']}\n".encode())


def flags(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}
