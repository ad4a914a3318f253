"""The warm sandbox worker ("zygote"): imports some solver libraries once, then forks one
fresh, confined child per program.

Run by `solvers.executor` as `python -I solvers/sandbox.py`; it is a script, not part of
the import path of `solvers`, and it imports nothing from this repository except
`solvers/confine.py` (Landlock and seccomp, loaded by path), so it works from any cwd and
with `-I`. It speaks length-prefixed JSON over its stdin/stdout: first a config message
(which solver modules and preludes to load), then it answers "ready" with the layers it
could activate, then one request -> one reply. It reports raw facts (exit status, signal,
captured output, the child's authenticated record and solver events, page faults);
`solvers.executor` turns them into an `ExecutionResult`.

Speed (why it is built this way). On this project's VMs a page fault costs ~7 us, so a
short program's cost is mostly the copy-on-write faults of its forked process, not the
program itself. Hence:
  * the executor runs one kind of worker per solver backend (a z3 program forks from a
    process that never imported sympy: fewer pages to map and to copy);
  * pre-forking: while program N runs, the worker already forks the child for program
    N+1 (the "spare"), which confines itself (Landlock, seccomp) and does all
    program-independent setup, then blocks reading its request from a pipe. Program N
    cannot touch it: the spare is in a Landlock domain of its own (no signals, no ptrace,
    no /proc across domains) and, as root, it stays root until its request arrives (the
    program runs as the sandbox uid). A spare never runs more than one program, is killed
    when the worker shuts down (and dies with the worker through PDEATHSIG). Without that
    protection (no uid switch and Landlock older than ABI 6) the worker forks on demand.
  * whatever can be prepared once is: the seccomp filter everything shares is loaded into
    the worker itself (children inherit it for free), each program's Landlock ruleset is
    built by the worker before the fork (the child only enforces it: two syscalls), and
    the program's own small seccomp filter is compiled once.
  Tried and dropped (no throughput gain, measured): pre-touching in the spare the memory
  most programs write (moves ~450 faults off the critical path but adds ~650), and doing
  the imports in a helper thread so children allocate from a clean malloc arena (more
  faults, not fewer).

What each program runs inside. Three modes; `sandbox_info()` in the executor reports
which layers are active on the machine, `l2l doctor` prints them, and the executor refuses
to run programs when no layer beyond the Python one is active (`--unsafe-exec` overrides).

Every mode, when the kernel offers it (Landlock: Linux 5.13+, ABI 6 for signal scoping;
seccomp needs libseccomp and the `pyseccomp` binding; see `solvers/confine.py` for the
exact lists):
  * Landlock: the program reads only the Python installation, the system libraries and
    its own work directory, and writes only its work directory and /dev/null. The
    repository, ../shared (benchmarks with gold answers), $HOME (~/.ssh, tokens), /tmp,
    run outputs, /proc (other processes' environ, /proc/self/mem) and /sys are out of
    reach -- with or without `dir_fd`, through Python or through ctypes. No TCP bind or
    connect; no signal, abstract UNIX socket or ptrace across the program's domain (so not
    to the caller, the worker or the spare child).
  * seccomp: no sockets at all (AF_UNIX socketpair only), no ptrace/process_vm_*, bpf,
    io_uring, perf_event_open, userfaultfd, keyrings, namespaces (unshare/setns, clone
    flags), mount, execve, memfd_create, SysV/POSIX message IPC, and no new processes
    (threads only): a program is one process, so RLIMIT_AS (= memory_mb) caps its total
    memory and a fork bomb cannot start.
  * rlimits: CPU (timeout+1 s soft, +2 s hard), AS (= memory_mb), NPROC, FSIZE (16 MiB,
    also caps stdout/stderr), NOFILE (64), CORE (0).
  * own session and process group (setsid); PR_SET_PDEATHSIG=SIGKILL so it dies with the
    worker; the worker is a child subreaper and kills and reaps anything left over when
    the program ends, times out or crashes.
  * stdin is /dev/null; stdout/stderr are anonymous memfds read by the worker afterwards,
    so a program that closes or floods them only hurts itself.
  * cwd is a fresh, empty directory, removed afterwards; HOME and TMPDIR point there;
    the environment is rebuilt from scratch (PATH, LANG, HOME, TMPDIR only) -- the
    caller's environment never reaches the worker either (executor starts it with a
    minimal env).
  * all file descriptors of the worker (its request pipe included) are closed.
  * the record: the child's final record (how the program ended) and the solver events
    the prelude reports go through a pipe the program can write to but not read, as
    lines that start with a per-run random nonce; the first line, written before the
    program exists, tells the worker the nonce, and lines without it are dropped. See
    "The record" below for what this does and does not guarantee.

Root (the default on this project's CI and containers), in addition:
  * the worker is PID 1 of a PID namespace of its own (the executor creates it; see
    `executor._Spawner`), with a fresh /proc that shows only that namespace. When the
    worker dies -- however it dies -- the kernel kills every process in the namespace,
    so nothing a program starts can outlive its worker or its caller.
  * a network namespace (only a downed loopback), a mount namespace (every mount
    re-mounted read-only; the work area is a private, size-capped tmpfs), an IPC
    namespace;
  * each program runs as its own unprivileged uid/gid (unique per pool slot, no
    supplementary groups, PR_SET_NO_NEW_PRIVS): it cannot signal or ptrace a process that
    is not its own, and root-only files stay closed even where Landlock is missing.
  * oom_score_adj=500 so the kernel OOM killer prefers sandboxed programs.

Not root: the worker enters an unprivileged user+network namespace where the kernel
allows it (no network at all; where it does not -- Docker's default seccomp profile,
Ubuntu's AppArmor restriction -- the seccomp filter still refuses every socket). No PID
namespace, no mount namespace, no uid switch: the program runs as the caller's uid and
Landlock + seccomp are what stop it from reading the caller's files, writing outside its
directory, or signalling the caller. Without Landlock (kernel < 5.13 or disabled), only
the Python layer below guards files, and it is bypassable through ctypes:
`sandbox_info()["gaps"]` says so and the executor warns. The work directory is on the
caller's $TMPDIR: files the program writes there are capped at 16 MiB each, not in number.

`L2L_SANDBOX_UNPRIVILEGED=1` while root tests the non-root path as a real non-root user:
the worker makes the Python installation reachable (a private mount namespace, as in root
mode), then drops itself for good to its sandbox uid before anything else, and continues
exactly as a non-root worker. It never runs a program as root.

Python layer (an extra guard, not a security boundary)
  A `sys.addaudithook` hook, installed after the prelude and before the program, raises
  `SandboxViolation` (a PermissionError) on: sockets, subprocess/os.system/os.exec*/
  os.posix_spawn/os.fork, os.kill/killpg/pthread_kill, setrlimit, opening a file for
  reading outside the read roots above or for writing outside the program's directory,
  opening a directory outside it (a `dir_fd` base), any path call given a `dir_fd`, and
  the introspection that leads to the recorder's state: sys._getframe,
  sys._current_frames, gc.get_objects/get_referrers/get_referents, tb_frame, gi_frame,
  cr_frame, ag_frame, gi_code, sys.settrace/setprofile and sys.addaudithook (denials of
  frame access are also ValueErrors, so the standard library's own fallbacks for
  `sys._getframe` -- namedtuple, typing, logging -- keep working; `__code__` stays readable:
  inspect.signature and sympy need it, and it holds no state). An uncaught violation
  yields status "blocked". ctypes is allowed (z3 is a ctypes binding), so native code can
  bypass this layer; the kernel layers above are what hold.

The record (issue 14: solver events a program cannot forge)
  While the worker runs a backend's prelude, its namespace holds `__l2l_record__(event)`;
  the prelude keeps it in a closure and the name is deleted before any program runs.
  It is the `send` of a generator whose frame alone holds the nonce and the descriptor;
  events are flat dicts of plain values (at most 200, strings cut at 500 characters),
  serialised without calling any code the program could have replaced. What holds: a
  program cannot write a valid line to any descriptor (it never sees the nonce: the
  pipe is write-only for it, /proc/self/fd and /proc/self/mem are out of reach, frames
  and gc are denied), cannot call the recorder by any global name, and cannot redirect
  descriptor 3 to a file it can read (the recorder checks the pipe's inode). What does
  not: these are Python objects in the program's own process. A program can reach the
  recorder through the closures of the prelude's helpers (`__closure__` raises no audit
  event) and call it with events of its choosing, can replace the solver classes the
  helpers call, can read the nonce from memory with ctypes, and a Python signal handler
  that fires while the recorder runs is handed the recorder's frame. So the record stops
  accidents and casual gaming (printing an answer without solving), not a program
  written to defeat it. The final record (how the program ended) goes through the same
  channel, keyed by an object only the child's own frame holds; a program can suppress
  it (os._exit) but not forge it, and the executor then judges by exit status alone.

Not covered in any mode: CPU time of the machine is shared (a program gets up to
timeout_s of one core); side channels; kernel exploits; metadata (stat() and
os.path.exists() work anywhere); a total memory cap that includes kernel buffers beyond
RLIMIT_AS (pipe buffers, the 256 MiB work tmpfs in root mode) -- there is no cgroup
leaf per program yet (`confine.cgroup_status()` says whether the machine could offer one).
"""

