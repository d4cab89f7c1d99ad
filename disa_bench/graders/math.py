"""Math grader: math-verify with boxed-answer priority, run in worker processes under an outer timeout.

The graded answer is the content of the *last* ``\\boxed{...}`` (or ``\\fbox{...}``) in the response; a
response without one falls back to math-verify's own extraction (LaTeX / plain expressions anywhere in the
text). Gold and answer are compared with ``math_verify.verify(gold, pred)`` (gold first: it is not symmetric),
plus an exact match of the normalized strings, so answers math-verify cannot parse (text answers) still count
when they are written identically.

math-verify's own timeouts use ``signal.alarm``, which fails off the main thread, so they are turned off and
every comparison runs in a small pool of worker processes instead: an item that runs past ``timeout_s`` gets
its worker killed (and replaced) and the verdict ``"timeout"`` with reward 0.

The same :func:`grade_many` / :class:`MathGrader` is the RL reward and the eval metric.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import re
import threading
import time
from multiprocessing.connection import wait

from ..types import Grade

GRADER_NAME = "math-verify-boxed-last"
GRADER_REV = 1
DEFAULT_TIMEOUT_S = 10.0


def grader_version() -> str:
    """E.g. ``math-verify-boxed-last/1 (math-verify 0.9.0, latex2sympy2_extended 1.11.0)``."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for p in ("math-verify", "latex2sympy2_extended"):
        try:
            parts.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            parts.append(f"{p} missing")
    return f"{GRADER_NAME}/{GRADER_REV} ({', '.join(parts)})"


