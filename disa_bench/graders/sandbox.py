"""Run one untrusted Python program and return a verdict: ``pass`` / ``fail`` / ``timeout`` / ``error`` / ``memory``.

What every run gets (see docs/sandbox.md for exactly what is and is not isolated):

* a fresh interpreter, ``sys.executable -I -X utf8 prog.py``, in its own fresh temp dir (the cwd, deleted after);
* a new session / process group (``start_new_session=True``); on the wall timeout, on an output overflow and
  after the program exits, the whole group is SIGKILLed and the child reaped;
* rlimits set in the child (``preexec_fn``): CPU seconds, address space, processes, file size, open files,
  no core dumps;
* when the harness runs as root (the common container case): the program runs as a **fresh unprivileged uid/gid**
  (unique per concurrent run, no supplementary groups). That is what makes ``RLIMIT_NPROC`` count (the kernel
  does not enforce it for root), stops the program from signalling the harness (``kill(getppid())`` gets EPERM),
  from reading the harness's ``/proc/<pid>/environ`` and root-only files, and lets the cleanup kill *every*
  process of that uid, including double-forked daemons that left the process group with ``setsid``;
* a new network namespace (only a down loopback) when ``unshare`` works here (probed at runtime; as non-root a
  user namespace is added), else ``network_isolated=False`` is recorded in every result;
* as root, a private mount namespace in which ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` (the
  world-writable dirs) are the run's own temp dir, and the ``hide`` paths (benchmark data) are covered by an
  empty read-only tmpfs; a Python environment under a dir the sandbox uid cannot search (a venv in a 0700
  ``mktemp -d`` clone, a pyenv under ``/root``) is grafted in read-only at its own path
  (:mod:`disa_bench.graders.sandbox_ns`);
* a scrubbed environment: only PATH, LANG/LC_ALL, HOME/TMPDIR (= the temp dir) and single-thread BLAS settings;
* captured stdout/stderr read incrementally with a cap (a program printing 1 GB is killed at the cap).

This is defence in depth against buggy and reward-hacking programs, not a security boundary against a
determined attacker with kernel exploits (no seccomp, world-readable files stay readable).
"""

from __future__ import annotations

import functools
import itertools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

from .sandbox_ns import Graft, env_dirs, make_preexec, plan_grafts, prepare_gates, visible_hides

VERDICTS = ("pass", "fail", "timeout", "error", "memory", "harness_error")  # harness_error: the sandbox itself failed

ENV_HINT = ("sandboxed programs cannot see this Python environment ({prefix}): as root they run under a fresh "
            "uid, which cannot search a parent dir of it (e.g. a 0700 mktemp dir), so code checks that import its "
            "packages fail with ModuleNotFoundError; make the parent dirs searchable (chmod o+x) or move the "
            "checkout (docs/sandbox.md)")
UID_BASE = int(os.environ.get("DISA_BENCH_SANDBOX_UID_BASE", "1000000"))  # fresh uids start here


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock, whole program
    cpu_s: float | None = None  # RLIMIT_CPU per process; default ceil(timeout_s) + 1
    memory_mb: int = 2048  # RLIMIT_AS (address space; numpy alone maps ~0.3 GB)
    nproc: int = 32  # RLIMIT_NPROC (processes + threads of the sandbox uid)
    fsize_mb: int = 16  # RLIMIT_FSIZE: largest file the program may write
    nofile: int = 64  # RLIMIT_NOFILE
    stdout_bytes: int = 4 << 20  # captured stdout cap; past it the program is killed ("output limit exceeded")
    stderr_bytes: int = 64 << 10  # captured stderr cap (the rest is read and dropped)


@dataclass
class RunResult:
    verdict: str  # pass / fail / timeout / error / memory
    reason: str  # short, one line
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    stdout_truncated: bool = False
    network_isolated: bool = False
    isolation: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- low-level helpers (parent side)