from __future__ import annotations

import builtins
import ctypes
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
F_SETPIPE_SZ = 1031

OUTPUT_FILE_LIMIT = 16 * 1024 * 1024  # RLIMIT_FSIZE: caps each file the program writes, stdout included
NOFILE_LIMIT = 64
NPROC_LIMIT = 32
WORKDIR_TMPFS_SIZE = "256m"
RECORD_FD = 3  # write end of the record pipe (nonce-authenticated lines)
REQUEST_FD = 4  # the spare child reads its request here
RECORD_PIPE_SIZE = 256 * 1024
RECORD_READ_CAP = 1 << 20  # bytes of the record pipe the worker reads (the rest is the program's noise)
EVENT_CAP = 200  # solver events kept per run
EVENT_CHARS = 500  # characters kept of each string in an event
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _load_confine():
    """solvers/confine.py, by path: this script runs with -I and imports nothing by name
    from the repository."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "confine.py")
    spec = importlib.util.spec_from_file_location("_l2l_confine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- protocol
def _read_exact(fd: int, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv(fd: int):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _send(fd: int, msg) -> None:
    data = json.dumps(msg).encode()
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


# --------------------------------------------------------------------------- isolation (once, in the worker)
def _mount(src, target, fstype, flags, data=None) -> bool:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    return _libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) == 0


def _mountpoints() -> list[tuple[str, set[str]]]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            # mount point field is octal-escaped (\040 for space)
            point = parts[4].encode().decode("unicode_escape")
            points.append((point, set(parts[5].split(","))))
    return points


def _expose_python(paths: list[str]) -> None:
    """Make the interpreter's own directories reachable for the unprivileged program uid.

    Python often lives under a directory others cannot enter (/root/.pyenv, a home-dir
    venv). Inside our private mount namespace, such a directory is covered with an empty
    tmpfs and only the needed subtrees are bind-mounted back (read-only later), which also
    hides the rest of it (e.g. the rest of /root) from programs.
    """
    import stat

    covers: dict[str, set[str]] = {}
    for path in paths:
        parts = [c for c in os.path.realpath(path).split("/") if c]
        for i in range(1, len(parts)):
            d = "/" + "/".join(parts[:i])
            try:
                if not os.stat(d).st_mode & stat.S_IXOTH:
                    covers.setdefault(d, set()).add(parts[i])
                    break
            except OSError:
                break
    for d, children in covers.items():
        keep = {c: os.open(os.path.join(d, c), os.O_PATH) for c in children if os.path.exists(os.path.join(d, c))}
        if not _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=711"):
            continue
        for child, fd in keep.items():
            target = os.path.join(d, child)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
            os.close(fd)


def _drop_to(uid: int) -> None:
    """Become `uid` for good (no way back to root), keeping /proc/self ours to write."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # a uid change makes /proc/self root-owned otherwise


