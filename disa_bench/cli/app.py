"""The Typer app and what every command shares: the one-line error wrapper, the common options, flag helpers.

Config precedence for every command: built-in defaults < ``--config FILE.yaml`` < explicit flags.
"""

from __future__ import annotations

import functools
import sys

import typer
from typer.core import TyperGroup

from ..errors import UserError

try:  # typer >= 0.20 vendors click as typer._click; older ones use click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    from click import exceptions as _cx


class OneLineErrors(TyperGroup):
    """The top-level command group. Click's usage errors (unknown option, missing or mistyped value) become one
    ``error: ...`` line on stderr with exit status 2 instead of a usage box; Ctrl-C (SIGINT) prints one line and
    exits 130. Used by the real entry point and by ``CliRunner`` alike (both call ``main``)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _cx.NoArgsIsHelpError as e:  # a bare group: show its help, as before
            e.show()
            sys.exit(e.exit_code)
        except _cx.ClickException as e:
            where = f"{e.ctx.command_path}: " if getattr(e, "ctx", None) is not None else ""
            msg = "; ".join(x.strip() for x in e.format_message().splitlines() if x.strip()) + _given(e)
            hint = f" (see {e.ctx.command_path} --help)" if isinstance(e, _cx.UsageError) and e.ctx else ""
            print(f"error: {where}{msg}{hint}", file=sys.stderr)
            sys.exit(2 if isinstance(e, _cx.UsageError) else e.exit_code)
        except typer.Abort:
            print("error: aborted (end of input)", file=sys.stderr)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BaseException as e:
            if not _interrupted(e):
                raise
            sys.stdout.flush()
            sub = ctx.invoked_subcommand or (getattr(ctx, "protected_args", None) or [""])[0]
            cmd = f"{ctx.command_path} {sub}".strip()
            print(f"error: interrupted (SIGINT) during {cmd}; its unfinished outputs were discarded", file=sys.stderr)
            raise typer.Exit(130) from None


def _interrupted(e: BaseException) -> bool:
    """A Ctrl-C, also when it landed inside library code that wrapped it: on Python 3.11 a KeyboardInterrupt raised
    while a class body is being set up (``__set_name__``, e.g. during ``import huggingface_hub``) surfaces as a
    RuntimeError whose ``__cause__`` is the KeyboardInterrupt. Follows the cause/context chain."""
    if isinstance(e, (typer.Exit, SystemExit)):  # a deliberate exit, e.g. the 130 after the message
        return False
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ if e.__cause__ is not None or e.__suppress_context__ else e.__context__
    return False


def _given(e) -> str:
    """The rejected value of a bad parameter when the message leaves it out (Typer's pydantic coercion does)."""
    try:
        got = e.__cause__.errors()[0]["input"]  # pydantic ValidationError
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return "" if repr(got) in e.format_message() else f" (got {got!r})"


app = typer.Typer(
    cls=OneLineErrors,
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
    """The flags given explicitly (None = not given), as a config layer whose errors name the flag."""
    from ..config import Flags

    return Flags({k: v for k, v in kw.items() if v is not None})