def _proc_uids() -> dict[int, int]:
    """pid -> real uid of every process, from /proc/<pid>/status (the owner of /proc/<pid> itself turns to root
    for a process that makes itself non-dumpable, so it cannot be trusted)."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            out[int(name)] = int(line.split()[1])
                            break
            except (OSError, ValueError, IndexError):
                pass
    return out


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        return s[s.rindex(b")") + 2:s.rindex(b")") + 3] in (b"Z", b"X")
    except (OSError, ValueError):
        return True


def _pids_with_token(token: str) -> list[int]:
    """Processes (of our own uid) whose initial environment carries ``token`` (non-root cleanup)."""
    hit = []
    needle = token.encode()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if needle in f.read():
                        hit.append(int(name))
            except OSError:
                pass
    return hit


_uid_lock = threading.Lock()
_uid_counter = itertools.count()
_uids_in_use: set[int] = set()


def _alloc_uid() -> int:
    """A uid no live process uses and no concurrent run of this process holds."""
    with _uid_lock:
        live = set(_proc_uids().values())
        for _ in range(10000):
            uid = UID_BASE + (os.getpid() % 100000) * 64 + next(_uid_counter) % 64
            if uid not in live and uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid
        raise RuntimeError("no free sandbox uid")


def _free_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def _kill_uid(uid: int, deadline_s: float = 3.0) -> int:
    """SIGKILL every process owned by ``uid`` until none is left alive; returns how many were found."""
    found = 0
    end = time.monotonic() + deadline_s
    while True:
        alive = [p for p, u in _proc_uids().items() if u == uid and not _is_zombie(p)]
        if not alive:
            return found
        found = max(found, len(alive))
        for p in alive:  # root may signal anyone; a fork racing this loop is caught on the next pass
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > end:
            return found
        time.sleep(0.01)


def _kill_token(token: str, deadline_s: float = 3.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        alive = [p for p in _pids_with_token(token) if not _is_zombie(p)]
        if not alive:
            return
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


# ---------------------------------------------------------------- runtime probe


def isolation_status() -> dict:
    """Which isolation features work on this machine (probed once per process with real child processes).

    Keys: ``root``, ``uid_switch`` (program runs as a fresh unprivileged uid), ``network_isolated`` (new net
    namespace), ``userns`` (net namespace needs a user namespace: non-root), ``mount_ns`` (private /tmp),
    ``nproc_enforced``, ``env_visible`` (sandboxed programs see this Python environment: its sys.prefix and
    sys.base_prefix, so its site-packages such as numpy; when False a RuntimeWarning says why, and import failures
    in results say so), ``env_remapped`` (the environment lies under a dir the sandbox uid cannot search and is
    grafted read-only into each run's mount namespace: :mod:`disa_bench.graders.sandbox_ns`).
    """
    return _probe()[0]


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[dict, tuple[Graft, ...]]:
    """(isolation_status, the env grafts every run uses)."""
    root = os.geteuid() == 0
    st = {"root": root, "uid_switch": False, "network_isolated": False, "userns": False, "mount_ns": False,
          "env_visible": False, "env_remapped": False}
    grafts: tuple[Graft, ...] = ()
    lim = Limits(timeout_s=10)
    wd = tempfile.mkdtemp(prefix="disa_sbx_probe_")
    try:
        os.chmod(wd, 0o777)

        def ok(uid, netns, userns, mountns, argv, grafts=()) -> bool:
            try:
                r = subprocess.run(argv, cwd=wd, env=_base_env(wd), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20,
                                   preexec_fn=make_preexec(lim, uid, netns, userns, mountns, wd, (), grafts))
                return r.returncode == 0
            except (OSError, subprocess.SubprocessError):
                return False

        py = [sys.executable, "-I", "-c", "pass"]
        # whether sandboxed programs see this environment, not only start: as root the fresh uid cannot read a venv
        # (or a pyenv) under a dir other users cannot search, and Python then falls back to another prefix
        want = (sys.prefix, sys.base_prefix)
        sees_env = [sys.executable, "-I", "-c", f"import sys; sys.exit((sys.prefix, sys.base_prefix) != {want!r})"]
        if root:
            uid = _alloc_uid()
            try:
                st["uid_switch"] = ok(uid, False, False, False, py)
                u = uid if st["uid_switch"] else None
                st["network_isolated"] = ok(u, True, False, False, py)
                # the grafts that make this environment reachable by the uid inside the mount namespace; without
                # them a venv under /tmp is not even found there (/tmp is the run's own dir)
                grafts = plan_grafts(env_dirs()) if u is not None else ()
                prepare_gates(grafts, wd)
                if grafts and ok(u, False, False, True, py, grafts):
                    st["mount_ns"] = True
                else:  # cannot be mounted here: no grafts, the old warning path
                    grafts = ()
                    st["mount_ns"] = ok(u, False, False, True, py)
                st["env_remapped"] = bool(grafts)
                st["env_visible"] = ok(u, False, False, st["mount_ns"], sees_env, grafts)
            finally:
                _kill_uid(uid)
                _free_uid(uid)
        else:
            st["network_isolated"] = ok(None, True, True, False, py)
            st["userns"] = st["network_isolated"]
            st["env_visible"] = ok(None, False, False, False, sees_env)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    st["nproc_enforced"] = st["uid_switch"]
    if not st["env_visible"]:
        import warnings

        warnings.warn(ENV_HINT.format(prefix=sys.prefix), RuntimeWarning, stacklevel=3)
    return st, grafts


def _base_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


# ---------------------------------------------------------------- running one program


def _classify(rc: int | None, stderr: str, timed_out: bool, over: bool, limits: Limits) -> tuple[str, str]:
    if timed_out:
        return "timeout", f"wall time limit {limits.timeout_s:g}s exceeded"
    if over:
        return "fail", f"output limit exceeded (> {limits.stdout_bytes} bytes)"
    last = next((ln.strip() for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
    if rc == 0:
        return "pass", ""
    if rc is not None and rc < 0:
        sig = -rc
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit exceeded (SIGXCPU)"
        if sig == signal.SIGXFSZ:
            return "error", f"file size limit exceeded ({limits.fsize_mb} MB, SIGXFSZ)"
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return "memory", f"out of memory ({limits.memory_mb} MB), killed by {name}"
        return "error", f"killed by {name}"
    if "MemoryError" in last or "Cannot allocate memory" in stderr or "std::bad_alloc" in stderr:
        return "memory", f"memory limit ({limits.memory_mb} MB) exceeded: {last[:200]}"
    if last.startswith("AssertionError"):
        return "fail", last[:200]
    if last.startswith("ModuleNotFoundError") and not isolation_status()["env_visible"]:
        return "harness_error", f"{last[:120]} (the sandbox cannot read {sys.prefix}: see docs/sandbox.md)"
    return "error", (last[:200] or f"exit status {rc}")


def run_python(source: str, stdin: str | bytes = "", limits: Limits = Limits(), files: dict[str, str] | None = None,
               hide: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> RunResult:
    """Run ``source`` as ``prog.py`` in a fresh sandboxed interpreter, feeding ``stdin``.

    ``files`` are extra files written into the temp dir (name -> text) before the run; ``hide`` are directories
    covered by an empty tmpfs inside the run (needs the mount namespace; ignored otherwise); ``args`` become
    ``sys.argv[1:]``.
    Verdict: ``pass`` = exit status 0; ``fail`` = AssertionError or output limit; ``timeout``; ``memory``;
    ``error`` = any other non-zero exit / signal. ``stdout`` is decoded UTF-8 (errors replaced).
    """
    iso = isolation_status()
    workdir = tempfile.mkdtemp(prefix="disa_sbx_")
    uid = _alloc_uid() if iso["uid_switch"] else None
    token = f"DISA_SBX_{os.getpid()}_{id(workdir)}_{time.monotonic_ns()}"
    t0 = time.monotonic()
    proc = None
    try:
        with open(os.path.join(workdir, "prog.py"), "w", encoding="utf-8") as f:
            f.write(source)
        for name, text in (files or {}).items():
            with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
                f.write(text)
        stdin_path = os.path.join(workdir, ".stdin")
        with open(stdin_path, "wb") as f:
            f.write(stdin.encode() if isinstance(stdin, str) else stdin)
        if uid is not None:
            for name in os.listdir(workdir):
                os.chown(os.path.join(workdir, name), uid, uid)
            os.chown(workdir, uid, uid)
            os.chmod(workdir, 0o700)
        grafts = _probe()[1]  # non-empty only as root with a mount namespace
        prepare_gates(grafts, workdir)
        env = _base_env(workdir)
        if uid is None:
            env["DISA_SANDBOX_TOKEN"] = token  # lets the non-root cleanup find escaped processes
        preexec = make_preexec(limits, uid, iso["network_isolated"], iso["userns"], iso["mount_ns"], workdir,
                               visible_hides(tuple(hide), grafts) if iso["mount_ns"] else (), grafts)
        with open(stdin_path, "rb") as fin:
            try:
                proc = subprocess.Popen([sys.executable, "-I", "-X", "utf8", "prog.py", *args], cwd=workdir, env=env,
                                        stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True, preexec_fn=preexec, close_fds=True)
            except (OSError, subprocess.SubprocessError) as e:
                if hide:  # a path that cannot be covered must not turn every program into an error
                    return run_python(source, stdin, limits, files, (), args)
                return RunResult("harness_error", f"sandbox could not start the program: {e}"[:200], None, "", "",
                                 time.monotonic() - t0, False, iso["network_isolated"], dict(iso))
        out, err, timed_out, over = _communicate(proc, limits, t0, uid, token)
        rc = proc.returncode
        verdict, reason = _classify(rc, err, timed_out, over, limits)
        return RunResult(verdict, reason, rc, out, err, time.monotonic() - t0, over, iso["network_isolated"],
                         dict(iso))
    finally:
        if proc is not None:
            _cleanup(proc, uid, token)
        if uid is not None:
            _free_uid(uid)
        shutil.rmtree(workdir, ignore_errors=True)


def _killall(proc, uid, token) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if uid is not None:
        _kill_uid(uid)
    else:
        _kill_token(token)


def _cleanup(proc, uid, token) -> None:
    _killall(proc, uid, token)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for s in (proc.stdout, proc.stderr):
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def _communicate(proc, limits: Limits, t0: float, uid, token) -> tuple[str, str, bool, bool]:
    """Read stdout/stderr incrementally with caps until the program exits, the wall limit passes or stdout overflows."""
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    caps = {proc.stdout.fileno(): limits.stdout_bytes, proc.stderr.fileno(): limits.stderr_bytes}
    out_fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    deadline = t0 + limits.timeout_s
    timed_out = over = False
    exited_at = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                _killall(proc, uid, token)  # the program is done: its leftovers go now (they may hold the pipes)
            if exited_at is not None and now - exited_at > 1.0:
                break  # pipes still open after everything was killed: give up on the rest
            if exited_at is None and now >= deadline:
                timed_out = True
                break
            wait = 0.05 if exited_at is None else 0.02
            for key, _ in sel.select(timeout=min(wait, max(0.0, deadline - now)) if exited_at is None else wait):
                fd = key.fd
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(fd)
                    continue
                room = caps[fd] + 1 - len(bufs[fd])
                if room > 0:
                    bufs[fd] += chunk[:room]
                if fd == out_fd and len(bufs[fd]) > caps[fd]:
                    over = True
            if over:
                break
    finally:
        sel.close()
    if timed_out or over or proc.poll() is None:
        _killall(proc, uid, token)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    out = bytes(bufs[out_fd][: limits.stdout_bytes]).decode("utf-8", "replace")
    err = bytes(bufs[proc.stderr.fileno()][: limits.stderr_bytes]).decode("utf-8", "replace")
    return out, err, timed_out, over


def leftover_processes(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (for tests and sanity checks)."""
    hit = []
    m = marker.encode()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if m in f.read() and not _is_zombie(int(name)):
                        hit.append(int(name))
            except OSError:
                pass
    return hit