def _isolate(workroot: str, uid: int | None, as_user: bool) -> dict:
    """Enter namespaces once; every forked child inherits them. Returns what is active.

    `as_user` (L2L_SANDBOX_UNPRIVILEGED=1 while root): make the Python installation
    reachable, drop this worker to `uid` for good, then take the non-root path."""
    info = {"privileged": False, "net_namespace": False, "mount_namespace": False, "uid_switch": False,
            "pid_namespace": False, "as_user": False}
    if os.geteuid() == 0 and uid is not None and not as_user:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("500")
        except OSError:
            pass
        if _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) == 0:
            info.update(privileged=True, net_namespace=True, uid_switch=True)
            private = _mount(None, "/", None, MS_REC | MS_PRIVATE)
            if private and os.getpid() == 1:
                # We are the init of our own PID namespace (see main()): /proc must show that
                # namespace, or the pids in /proc/self/task/*/children (used by _sweep) would be
                # the caller's view while kill() and waitpid() take ours. It also hides every
                # other process on the machine from programs.
                info["pid_namespace"] = _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            if private:
                _expose_python([p for p in sys.path + [sys.prefix, sys.base_prefix, sys.exec_prefix] if p])
            if private and _mount(
                "tmpfs", workroot, "tmpfs", MS_NOSUID | MS_NODEV, f"size={WORKDIR_TMPFS_SIZE},mode=755"
            ):
                ok = True
                for point, opts in _mountpoints():
                    if point == workroot:
                        continue
                    if "ro" in opts:
                        continue
                    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
                    flags |= MS_NOSUID if "nosuid" in opts else 0
                    flags |= MS_NODEV if "nodev" in opts else 0
                    flags |= MS_NOEXEC if "noexec" in opts else 0
                    # Mounts shadowed by later mounts on the same point may refuse; the top one is what counts.
                    ok &= _mount(None, point, None, flags) or point != "/"
                info["mount_namespace"] = bool(ok)
        return info
    if os.geteuid() == 0:
        if uid is None:
            raise RuntimeError("refusing to run programs as root without a sandbox uid")
        # Python may live where the sandbox uid cannot enter (/root/.pyenv): show it the
        # interpreter's directories in a private mount namespace, then stop being root.
        if _libc.unshare(CLONE_NEWNS) == 0 and _mount(None, "/", None, MS_REC | MS_PRIVATE):
            _expose_python([p for p in sys.path + [sys.prefix, sys.base_prefix, sys.exec_prefix] if p])
        _drop_to(uid)
        info["as_user"] = True
    # Unprivileged: a user namespace lets us own a fresh network namespace.
    real_uid, real_gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        try:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"{real_uid} {real_uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"{real_gid} {real_gid} 1")
            info["net_namespace"] = True
        except OSError:
            pass
    return info


def _kill_as_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (leftovers of an earlier worker for this slot)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(50):
                os.kill(-1, signal.SIGKILL)  # all processes we may signal, except ourselves
                time.sleep(0.002)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _children() -> list[int]:
    kids: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return kids


def _sweep(keep: int | None = None, uid: int | None = None) -> bool:
    """Kill and reap every remaining descendant except `keep` (the pre-forked spare). We are a
    child subreaper, so orphans (double forks, setsid escapes) come back to us; repeat until
    none are left. Returns False if `keep` turned out to be dead (and was reaped here).

    With a sandbox `uid`, leftovers are first killed all at once as that uid (kill(-1) is
    atomic with respect to fork): killing them one generation at a time races with a fork
    bomb whose not-yet-visible grandchildren keep refilling the process limit."""
    keep_alive = True
    killed_as_uid = False
    for _ in range(1000):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == keep:
                keep_alive = False
        kids = [k for k in _children() if k != keep]
        if not kids:
            return keep_alive
        if uid is not None and not killed_as_uid and os.geteuid() == 0:
            killed_as_uid = True
            _kill_as_uid(uid)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                if pid == keep:
                    continue
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return keep_alive


# --------------------------------------------------------------------------- the child
class SandboxViolation(PermissionError):
    """Raised by the audit hook; its message names what was attempted."""


class IntrospectionDenied(SandboxViolation, ValueError):
    """Frame/gc introspection refused. Also a ValueError: that is what the standard library
    expects from `sys._getframe` when no frame is available (namedtuple, typing, logging
    and enum fall back to defaults instead of failing)."""


