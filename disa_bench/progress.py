"""Rich progress bars for long loops; ``bar(desc, total)`` yields an ``advance(n)`` callable."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterator

from rich.console import Console

console = Console(stderr=True)


@contextlib.contextmanager
def bar(desc: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    quiet = os.environ.get("DISA_BENCH_QUIET") == "1" or not sys.stderr.isatty()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False, disable=quiet) as prog:
        t = prog.add_task(desc, total=total)
        yield lambda n=1: prog.advance(t, n)
    if quiet and os.environ.get("DISA_BENCH_QUIET") != "1":
        console.print(f"{desc}: done" + (f" ({total})" if total else ""))