# ---------------------------------------------------------------- answer extraction (pure string work)

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced braces) or ``\\boxed 5``; None if none."""
    if not text:
        return None
    matches = list(_BOXED.finditer(text))
    for m in reversed(matches):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                c = text[j]
                if c == "{" and text[j - 1] != "\\":
                    depth += 1
                elif c == "}" and text[j - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j].strip()
            continue  # unbalanced (e.g. truncated): try an earlier box
        m2 = re.match(r"[^\s$]+", text[i:])  # "\boxed 5"
        if m2:
            return m2.group(0).rstrip(".,")
    return None


def normalize(ans: str | None) -> str | None:
    """A light canonical string for exact matches and maj@k: no $, spaces, \\left/\\right, text wrappers."""
    if ans is None:
        return None
    s = str(ans).strip()
    s = s.replace("$", "").replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", "")
    s = re.sub(r"\\(left|right)\b", "", s)
    s = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", s).rstrip(".").lower()
    if re.fullmatch(r"-?\d+\.0+", s):  # 27.0 -> 27
        s = s.split(".")[0]
    return s


def gold_text(gold) -> str:
    """A reference answer as text: numbers lose a trailing .0 (amc23 stores 27.0), lists are joined."""
    if isinstance(gold, float) and gold.is_integer():
        return str(int(gold))
    if isinstance(gold, (list, tuple)):
        return ", ".join(gold_text(g) for g in gold)
    return str(gold).strip()


def _bare_math(text: str | None) -> bool:
    """A short one-line response with no prose words (after removing LaTeX commands): read it as LaTeX."""
    s = (text or "").strip()
    if not s or "\n" in s or len(s) > 200:
        return False
    return re.search(r"[A-Za-z]{3,}", re.sub(r"\\[A-Za-z]+", "", s)) is None


# ---------------------------------------------------------------- the comparison (runs in a worker)

_MV = None


def _mv():
    global _MV
    if _MV is None:
        import logging

        import math_verify
        from math_verify import grader as _g
        from math_verify import parser as _p

        _g.TIMEOUT_WARNING_SHOWN = True  # we disable its signal timeouts on purpose (outer timeout instead)
        _p.TIMEOUT_WARNING_SHOWN = True
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        _MV = math_verify
    return _MV


def _parse_gold(gold: str):
    mv = _mv()
    text = gold if ("$" in gold or "\\boxed" in gold) else f"${gold}$"
    parsed = mv.parse(text, parsing_timeout=None)
    if not parsed:
        parsed = mv.parse(f"\\boxed{{{gold}}}", parsing_timeout=None)
    return parsed


def grade_local(response: str, gold, exact: bool = True) -> Grade:
    """Grade in this process, without any timeout (call it from a worker, or where a hang is acceptable).

    ``exact=False`` skips the normalized-string shortcut, so only math-verify decides (used by the tests).
    """
    mv = _mv()
    gold = gold_text(gold)
    boxed = last_boxed(response or "")
    if exact and boxed is not None and normalize(boxed) == normalize(gold):
        return Grade(1.0, normalize(boxed), None, "ok", "exact match")
    try:
        if boxed is not None:
            pred = mv.parse(f"${boxed}$", parsing_timeout=None)
            if not pred:
                pred = mv.parse(f"\\boxed{{{boxed}}}", parsing_timeout=None)
            extracted = boxed
        else:
            if exact and normalize(response) == normalize(gold):  # the response is exactly the answer
                return Grade(1.0, normalize(response), None, "ok", "exact match")
            pred = mv.parse(response or "", parsing_timeout=None)
            if not pred and _bare_math(response):
                pred = mv.parse(f"${response.strip()}$", parsing_timeout=None)  # a bare LaTeX answer
            extracted = str(pred[-1]) if pred else None
        if exact and normalize(extracted) is not None and normalize(extracted) == normalize(gold):
            return Grade(1.0, normalize(extracted), None, "ok", "exact match")
        if not pred:
            return Grade(0.0, normalize(extracted), None, "parse_error", "no answer found" if boxed is None else "unparsable \\boxed{}")
        g = _parse_gold(gold)
        if not g:
            return Grade(0.0, normalize(extracted), None, "wrong", "gold answer not parsable by math-verify; no exact match")
        ok = mv.verify(g, pred, timeout_seconds=None)
    except Exception as e:  # noqa: BLE001 -- a grader bug must not kill an eval; recorded as verdict "error"
        return Grade(0.0, normalize(boxed), None, "error", f"{type(e).__name__}: {e}"[:200])
    return Grade(1.0 if ok else 0.0, normalize(extracted), None, "ok" if ok else "wrong", "")


# ---------------------------------------------------------------- worker pool with an outer timeout


def _worker(conn) -> None:
    _mv()
    conn.send("ready")  # item clocks start only once the imports are done
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        g = grade_local(*msg)
        conn.send((g.reward, g.answer, g.verdict, g.detail))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class MathGrader:
    """A pool of ``workers`` processes. ``grade_many`` keeps each busy with one item at a time and kills a
    worker whose item runs past ``timeout_s`` (verdict "timeout", reward 0), then starts a fresh one."""

    def __init__(self, workers: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.n = workers or max(1, min(8, _cpus()))
        self.timeout_s = timeout_s
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch / tokenizer threads
        self._procs: list = []  # (process, conn)
        self._lock = threading.Lock()

    def _start(self):
        a, b = self._ctx.Pipe()
        p = self._ctx.Process(target=_worker, args=(b,), daemon=True)
        p.start()
        b.close()
        return p, a

    @staticmethod
    def _await_ready(p, c, limit_s: float = 300.0) -> None:
        if not c.poll(limit_s) or c.recv() != "ready":
            p.kill()
            raise RuntimeError("math grader worker did not start")

    def _spawn(self):
        p, c = self._start()
        self._await_ready(p, c)
        return p, c

    def _ensure(self, n: int) -> None:
        self._procs = [(p, c) for p, c in self._procs if p.is_alive()]
        new = [self._start() for _ in range(n - len(self._procs))]  # start together, then wait for all
        for p, c in new:
            self._await_ready(p, c)
        self._procs += new

    def grade_many(self, items: list[tuple[str, object]], exact: bool = True) -> list[Grade]:
        """Grade ``(response, gold)`` pairs in parallel; the result order matches ``items``."""
        if not items:
            return []
        with self._lock:
            return self._run(items, exact)

    def _run(self, items, exact):
        out: list[Grade | None] = [None] * len(items)
        self._ensure(min(self.n, len(items)))
        todo = list(range(len(items)))[::-1]
        busy: dict = {}  # conn -> (proc, item index, start)
        idle = list(self._procs)
        while todo or busy:
            while todo and idle:
                p, c = idle.pop()
                i = todo.pop()
                c.send((items[i][0], items[i][1], exact))
                busy[c] = (p, i, time.monotonic())
            now = time.monotonic()
            next_deadline = min(s for _, _, s in busy.values()) + self.timeout_s
            ready = wait(list(busy), timeout=max(0.0, next_deadline - now))
            for c in ready:
                p, i, _ = busy.pop(c)
                try:
                    r, a, v, d = c.recv()
                    out[i] = Grade(r, a, None, v, d)
                    idle.append((p, c))
                except (EOFError, OSError):
                    out[i] = Grade(0.0, None, None, "error", "grader worker died")
                    self._replace(p, c, idle)
            now = time.monotonic()
            for c, (p, i, s) in list(busy.items()):
                if now - s >= self.timeout_s:
                    busy.pop(c)
                    out[i] = Grade(0.0, normalize(last_boxed(items[i][0] or "")), None, "timeout",
                                   f"grading took over {self.timeout_s:g}s")
                    self._replace(p, c, idle)
        return out  # type: ignore[return-value]

    def _replace(self, p, c, idle) -> None:
        p.kill()
        p.join(timeout=5)
        c.close()
        self._procs = [(q, d) for q, d in self._procs if q is not p]
        new = self._spawn()
        self._procs.append(new)
        idle.append(new)

    def close(self) -> None:
        for p, c in self._procs:
            try:
                c.send(None)
            except OSError:
                pass
        for p, c in self._procs:
            p.join(timeout=2)
            if p.is_alive():
                p.kill()
            c.close()
        self._procs = []


_DEFAULT: MathGrader | None = None


def default_grader() -> MathGrader:
    """The process-wide pool (started on first use, closed at exit). ``DISA_BENCH_GRADER_WORKERS`` sizes it."""
    global _DEFAULT
    if _DEFAULT is None:
        w = os.environ.get("DISA_BENCH_GRADER_WORKERS")
        _DEFAULT = MathGrader(workers=int(w) if w else None)
        atexit.register(_DEFAULT.close)
    return _DEFAULT


def grade_math(response: str, gold) -> Grade:
    """Grade one response (through the worker pool, with the outer timeout)."""
    return default_grader().grade_many([(response, gold)])[0]


def grade_many(items: list[tuple[str, object]], exact: bool = True) -> list[Grade]:
    return default_grader().grade_many(items, exact=exact)