# The hook denies these always: each leads from the program to frames or objects it was
# not given (the recorder's state among them).
_INTROSPECTION_EVENTS = frozenset({
    "sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "sys.settrace", "sys.setprofile", "sys.addaudithook",
})
# Attribute reads CPython audits as "object.__getattr__" that yield a frame or code object.
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_code", "cr_code", "ag_code"})
# Path events: how many leading arguments are paths, and where their dir_fd arguments are.
_PATH_EVENTS = {
    "os.remove": (1, (1,)), "os.rmdir": (1, (1,)), "os.mkdir": (1, (2,)), "os.chmod": (1, (2,)),
    "os.chown": (1, (3,)), "os.truncate": (1, ()), "os.utime": (1, (3,)), "shutil.rmtree": (1, (1,)),
    "os.chflags": (1, ()), "os.lchflags": (1, ()), "os.rename": (2, (2, 3)), "os.link": (2, (2, 3)),
    "os.symlink": (2, (2,)), "shutil.copyfile": (2, ()),  # mkfifo/mknod raise no audit event: Landlock only
    "shutil.move": (2, ()), "os.listdir": (1, ()), "os.scandir": (1, ()),
}


def read_sets(read_roots: list[str]) -> tuple[frozenset, tuple]:
    """(exact paths, directory prefixes) a program may read: made once per worker, used by
    every child's audit hook."""
    return (frozenset(r.rstrip("/") or "/" for r in read_roots) | {"/dev/null"},
            tuple(r.rstrip("/") + "/" for r in read_roots))


def _make_audit_hook(workdir: str, violations: list, reads: tuple[frozenset, tuple], window: list):
    """The Python layer (see the module docstring). `window[0]` is set only by
    `_traceback_entries` to read tb_frame of the program's exception, on the main thread,
    with nothing of the program able to run meanwhile."""
    import _thread

    realpath, fspath, startswith, isdir = os.path.realpath, os.fspath, str.startswith, os.path.isdir
    get_ident, main_thread = _thread.get_ident, _thread.get_ident()
    allowed_root = workdir.rstrip("/") + "/"
    reads, read_prefixes = reads
    forbidden = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "resource.setrlimit",
        "resource.prlimit", "os.startfile", "pty.spawn", "webbrowser.open",
    }

    def resolve(path):
        try:
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            return realpath(fspath(path))
        except (TypeError, ValueError):
            return None

    def inside(p) -> bool:
        return p is not None and (p == workdir or startswith(p, allowed_root) or p == "/dev/null")

    def deny(what: str):
        violations.append(what)
        raise SandboxViolation(f"sandbox: {what} is not allowed")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int):
                return
            p = resolve(path)
            if inside(p):
                return
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes:
                deny(f"writing {path!r} (outside the program's directory)")
            if p is None or not (p in reads or startswith(p, read_prefixes)):
                deny(f"reading {path!r} (outside the files a program may read)")
            if mode is None and isdir(p):  # os.open of a directory: a dir_fd base outside the workdir
                deny(f"opening the directory {path!r} (outside the program's directory)")
        elif event in forbidden or event.startswith("socket."):
            deny(event)
        elif event in _PATH_EVENTS:
            n, dir_fds = _PATH_EVENTS[event]
            for i in dir_fds:
                if i < len(args) and isinstance(args[i], int) and args[i] >= 0:
                    deny(f"{event} with dir_fd")
            for path in args[:n]:
                if path is None or isinstance(path, int):
                    continue
                p = resolve(path)
                if event in ("os.listdir", "os.scandir"):
                    if not inside(p) and (p is None or not (p in reads or startswith(p, read_prefixes))):
                        deny(f"{event} on {path!r} (outside the files a program may read)")
                elif not inside(p):
                    deny(f"{event} on {path!r} (outside the program's directory)")
        elif event in _INTROSPECTION_EVENTS:
            raise IntrospectionDenied(f"sandbox: {event} is not allowed")
        elif event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRS:
            if args[1] == "tb_frame" and window[0] and get_ident() == main_thread:
                return
            raise IntrospectionDenied(f"sandbox: reading .{args[1]} is not allowed")

    return hook


_TRACEBACK = BaseException.__traceback__  # the descriptor: a program cannot override it on its exceptions


def _traceback_entries(exc: BaseException, window: list) -> list[tuple[str, int, str]]:
    """(filename, line, function) of each level of `exc`'s traceback.

    The audit hook denies tb_frame to the program; this opens `window` for the main thread
    only, with every Python-level signal handler ignored and the garbage collector off
    (finalizers and signal handlers are the program's code), and reads nothing but
    attributes of traceback, frame and code objects (C types a program cannot override)."""
    import _signal

    tb = _TRACEBACK.__get__(exc)
    ignore, default, handler = _signal.SIG_IGN, _signal.SIG_DFL, _signal.default_int_handler
    for sig in range(1, _signal.NSIG):
        try:
            h = _signal.getsignal(sig)
            if h not in (ignore, default, handler, None):
                _signal.signal(sig, ignore)
        except (OSError, ValueError, RuntimeError):
            pass
    gc_was_on = gc.isenabled()
    gc.disable()
    out: list[tuple[str, int, str]] = []
    window[0] = True
    try:
        while tb is not None:
            code = tb.tb_frame.f_code
            out.append((code.co_filename, tb.tb_lineno, code.co_name))
            tb = tb.tb_next
    finally:
        window[0] = False
        if gc_was_on:
            gc.enable()
    return out


def _describe(exc: BaseException, frames: list[tuple[str, int, str]] = ()) -> str:
    """One line for the repair prompt: 'line N: Type: message'."""
    lineno = None
    if isinstance(exc, SyntaxError) and exc.filename == "<program>":
        lineno = exc.lineno
    for filename, ln, _ in frames:
        if filename == "<program>":
            lineno = ln
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    msg = last[-1] if last else type(exc).__name__
    if isinstance(exc, SyntaxError):
        msg = f"{type(exc).__name__}: {exc.msg}"
    msg = msg if len(msg) <= 400 else msg[:400] + "..."
    return f"line {lineno}: {msg}" if lineno else msg


