"""Atomic file output: write to a temp file in the same directory, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed onto ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give outputs the usual umask-based mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_jsonl(path: str | os.PathLike, rows) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for r in rows:
                f.write(json.dumps(r, default=_jsonable) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp directory beside ``path``; on success it replaces ``path`` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(o: Any):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


@contextlib.contextmanager
def staged_outputs(out_dir: str | os.PathLike, replace: bool = False, what: str = "--out") -> Iterator[Path]:
    """Write a command's outputs into a hidden staging dir; on success move each entry into ``out_dir``.

    Before anything is yielded ``out_dir`` is checked and created (``make_out_dir``: a file, a path under a
    file or an unwritable place is one UserError), and staging dirs left by dead processes (SIGKILL) are
    removed. On error nothing is moved, the staging dir is removed, and so are the dirs this call created,
    so a failed command leaves no empty ``--out`` behind. With ``replace`` and a previous output of the same
    command in ``out_dir`` (its manifest.json names the same command as the new one), entries of the old
    run that the new run did not write are removed too: the dir then holds only the new run's files
    (hidden entries, e.g. another live run's staging dir, are left alone).
    """
    out = Path(out_dir)
    created = make_out_dir(out, what)
    try:
        clean_stale_staging(out)
        tmp = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=out))
    except OSError as e:
        _remove_created(created)
        raise _out_error(out, what, e) from None
    ok = False
    try:
        yield tmp
        stale = _stale_entries(out, tmp) if replace else []
        for entry in sorted(tmp.iterdir(), key=lambda p: p.name == "manifest.json"):  # manifest last
            dest = out / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(entry, dest)
        for p in stale:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        ok = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            _remove_created(created)


STAGING = ".staging-"


def _stale_entries(out: Path, tmp: Path) -> list[Path]:
    """Entries of ``out`` from a previous run of the same command that the new run (in ``tmp``) does not write."""
    def command(d: Path):
        try:
            return json.loads((d / "manifest.json").read_text()).get("command")
        except (OSError, ValueError, AttributeError):
            return None

    new = command(tmp)
    if new is None or command(out) != new:
        return []
    keep = {p.name for p in tmp.iterdir()}
    return [p for p in out.iterdir() if not p.name.startswith(".") and p.name not in keep]


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove ``out/.staging-PID-*`` dirs whose process is gone (killed mid-write), and staging dirs without a
    pid (written by earlier versions). A live process's staging dir is kept. Returns what was removed."""
    removed = []
    if not out.is_dir():
        return removed
    for p in out.iterdir():
        if not p.name.startswith(STAGING) or not p.is_dir():
            continue
        pid = p.name[len(STAGING):].partition("-")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _out_error(out: Path, what: str, e: OSError):
    from .errors import UserError

    return UserError(f"{what} {str(out)!r}: cannot create or write there ({e.strerror or e})")


def make_out_dir(out: str | os.PathLike, what: str = "--out") -> list[Path]:
    """Create the output dir ``out`` (and missing parents) and check it is writable; returns the dirs created,
    outermost first. A path that is a file, lies under a file, or cannot be created or written is one
    UserError naming it; on error nothing created here is left behind."""
    from .errors import UserError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {str(out)!r} is a file, expected a directory")
    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    if not p.is_dir():
        raise UserError(f"{what} {str(out)!r}: {str(p)!r} is a file, so no directory can be made under it")
    created: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        probe = tempfile.mkdtemp(prefix=".probe-", dir=out)  # writable? (root ignores mode bits; a
        os.rmdir(probe)  # read-only or virtual filesystem does not)
    except OSError as e:
        _remove_created(created)
        raise _out_error(out, what, e) from None
    return created


def check_out_dir(out: str | os.PathLike, what: str = "--out") -> None:
    """The checks of ``make_out_dir`` before any work is done, leaving nothing behind."""
    _remove_created(make_out_dir(out, what))


def _remove_created(created: list[Path]) -> None:
    for d in reversed(created):
        try:
            d.rmdir()  # only if empty: never remove what someone else wrote meanwhile
        except OSError:
            break


def read_jsonl_rows(path: str | os.PathLike, what: str = "a JSON object") -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank line of a jsonl file; a missing, unreadable or binary file, or a
    bad line, is a UserError naming it."""
    from .errors import UserError

    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file (expected JSON lines)")
    if p.is_dir():
        raise UserError(f"{path} is a directory, expected a JSON-lines file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    if b"\x00" in data:
        raise UserError(f"{path}: binary file (NUL bytes), expected JSON lines")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text, expected JSON lines") from None
    rows = []
    for ln, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{ln}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{ln}: expected {what}, got {type(row).__name__}")
        rows.append((ln, row))
    return rows
