"""The sandboxed child's setup, run after fork and before exec: namespaces, mounts, rlimits, the uid switch.

Used by :mod:`disa_bench.graders.sandbox` (see docs/sandbox.md). Besides the network / mount namespaces, the
shadowed world-writable dirs and the hidden benchmark dirs, this module makes **this Python environment visible
to the sandbox uid** when it lies under a directory other users cannot search (a venv in a 0700 ``mktemp -d``
clone, a pyenv under ``/root``). Path lookup needs search permission on every parent directory, so without this a
program running as the fresh uid cannot even read ``pyvenv.cfg`` and every import from the venv fails.

The fix, inside the run's private mount namespace only (nothing changes outside it): for each directory the
interpreter reads (:func:`env_dirs`: prefix, base prefix, the executable's dirs, every ``sys.path`` entry of
``python -I``), the *shallowest* parent the sandbox uid cannot search (the "gate") is covered by a fresh tmpfs
(root-owned, 0755, read-only once built) holding only a skeleton of directories down to the needed one, which is
bind-mounted there **read-only at its own path**. So the program sees the same paths as the harness (the venv's
``pyvenv.cfg``, ``.pth`` files and editable installs resolve unchanged), and:

* nothing else under a gate becomes reachable: the tmpfs hides its other entries (the uid could not reach them
  before either);
* the exposed dirs are read-only mounts on top of their unchanged file permissions (a 0600 file stays unreadable);
  the bind is not recursive, so no writable submount is carried along;
* the gates' real permissions are not touched.

Simplified: only directories are grafted; a needed dir that itself denies other users read/search stays invisible
(then ``env_visible`` is False and the old warning explains it); the run's temp dir must not lie under a gate
(``TMPDIR`` under ``/root``): its path would be covered, though the program still starts in it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import math
import os
import resource
import stat
import subprocess
import sys
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_KEEPCAPS = 8
_CAP_V3 = 0x20080522

# world-writable dirs that are replaced by the run's own temp dir inside the mount namespace
SHADOWED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]


def _caps_effective_eq_permitted():
    """(header, data) for capset(2): our own permitted set as effective, nothing inheritable."""
    hdr = (ctypes.c_uint32 * 2)(_CAP_V3, 0)
    data = (ctypes.c_uint32 * 6)()
    if _libc.capget(hdr, data) != 0:
        return None
    data[0], data[2], data[3], data[5] = data[1], 0, data[4], 0  # [eff0, perm0, inh0, eff1, perm1, inh1]
    return hdr, data


# ---------------------------------------------------------------- the environment's dirs and their grafts


@dataclass(frozen=True)
class Graft:
    gate: str  # shallowest dir on the way to ``target`` that other users cannot search: gets a skeleton tmpfs
    target: str  # a dir the interpreter reads: bind-mounted read-only at its own path inside the gate
    noexec: bool  # the source mount is noexec (kept on the bind)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def _others_can_search(path: str) -> bool:
    """The sandbox uid is neither owner nor in the group (fresh uid/gid, no supplementary groups): 'other' bits."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_IXOTH)