def _print_program_traceback(exc: BaseException, frames: list[tuple[str, int, str]]) -> None:
    """The traceback the program would see on its own: frames of this sandbox are dropped."""
    import linecache

    kept = [f for f in frames if f[0] != __file__]
    lines = ["Traceback (most recent call last):\n"] if kept else []
    for filename, lineno, name in kept:
        lines.append(f'  File "{filename}", line {lineno}, in {name}\n')
        source = linecache.getline(filename, lineno).strip()
        if source:
            lines.append(f"    {source}\n")
    lines += traceback.format_exception_only(type(exc), exc)
    sys.stderr.write("".join(lines))


# --------------------------------------------------------------------------- the record
def _recorder(write=os.write, fstat=os.fstat, urandom=os.urandom, _type=type, _len=len, _str=str, _int=int,
              _float=float, _bool=bool, _dict=dict, _tuple=tuple, _isfinite=math.isfinite,
              _quote=json.encoder.encode_basestring_ascii, _cap=EVENT_CAP, _chars=EVENT_CHARS):
    """The recorder: a generator whose frame alone holds the record descriptor and nonce.

    Primed in the worker; each child sends it `(fd, final_key)` once, before the program
    exists, which writes the nonce line. Then `send(event)` (the prelude's
    `__l2l_record__`) appends an event line and `send((final_key, record))` (the child,
    after the program) the final record. Everything it calls was bound when the worker
    defined it, so a program that replaces builtins or json cannot change what is written;
    frames (gi_frame) and gc are denied to the program by the audit hook."""

    def flat_json(obj):
        # A flat dict of plain values; anything else in it becomes null.
        if _type(obj) is not _dict or _len(obj) > 16:
            return None
        parts = []
        for key, value in obj.items():
            if _type(key) is not _str:
                return None
            t = _type(value)
            if t is _str:
                text = _quote(value[:_chars])
            elif t is _bool:
                text = "true" if value else "false"
            elif t is _int and -(1 << 62) < value < (1 << 62):
                text = _int.__repr__(value)
            elif t is _float and _isfinite(value):
                text = _float.__repr__(value)
            else:
                text = "null"
            parts.append(_quote(key[:64]) + ":" + text)
        return "{" + ",".join(parts) + "}"

    fd, final_key = yield
    st = fstat(fd)
    ident = (st.st_dev, st.st_ino)
    nonce = urandom(16).hex()
    write(fd, (nonce + "\n").encode())
    count = 0
    while True:
        msg = yield
        try:
            if _type(msg) is _tuple and _len(msg) == 2 and msg[0] is final_key:
                tag, body = "R", msg[1]
            elif count < _cap:
                tag, body = "E", msg
                count += 1
            else:
                continue
            line = flat_json(body)
            st = fstat(fd)
            # Descriptor 3 redirected to something the program can read would leak the nonce.
            if line is not None and (st.st_dev, st.st_ino) == ident:
                write(fd, (nonce + " " + tag + " " + line + "\n").encode())
        except BaseException:  # noqa: BLE001 - a full pipe or a closed descriptor loses the line, nothing else
            pass
        msg = body = None


def _parse_record(raw: bytes) -> tuple[dict | None, list[dict]]:
    """The child's final record and solver events: lines that carry the nonce of the first
    line (written before the program existed); everything else is the program's noise."""
    lines = raw.split(b"\n")
    if len(lines[0]) != 32:
        return None, []
    nonce = lines[0] + b" "
    record, events = None, []
    for line in lines[1:]:
        if not line.startswith(nonce) or len(line) < 36:
            continue
        tag, body = line[33:34], line[35:]
        try:
            obj = json.loads(body)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if tag == b"R" and record is None:
            v = obj.get("violations")
            obj["violations"] = [x for x in v.split("\n") if x] if isinstance(v, str) else []
            record = obj
        elif tag == b"E" and len(events) < EVENT_CAP:
            events.append(obj)
    return record, events


def _compile_program(source: str, namespace: dict | None):
    """Compile the program, through its prelude's `__program_transform__(source) -> ast`
    when the prelude defines one (the z3 prelude rewrites Python's boolean operators on z3
    expressions). A SyntaxError the transform raises is the program's own; any other
    failure of the transform falls back to the source as written."""
    transform = namespace.get("__program_transform__") if namespace else None
    if transform is not None:
        try:
            return compile(transform(source), "<program>", "exec")
        except SyntaxError:
            raise
        except Exception:  # noqa: BLE001 - a helper's bug must not turn a valid program into an error
            pass
    return compile(source, "<program>", "exec")