@functools.lru_cache(maxsize=1)
def env_dirs() -> tuple[str, ...]:
    """Existing directories the sandboxed ``python -I`` reads: sys.prefix, sys.base_prefix, the exec prefixes, the
    dirs of every link from ``sys.executable`` to the real binary, and its ``sys.path`` (asked of a real
    ``python -I``, so ``.pth`` entries count and the harness's own path additions do not). Both the path as given
    and its realpath."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    code = "import json, sys; print(json.dumps(sys.path))"
    try:
        paths += json.loads(subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                                           timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        paths += sys.path
    exe = os.path.abspath(sys.executable)
    for _ in range(40):  # the venv's bin/python -> python3 -> /root/.pyenv/versions/X/bin/python3.11
        paths.append(os.path.dirname(exe))
        if not os.path.islink(exe):
            break
        exe = os.path.normpath(os.path.join(os.path.dirname(exe), os.readlink(exe)))
    out = set()
    for p in paths:
        if isinstance(p, str) and os.path.isabs(p):
            out.update(q for q in (os.path.normpath(p), os.path.realpath(p)) if q != os.sep and os.path.isdir(q))
    return tuple(sorted(out))


def _shadow_tops() -> set[str]:
    return {os.path.realpath(d) for d in SHADOWED_DIRS if os.path.isdir(d)}


def plan_grafts(dirs) -> tuple[Graft, ...]:
    """The grafts that make ``dirs`` reachable inside the namespace by a uid that may only use 'other' permissions,
    shallowest first.

    The gate of a dir is the shallowest parent the uid cannot search, or the entry right under a shadowed dir
    (``/tmp/X`` of a clone under ``/tmp``: there ``/tmp`` is the run's own temp dir), which may be the dir itself
    (then it is bound without a skeleton). A dir reachable already gets no graft. A dir inside an earlier graft's
    target needs one only if a dir between the two is unsearchable; its gate is below that target."""
    out: list[Graft] = []
    tops = _shadow_tops()
    for t in sorted(set(dirs), key=lambda p: (p.count(os.sep), p)):
        base = max((g.target for g in out if _under(t, g.target)), key=len, default=os.sep)
        if t == base:
            continue
        parts = t[len(base):].strip(os.sep).split(os.sep)
        chain = [os.path.join(base, *parts[:i + 1]) for i in range(len(parts))]  # ends with t itself
        gate = next((a for a in chain if os.path.dirname(a) in tops or (a != t and not _others_can_search(a))),
                    None)
        if gate is not None:
            out.append(Graft(gate, t, bool(os.statvfs(t).f_flag & os.ST_NOEXEC)))
    return tuple(out)


def prepare_gates(grafts: tuple[Graft, ...], workdir: str) -> None:
    """Gates under a shadowed dir (a clone under ``/tmp``) do not exist in the namespace, where ``/tmp`` is the run's
    own temp dir: create them there (root-owned, 0755; the tmpfs goes on top). Call after chowning the workdir."""
    for gate in sorted({g.gate for g in grafts}):
        for d in SHADOWED_DIRS:
            top = os.path.realpath(d)
            if os.path.isdir(d) and gate != top and _under(gate, top):
                path = workdir
                for part in os.path.relpath(gate, top).split(os.sep):
                    path = os.path.join(path, part)
                    os.makedirs(path, exist_ok=True)
                    os.chmod(path, 0o755)


def visible_hides(hide: tuple[str, ...], grafts: tuple[Graft, ...]) -> tuple[str, ...]:
    """``hide`` dirs that still exist inside the namespace: one under a gate or a shadowed dir but in no graft is
    gone there anyway (and covering it would fail)."""
    covered = [g.gate for g in grafts] + sorted(_shadow_tops())
    return tuple(h for h in hide if not any(_under(os.path.realpath(h), c) for c in covered)
                 or any(_under(os.path.realpath(h), g.target) for g in grafts))


def _skeleton(g: Graft) -> list[bytes]:
    """The dirs a graft's skeleton holds: below its gate, down to its target (none when the gate is the target)."""
    parts = [] if g.gate == g.target else os.path.relpath(g.target, g.gate).split(os.sep)
    return [os.path.join(g.gate, *parts[:i + 1]).encode() for i in range(len(parts))]


# ---------------------------------------------------------------- the child's setup (runs after fork, before exec)


def make_preexec(limits, uid: int | None, netns: bool, userns: bool, mountns: bool, workdir: str,
                 hide: tuple[str, ...], grafts: tuple[Graft, ...] = ()):
    """The ``preexec_fn`` for one run: unshare, mounts (shadowed dirs, env grafts, hidden dirs), rlimits, uid."""
    cpu = int(limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 1)
    rl = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (limits.memory_mb << 20,) * 2),
        (resource.RLIMIT_FSIZE, (limits.fsize_mb << 20,) * 2),
        (resource.RLIMIT_NOFILE, (limits.nofile,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if uid is not None:  # counted per uid: only meaningful (and only enforced) under our own fresh uid
        rl.append((resource.RLIMIT_NPROC, (limits.nproc,) * 2))
    flags = (CLONE_NEWNET if netns else 0) | (CLONE_NEWUSER if userns else 0) | (CLONE_NEWNS if mountns else 0)
    wd = workdir.encode()
    # a dir holding the workdir is bound last: after that the workdir's own path no longer resolves
    shadow = sorted((d for d in SHADOWED_DIRS if os.path.isdir(d)),
                    key=lambda d: os.path.realpath(workdir).startswith(os.path.realpath(d) + os.sep))
    shadow = [d.encode() for d in shadow]
    # ...and becomes the cwd, so getcwd() and the script path resolve inside the namespace
    new_cwd = shadow[-1] if shadow and os.path.realpath(workdir).startswith(
        os.path.realpath(shadow[-1].decode()) + os.sep) else None
    hidden = [h.encode() for h in hide if os.path.isdir(h)]
    grafts = grafts if mountns else ()
    # per graft: the target, the skeleton dirs from its gate (exclusive) down to it, and its read-only remount flags
    graft_plan = [(g.gate.encode() if g.gate != g.target else None, g.target.encode(), _skeleton(g),
                   MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | (MS_NOEXEC if g.noexec else 0))
                  for g in grafts]
    o_path = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    chdir, open_, mkdir, chmod = os.chdir, os.open, os.mkdir, os.chmod
    unshare, mount, get_errno, prctl, capset = _libc.unshare, _libc.mount, ctypes.get_errno, _libc.prctl, _libc.capset
    # Keep our capabilities across setuid until execve (like setpriv(1)): the exec path may lie under a dir the
    # new uid cannot search (a pyenv in /root). execve as a non-root uid then drops every capability.
    caps = _caps_effective_eq_permitted() if uid is not None else None
    setrlimit, setgroups, setgid, setuid = resource.setrlimit, os.setgroups, os.setgid, os.setuid
    tmpfs, none = b"tmpfs", b"none"
    skel_opts, skel_flags = b"size=64k,nr_inodes=256,mode=0755", MS_NOSUID | MS_NODEV | MS_NOEXEC

    def check(rc, what):
        if rc != 0:
            raise OSError(get_errno(), what)

    def preexec():  # no imports, no locks: we are in a freshly forked child of a maybe-threaded parent
        if flags:
            check(unshare(flags), "unshare failed")
            if mountns:
                fds = [open_(t, o_path) for _, t, _, _ in graft_plan]  # the real dirs, before anything covers them
                check(mount(none, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate / failed")
                for d in shadow:
                    check(mount(wd, d, None, MS_BIND, None), "bind mount failed")
                if new_cwd is not None:
                    chdir(new_cwd)
                gates = []
                for (gate, target, skeleton, ro), fd in zip(graft_plan, fds):
                    if gate is not None and gate not in gates:
                        check(mount(tmpfs, gate, tmpfs, skel_flags, skel_opts), "skeleton tmpfs mount failed")
                        gates.append(gate)
                    for d in skeleton:
                        try:
                            mkdir(d, 0o755)
                        except FileExistsError:
                            pass
                        chmod(d, 0o755)
                    check(mount(b"/proc/self/fd/" + str(fd).encode(), target, None, MS_BIND, None), "graft failed")
                    check(mount(none, target, None, ro, None), "read-only remount of a graft failed")
                for gate in gates:
                    check(mount(none, gate, None, MS_BIND | MS_REMOUNT | MS_RDONLY | skel_flags, None),
                          "read-only remount of a skeleton failed")
                for h in hidden:
                    check(mount(tmpfs, h, tmpfs, MS_RDONLY | MS_NOSUID | MS_NODEV, b"size=4k,mode=0555"),
                          "tmpfs mount failed")
        for what, lim in rl:
            setrlimit(what, lim)
        if uid is not None:
            if caps is not None:
                prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
            setgroups([])
            setgid(uid)
            setuid(uid)
            if caps is not None and capset(caps[0], caps[1]) != 0:
                raise OSError(get_errno(), "capset failed")

    return preexec