def _read_request(fd: int) -> dict | None:
    """The spare child's request: JSON up to EOF (the worker closes its end after writing)."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks)) if chunks else None


CONFINE_FAILED = 72  # exit status of a child that could not confine itself (it never runs the program)


def _child(workdir: str, fds: tuple[int, int, int, int, int], uid: int | None, worker: "Worker",
           worker_pid: int, ruleset: int) -> None:
    """Runs in the forked child; never returns.

    The child is forked *before* its program is known (the worker keeps one spare child
    ready while the previous program runs). It confines itself first (Landlock with the
    ruleset the worker built for `workdir`, then the program's seccomp filter), so from
    then on it lives in a Landlock domain of its own that the running program cannot
    signal, ptrace or inspect; as root it also stays root until its request arrives, out
    of reach of the program's uid. Only after the request has arrived does it apply the
    request's limits and drop to the sandbox uid -- by then the worker has swept every
    process of the previous program.
    """
    _exit = os._exit
    devnull, out, err, rec, req_fd = fds
    try:
        os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != worker_pid:  # worker died between fork and prctl
            _exit(1)
    except BaseException:
        _exit(71)
    try:
        if ruleset >= 0:
            worker.confine.landlock_restrict(ruleset)
        if worker.program_filter is not None:
            worker.program_filter.apply()
    except BaseException as exc:  # fail closed: never run a program less confined than reported
        try:
            os.write(err, f"sandbox: cannot confine the program: {exc}\n".encode())
        finally:
            _exit(CONFINE_FAILED)
    try:
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(rec, RECORD_FD)
        os.dup2(req_fd, REQUEST_FD)
        os.closerange(REQUEST_FD + 1, 1 << 16)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8", HOME=workdir, TMPDIR=workdir)
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = workdir
        stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        sys.stdin = sys.__stdin__ = open(0, "r", closefd=False)
        sys.stdout = sys.__stdout__ = stdout
        sys.stderr = sys.__stderr__ = stderr
        signal.signal(signal.SIGINT, signal.default_int_handler)
        req = _read_request(REQUEST_FD)  # blocks until the program arrives
        if req is None:  # the worker discarded this spare
            _exit(0)
        setup_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt  # reported for bench/
        timeout = float(req.get("timeout_s", 10))
        cpu = max(1, math.ceil(timeout)) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        mem = int(req.get("memory_mb", 2048))
        if mem > 0:
            resource.setrlimit(resource.RLIMIT_AS, (mem << 20, mem << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_FILE_LIMIT, OUTPUT_FILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE_LIMIT, NOFILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        backend = req.get("backend")
        namespace = worker.namespaces.get(backend)
        prelude_error = worker.prelude_errors.get(backend) if backend else None
        if backend and namespace is None and prelude_error is None:
            prelude_error = f"unknown solver backend {backend!r}"
        # Bound before the program runs, as locals (which it cannot reach): what it may
        # replace in modules or builtins afterwards does not change how it is recorded.
        final_key = object()
        send = worker.recorder.send
        send((RECORD_FD, final_key))  # the nonce line, before any code of the program exists
        _Violation, _SysExit, _MemErr, _Base, _isinstance, _int = (
            SandboxViolation, SystemExit, MemoryError, BaseException, isinstance, int)
        entries, describe, print_tb = _traceback_entries, _describe, _print_program_traceback
    except BaseException:
        _exit(71)

    record: dict = {"kind": "exit", "code": 0}
    violations: list[str] = []
    window = [False]
    code = 0
    try:
        if prelude_error is not None:
            raise RuntimeError(prelude_error)
        source = req["code"]
        try:
            program = _compile_program(source, namespace)
        except (SyntaxError, ValueError) as exc:  # ValueError: source contains NUL bytes
            record = {"kind": "syntax", "error": _describe(exc)}
            traceback.print_exception(type(exc), exc, None)
            code = 1
        else:
            import linecache

            lines = source.splitlines(True)
            linecache.cache["<program>"] = (len(source), None, lines, "<program>")
            g = namespace if namespace is not None else {"__name__": "__main__", "__builtins__": builtins}
            sys.addaudithook(_make_audit_hook(os.path.realpath(workdir), violations, worker.read_sets, window))
            try:
                exec(program, g)
            except _SysExit as exc:
                c = exc.code
                code = c if _isinstance(c, _int) else (0 if c is None else 1)
                if c is not None and not _isinstance(c, _int):
                    print(c, file=sys.stderr)
                record = {"kind": "exit", "code": code}
                if code:
                    record["error"] = describe(exc, entries(exc, window))
            except _Violation as exc:
                frames = entries(exc, window)
                record = {"kind": "blocked", "error": describe(exc, frames)}
                print_tb(exc, frames)
                code = 1
            except _MemErr as exc:
                record = {"kind": "memory", "error": describe(exc)}
                code = 1
            except _Base as exc:  # noqa: BLE001 - anything the program raises is its own error
                record = {"kind": "runtime", "error": "runtime error"}
                try:
                    frames = entries(exc, window)
                    record["error"] = describe(exc, frames)
                    print_tb(exc, frames)
                except _Base:  # noqa: BLE001
                    pass
                code = 1
    except BaseException as exc:  # noqa: BLE001 - prelude failed, or the program broke our plumbing
        record = {"kind": "runtime", "error": f"sandbox: {exc}"[:400]}
        code = 1
    for stream in (stdout, stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have closed it
            pass
    try:
        record["violations"] = "\n".join(v[:300] for v in violations[:5])
        record["setup_faults"] = setup_faults
        send((final_key, record))
    except BaseException:  # noqa: BLE001
        pass
    _exit(code & 0xFF)


# --------------------------------------------------------------------------- the worker loop
def _read_pipe(fd: int, cap: int) -> bytes:
    """What is in a non-blocking pipe now, up to `cap` bytes."""
    chunks, n = [], 0
    while n < cap:
        try:
            chunk = os.read(fd, min(1 << 16, cap - n))
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        n += len(chunk)
    return b"".join(chunks)


def _read_memfd(fd: int, cap: int) -> tuple[bytes, int]:
    """Head and tail of what was written (the ANSWER line is usually last)."""
    size = os.fstat(fd).st_size
    if size <= cap:
        return os.pread(fd, size, 0), size
    half = cap // 2
    head = os.pread(fd, half, 0)
    tail = os.pread(fd, half, size - half)
    return head + f"\n...[{size - 2 * half} bytes truncated]...\n".encode() + tail, size


class _Spare:
    """A forked child waiting for its program, and what the worker keeps to run and collect it."""

    def __init__(self, pid: int, req_w: int, workdir: str, out: int, err: int, rec: int):
        # rec: read end of the record pipe (non-blocking; the child holds the write end)
        self.pid, self.req_w, self.workdir = pid, req_w, workdir
        self.out, self.err, self.rec = out, err, rec
        self.pidfd = os.pidfd_open(pid)

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]

    def close_fds(self) -> None:
        for fd in (self.pidfd, self.req_w, self.out, self.err, self.rec):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.req_w = self.out = self.err = self.rec = -1


class Worker:
    def __init__(self, cfg: dict, proto_in: int, proto_out: int):
        self.cfg = cfg
        self.proto_in, self.proto_out = proto_in, proto_out
        self.uid = cfg.get("uid")
        self.workroot = cfg["workroot"]
        self.output_cap = int(cfg.get("output_cap", 32768))
        self.prefork = bool(cfg.get("prefork", True))
        self.counter = 0
        self.namespaces: dict[str | None, dict | None] = {None: None}
        self.prelude_errors: dict[str, str] = {}
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.spare: _Spare | None = None
        self.confine = _load_confine()
        self.recorder = _recorder()
        next(self.recorder)  # waits for its child's (fd, final_key)
        self.landlock = None  # confine.LandlockRules once set up
        self.program_filter = None  # confine.SeccompFilter each child loads
        self.read_roots: list[str] = []
        self.read_sets: tuple[frozenset, tuple] = read_sets([])

    def warm(self) -> None:
        for mod in self.cfg.get("preimport", []):
            try:
                __import__(mod)
            except Exception:  # noqa: BLE001 - a missing optional solver only fails its own programs
                pass
        for name, src in self.cfg.get("preludes", {}).items():
            # The prelude may keep `__l2l_record__` (in a closure); the program never sees the name.
            g = {"__name__": "__main__", "__builtins__": builtins, "__l2l_record__": self.recorder.send}
            try:
                exec(compile(src, f"<prelude {name}>", "exec"), g)
                self.namespaces[name] = g
            except BaseException as exc:  # noqa: BLE001
                self.prelude_errors[name] = f"prelude {name!r} failed: {_describe(exc)}"
            g.pop("__l2l_record__", None)
        for snippet in self.cfg.get("warmup", []):
            try:  # touch lazily-initialised parts of the solvers so each child does not pay for them
                exec(snippet, {"__name__": "__warmup__"})
            except Exception:  # noqa: BLE001
                pass

    def confine_setup(self) -> dict:
        """Prepare the kernel layers every program gets (after `_isolate`, so paths are
        those of the worker's own mount namespace), and load the shared seccomp filter
        into the worker itself. Returns what is active, and why a layer is not."""
        c = self.confine
        info: dict = {"landlock": 0, "landlock_fs": False, "landlock_tcp": False, "landlock_scope": False,
                      "landlock_error": None, "seccomp": False, "seccomp_error": None}
        self.read_roots = c.read_roots()
        self.read_sets = read_sets(self.read_roots)
        info["read_roots"] = self.read_roots
        abi = c.landlock_abi()
        if abi > 0:
            try:
                rules = c.LandlockRules(abi, self.read_roots)
                os.close(rules.ruleset_for(self.workroot))  # fails here, not in the first program
                self.landlock = rules
                info.update(rules.enforced())
            except OSError as exc:
                info["landlock_error"] = str(exc)
        else:
            info["landlock_error"] = "this kernel offers no Landlock (Linux 5.13+, enabled at boot)"
        try:
            worker_bpf, program_bpf = c.seccomp_programs()
            self.program_filter = c.SeccompFilter(program_bpf)
            c.SeccompFilter(worker_bpf).apply()
            info["seccomp"] = True
        except Exception as exc:  # noqa: BLE001 - missing libseccomp / binding: reported, not fatal
            self.program_filter = None
            info["seccomp_error"] = f"{type(exc).__name__}: {exc}"
        info["cgroup"], info["cgroup_reason"] = c.cgroup_status()
        # One process per program is what makes RLIMIT_AS a total memory cap (no cgroup leaf).
        info["max_processes"] = 1 if info["seccomp"] else NPROC_LIMIT
        return info

    # ----------------------------------------------------------------- spare children
    def _fork_spare(self) -> _Spare:
        """Fork the child for the next program: fresh workdir, output memfds, record pipe
        and Landlock ruleset."""
        self.counter += 1
        workdir = os.path.join(self.workroot, f"p{self.counter}")
        os.mkdir(workdir, 0o700)
        uid = self.uid if os.geteuid() == 0 else None
        if uid is not None:
            os.chown(workdir, uid, uid)
        ruleset = self.landlock.ruleset_for(workdir) if self.landlock is not None else -1
        out = os.memfd_create("stdout", os.MFD_CLOEXEC)
        err = os.memfd_create("stderr", os.MFD_CLOEXEC)
        # Non-blocking at both ends: a program that fills the pipe loses its own events,
        # and the worker reads it after the child is gone without waiting for anyone.
        rec_r, rec_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            import fcntl

            fcntl.fcntl(rec_w, F_SETPIPE_SZ, RECORD_PIPE_SIZE)
        except OSError:
            pass
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(workdir, (self.devnull, out, err, rec_w, req_r), uid, self, me, ruleset)
        os.close(req_r)
        os.close(rec_w)  # the child alone may write records
        if ruleset >= 0:
            os.close(ruleset)
        return _Spare(pid, req_w, workdir, out, err, rec_r)

    def _discard(self, spare: _Spare, reaped: bool = False) -> None:
        """Kill an unused (or dead) spare child and remove its workdir."""
        if not reaped:
            try:
                os.kill(spare.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(spare.pid, 0)
            except ChildProcessError:
                pass
        spare.close_fds()
        shutil.rmtree(spare.workdir, ignore_errors=True)

    def _take_spare(self) -> _Spare:
        spare, self.spare = self.spare, None
        if spare is not None and not spare.alive():
            self._discard(spare)  # killed from outside (e.g. the OOM killer); never ran a program
            spare = None
        return spare if spare is not None else self._fork_spare()

    def _dispatch(self, req: dict) -> _Spare:
        """Hand the request to a waiting child; retry once with a fresh child if it is gone."""
        data = json.dumps(req).encode()
        for attempt in (0, 1):
            spare = self._take_spare()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(spare.req_w, view):]
                os.close(spare.req_w)
                spare.req_w = -1
                return spare
            except OSError:
                self._discard(spare)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- one program
    def run_one(self, req: dict) -> dict:
        timeout = float(req.get("timeout_s", 10))
        child = self._dispatch(req)
        pid = child.pid
        t0 = time.monotonic()
        if self.prefork:
            # Fork the next program's child now, while this one runs: fork latency and the
            # child's setup leave the critical path. It stays root (untouchable by this
            # program's uid) until its own request arrives.
            try:
                self.spare = self._fork_spare()
            except OSError:  # e.g. EAGAIN under memory pressure: fork on demand next time
                self.spare = None
        timed_out = parent_gone = False
        poller = select.poll()
        poller.register(child.pidfd, select.POLLIN)
        poller.register(self.proto_in, select.POLLHUP | select.POLLERR)
        while True:
            remaining = timeout - (time.monotonic() - t0)
            if remaining <= 0:
                timed_out = True
                break
            events = dict(poller.poll(remaining * 1000))
            if child.pidfd in events:
                break
            if self.proto_in in events:
                parent_gone = True
                break
        if timed_out or parent_gone:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.monotonic() - t0
        self.sweep()
        if parent_gone:
            self.shutdown()
            os._exit(0)
        stdout, stdout_size = _read_memfd(child.out, self.output_cap)
        stderr, stderr_size = _read_memfd(child.err, self.output_cap)
        record, events = _parse_record(_read_pipe(child.rec, RECORD_READ_CAP))
        child.close_fds()
        try:
            os.rmdir(child.workdir)  # the common case: the program left nothing behind
        except OSError:
            shutil.rmtree(child.workdir, ignore_errors=True)
        return {
            "stdout": stdout.decode("utf-8", "replace"),
            "stderr": stderr.decode("utf-8", "replace"),
            "stdout_bytes": stdout_size,
            "stderr_bytes": stderr_size,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": timed_out,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "minflt": usage.ru_minflt,  # page faults: the main cost of a short program (see bench/)
            "elapsed_s": elapsed,
            "record": record,
            "solver_events": events,
            "confine_failed": os.WIFEXITED(status) and os.WEXITSTATUS(status) == CONFINE_FAILED and record is None,
        }

    def sweep(self) -> None:
        """Kill and reap everything the last program left behind; the spare child survives."""
        if not _sweep(keep=self.spare.pid if self.spare else None, uid=self.uid):
            self._discard(self.spare, reaped=True)
            self.spare = None

    def shutdown(self) -> None:
        if self.spare is not None:
            self._discard(self.spare)
            self.spare = None
        _sweep(uid=self.uid)
        if self.uid is not None and os.geteuid() == 0:
            _kill_as_uid(self.uid)


def main() -> int:
    # Protocol goes over private copies of stdin/stdout; fd 1 then points at stderr so that
    # stray prints from solver imports cannot corrupt the protocol.
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.set_inheritable(proto_in, False)
    os.set_inheritable(proto_out, False)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's business; EOF tells us to stop
    if os.getpid() == 1:
        # The executor started us as the init of a fresh PID namespace: when we die, however
        # we die, the kernel kills every process in it. Dying with the caller (which cannot be
        # asked, since our parent is outside the namespace: getppid() is 0) makes that hold for
        # the caller too. If the caller is already gone, the config read below sees EOF.
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    cfg = _recv(proto_in)
    if cfg is None:
        return 0
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    uid = cfg.get("uid")
    if uid is not None and os.geteuid() == 0:
        _kill_as_uid(uid)  # leftovers of a previous worker in this slot that was killed hard
    as_user = os.geteuid() == 0 and os.environ.get("L2L_SANDBOX_UNPRIVILEGED") == "1"
    worker = Worker(cfg, proto_in, proto_out)
    worker.warm()  # imports before isolation: the mount namespace is read-only afterwards
    try:
        info = _isolate(cfg["workroot"], uid, as_user)
    except (OSError, RuntimeError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 70
    info.update(worker.confine_setup())
    info["euid"] = os.geteuid()
    if os.getpid() == 1 and not info["pid_namespace"]:
        # /proc would show the caller's pids while we act on ours: sweeping would go wrong.
        print("sandbox: cannot mount /proc for the worker's PID namespace", file=sys.stderr)
        return 70
    if not info["uid_switch"]:
        worker.uid = None
        # Without a uid switch a spare child runs as the same uid as the program running next
        # to it; only Landlock's scoping (ABI 6: no signals across domains; ptrace and /proc
        # are closed at every ABI) keeps the program from tampering with it. Otherwise fork
        # on demand.
        worker.prefork = worker.prefork and bool(info["landlock_scope"])
    gc.collect()
    gc.freeze()  # children then do not touch (and copy) the warm heap during their own GC
    if worker.prefork:
        worker.spare = worker._fork_spare()
    _send(proto_out, {"ready": True, "pid": os.getpid(), "uid": worker.uid, "prelude_errors": worker.prelude_errors,
                      "prefork": worker.prefork, **info})
    while True:
        req = _recv(proto_in)
        if req is None:
            break
        try:
            reply = worker.run_one(req)
        except Exception as exc:  # noqa: BLE001 - keep serving; the executor reports it
            worker.sweep()
            reply = {"sandbox_error": f"{type(exc).__name__}: {exc}"}
        _send(proto_out, reply)
    worker.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
