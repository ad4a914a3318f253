"""The warm sandbox worker ("zygote"): imports some solver libraries once, then forks one
fresh child per program.

Run by `solvers.executor` as `python -I solvers/sandbox.py`; it is a script, not part of
the import path of `solvers`, and it imports nothing from this repository (so it works
from any cwd and with `-I`). It speaks length-prefixed JSON over its stdin/stdout:
first a config message (which solver modules and preludes to load), then it answers
"ready", then one request -> one reply. It reports raw facts (exit status, signal,
captured output, the child's own record, page faults); `solvers.executor` turns them
into an `ExecutionResult`.

Speed (why it is built this way). On this project's VMs a page fault costs ~7 us, so a
short program's cost is mostly the copy-on-write faults of its forked process, not the
program itself. Hence:
  * the executor runs one kind of worker per solver backend (a z3 program forks from a
    process that never imported sympy: fewer pages to map and to copy);
  * pre-forking: while program N runs, the worker already forks the child for program
    N+1 (the "spare"), which does all program-independent setup and then blocks reading
    its request from a pipe. The spare stays root until its request arrives, so program N
    (running as the sandbox uid) cannot signal, ptrace or write to it; only then does it
    apply the request's limits and drop to the uid -- by which time the worker has swept
    every process of program N. A spare never runs more than one program, is killed when
    the worker shuts down (and dies with the worker through PDEATHSIG), and is only used
    when the uid switch is active (otherwise it would share a uid with the program next
    to it, so the worker forks on demand instead).
  Tried and dropped (no throughput gain, measured): pre-touching in the spare the memory
  most programs write (moves ~450 faults off the critical path but adds ~650), and doing
  the imports in a helper thread so children allocate from a clean malloc arena (more
  faults, not fewer).

What each program runs inside (in the order the child sets it up):

OS layer (real isolation, enforced by the kernel)
  * own session and process group (setsid); PR_SET_PDEATHSIG=SIGKILL so it dies with
    the worker; the worker is a child subreaper, so every process the program starts
    (even a `setsid` double-fork) is re-parented to the worker and SIGKILLed and reaped
    as soon as the program ends, times out or crashes (privileged: first all at once,
    with kill(-1) as the sandbox uid, so a fork bomb cannot outrun the sweep).
  * rlimits: CPU (timeout+1 s soft, +2 s hard), AS (= memory_mb), NPROC, FSIZE (16 MiB,
    also caps stdout/stderr), NOFILE (64), CORE (0).
  * stdin is /dev/null; stdout/stderr are anonymous memfds read by the worker afterwards,
    so a program that closes or floods them only hurts itself.
  * cwd is a fresh, empty directory, removed afterwards; HOME and TMPDIR point there;
    the environment is rebuilt from scratch (PATH, LANG, HOME, TMPDIR only) -- the
    caller's environment never reaches the worker either (executor starts it with a
    minimal env).
  * all file descriptors of the worker (its request pipe included) are closed.

  When the worker runs as root (privileged mode, the default on this project's CI and
  containers) it also:
  * is PID 1 of a PID namespace of its own (the executor creates it; see
    `executor._Spawner`), with a fresh /proc that shows only that namespace. When the
    worker dies -- however it dies: killed by the caller, the OOM killer, or SIGKILLed
    along with its caller through PR_SET_PDEATHSIG -- the kernel kills every process in
    the namespace, atomically (no new process can be created during the kill). So no
    process a program starts can outlive its worker or its caller, whatever it does
    (setsid double-forks, fork bombs). Programs see namespace pids (the worker is 1, their
    parent) and no process outside their worker; a program's own leftovers are still
    swept when it ends (above), the namespace covers the worker's death.
  * unshares a network namespace: only a downed loopback, so no connection to anything,
    127.0.0.1 included;
  * unshares a mount namespace: every existing mount is re-mounted read-only, the work
    area is a private tmpfs (size-capped) that no other process can see;
  * unshares an IPC namespace (no SysV shared memory with the host);
  * runs each program as its own unprivileged uid/gid (unique per pool slot, no
    supplementary groups, PR_SET_NO_NEW_PRIVS): it cannot signal or ptrace any process
    that is not its own (the worker and the caller run as root), cannot read
    /proc/<pid>/environ of other processes or root-only files, and RLIMIT_NPROC counts
    only its own processes, so a fork bomb is capped at NPROC.
  * sets oom_score_adj=500 so the kernel OOM killer prefers sandboxed programs.

  Unprivileged (not root, or L2L_SANDBOX_UNPRIVILEGED=1): the worker tries an
  unprivileged user+network namespace (works where user namespaces are enabled); no
  mount namespace, no PID namespace, no uid switch. Leftovers are then only killed by the
  worker's sweep: it notices a dead caller (EOF on its pipe) at once and sweeps, but if
  the worker itself is SIGKILLed, descendants that left the program's session (setsid
  double-fork) survive it; the program's first process still dies (PDEATHSIG). Then the program runs as the caller's uid: the kernel
  does NOT stop it from writing files the caller may write, signalling the caller's
  other processes, or reading /proc/<pid>/environ of the caller; only the audit-hook
  layer below does, and that layer is bypassable through ctypes. RLIMIT_NPROC then
  counts all processes of the caller's uid (usually more than the limit), which means
  the program cannot fork at all -- still safe, just stricter. `sandbox_info()` in the
  executor reports which layers are active.

Python layer (an extra guard, not a security boundary)
  A `sys.addaudithook` hook, installed after the prelude and before the program, raises
  `SandboxViolation` (a PermissionError) on: sockets, subprocess/os.system/os.exec*/
  os.posix_spawn/os.fork, os.kill/killpg/pthread_kill, setrlimit, opening a file for
  writing or creating/removing/renaming/chmod-ing a path outside the program's own
  directory (/dev/null is allowed), and reading /proc/<pid>/ of another process.
  An uncaught violation yields status "blocked". ctypes is allowed (z3 is a ctypes
  binding), so native code can bypass this layer; the OS layer above is what holds.

Not covered: CPU time of the machine is shared (a program gets up to timeout_s of one
core); side channels; kernel exploits; reading world-readable files (the repo, /etc);
in unprivileged mode, see above.
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
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38

OUTPUT_FILE_LIMIT = 16 * 1024 * 1024  # RLIMIT_FSIZE: caps each file the program writes, stdout included
NOFILE_LIMIT = 64
NPROC_LIMIT = 32
WORKDIR_TMPFS_SIZE = "256m"
RECORD_FD = 3
REQUEST_FD = 4  # the spare child reads its request here
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


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


def _isolate(workroot: str, uid: int | None) -> dict:
    """Enter namespaces once; every forked child inherits them. Returns what is active."""
    info = {"privileged": False, "net_namespace": False, "mount_namespace": False, "uid_switch": False,
            "pid_namespace": False}
    if os.geteuid() == 0 and uid is not None:
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
    # Unprivileged: a user namespace lets us own a fresh network namespace.
    if os.environ.get("L2L_SANDBOX_UNPRIVILEGED") == "1" and os.geteuid() == 0:
        return info  # forced unprivileged mode while root (used by tests): no namespaces at all
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


def _make_audit_hook(workdir: str, violations: list):
    realpath, fspath, startswith = os.path.realpath, os.fspath, str.startswith
    allowed_root = workdir.rstrip("/") + "/"
    own_proc = (f"/proc/{os.getpid()}/", "/proc/self/", "/proc/thread-self/")
    forbidden = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "resource.setrlimit",
        "resource.prlimit", "os.startfile", "pty.spawn", "webbrowser.open",
    }
    path_events = {
        "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.truncate": 1,
        "os.utime": 1, "shutil.rmtree": 1, "os.chflags": 1, "os.lchflags": 1, "os.rename": 2,
        "os.link": 2, "os.symlink": 2, "os.mkfifo": 1, "os.mknod": 1, "shutil.copyfile": 2,
        "shutil.move": 2,
    }

    def outside(path) -> bool:
        if isinstance(path, int):
            return False
        try:
            p = realpath(fspath(path) if not isinstance(path, bytes) else path.decode(errors="replace"))
        except (TypeError, ValueError):
            return True
        return p != workdir and not startswith(p, allowed_root) and p != "/dev/null"

    def deny(what: str):
        violations.append(what)
        raise SandboxViolation(f"sandbox: {what} is not allowed")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int):
                return
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and outside(path):
                deny(f"writing {path!r} (outside the program's directory)")
            if not writes and isinstance(path, (str, bytes)):
                p = path.decode(errors="replace") if isinstance(path, bytes) else path
                if "proc" in p:
                    rp = realpath(p) + "/"
                    if startswith(rp, "/proc/") and rp.split("/")[2].isdigit() and not rp.startswith(own_proc):
                        deny(f"reading {p!r} (another process)")
        elif event in forbidden or event.startswith("socket."):
            deny(event)
        elif event in path_events:
            for path in args[: path_events[event]]:
                if path is not None and outside(path):
                    deny(f"{event} on {path!r} (outside the program's directory)")

    return hook


def _describe(exc: BaseException) -> str:
    """One line for the repair prompt: 'line N: Type: message'."""
    lineno = None
    if isinstance(exc, SyntaxError) and exc.filename == "<program>":
        lineno = exc.lineno
    for frame, ln in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<program>":
            lineno = ln
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    msg = last[-1] if last else type(exc).__name__
    if isinstance(exc, SyntaxError):
        msg = f"{type(exc).__name__}: {exc.msg}"
    msg = msg if len(msg) <= 400 else msg[:400] + "..."
    return f"line {lineno}: {msg}" if lineno else msg


def _print_program_traceback(exc: BaseException) -> None:
    """The traceback the program would see on its own: frames of this sandbox are dropped."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    sys.stderr.write("".join(lines))


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


def _child(workdir: str, fds: tuple[int, int, int, int, int], uid: int | None, worker: "Worker",
           worker_pid: int) -> None:
    """Runs in the forked child; never returns.

    The child is forked *before* its program is known (the worker keeps one spare child
    ready while the previous program runs): everything up to reading the request is
    program-independent and happens while it still runs as root, so the program running
    meanwhile (as the sandbox uid) cannot signal, ptrace or otherwise touch it. Only after
    the request has arrived does the child apply the request's limits and drop to the
    sandbox uid -- by then the worker has swept every process of the previous program.
    """
    _exit, _write, _dumps = os._exit, os.write, json.dumps
    try:
        os.setsid()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != worker_pid:  # worker died between fork and prctl
            _exit(1)
        devnull, out, err, rec, req_fd = fds
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
    except BaseException:
        _exit(71)

    record: dict = {"kind": "exit", "code": 0}
    violations: list[str] = []
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
            sys.addaudithook(_make_audit_hook(os.path.realpath(workdir), violations))
            try:
                exec(program, g)
            except SystemExit as exc:
                c = exc.code
                code = c if isinstance(c, int) else (0 if c is None else 1)
                if c is not None and not isinstance(c, int):
                    print(c, file=sys.stderr)
                record = {"kind": "exit", "code": code}
                if code:
                    record["error"] = _describe(exc)
            except SandboxViolation as exc:
                record = {"kind": "blocked", "error": _describe(exc)}
                _print_program_traceback(exc)
                code = 1
            except MemoryError as exc:
                record = {"kind": "memory", "error": _describe(exc)}
                code = 1
            except BaseException as exc:  # noqa: BLE001 - anything the program raises is its own error
                record = {"kind": "runtime", "error": _describe(exc)}
                try:
                    _print_program_traceback(exc)
                except BaseException:  # noqa: BLE001
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
        record["violations"] = violations[:5]
        record["setup_faults"] = setup_faults
        os.ftruncate(RECORD_FD, 0)
        os.pwrite(RECORD_FD, _dumps(record).encode(), 0)
    except BaseException:  # noqa: BLE001
        pass
    _exit(code & 0xFF)


# --------------------------------------------------------------------------- the worker loop
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

    def warm(self) -> None:
        for mod in self.cfg.get("preimport", []):
            try:
                __import__(mod)
            except Exception:  # noqa: BLE001 - a missing optional solver only fails its own programs
                pass
        for name, src in self.cfg.get("preludes", {}).items():
            g = {"__name__": "__main__", "__builtins__": builtins}
            try:
                exec(compile(src, f"<prelude {name}>", "exec"), g)
                self.namespaces[name] = g
            except BaseException as exc:  # noqa: BLE001
                self.prelude_errors[name] = f"prelude {name!r} failed: {_describe(exc)}"
        for snippet in self.cfg.get("warmup", []):
            try:  # touch lazily-initialised parts of the solvers so each child does not pay for them
                exec(snippet, {"__name__": "__warmup__"})
            except Exception:  # noqa: BLE001
                pass

    # ----------------------------------------------------------------- spare children
    def _fork_spare(self) -> _Spare:
        """Fork the child for the next program: fresh workdir, fresh output memfds."""
        self.counter += 1
        workdir = os.path.join(self.workroot, f"p{self.counter}")
        os.mkdir(workdir, 0o700)
        uid = self.uid if os.geteuid() == 0 else None
        if uid is not None:
            os.chown(workdir, uid, uid)
        out = os.memfd_create("stdout", os.MFD_CLOEXEC)
        err = os.memfd_create("stderr", os.MFD_CLOEXEC)
        rec = os.memfd_create("record", os.MFD_CLOEXEC)
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(workdir, (self.devnull, out, err, rec, req_r), uid, self, me)
        os.close(req_r)
        return _Spare(pid, req_w, workdir, out, err, rec)

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
        raw_rec = os.pread(child.rec, 65536, 0)
        child.close_fds()
        try:
            os.rmdir(child.workdir)  # the common case: the program left nothing behind
        except OSError:
            shutil.rmtree(child.workdir, ignore_errors=True)
        try:
            record = json.loads(raw_rec) if raw_rec else None
        except ValueError:
            record = None
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
            "record": record if isinstance(record, dict) else None,
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
    worker = Worker(cfg, proto_in, proto_out)
    worker.warm()  # imports before isolation: the mount namespace is read-only afterwards
    info = _isolate(cfg["workroot"], uid if not os.environ.get("L2L_SANDBOX_UNPRIVILEGED") else None)
    if os.getpid() == 1 and not info["pid_namespace"]:
        # /proc would show the caller's pids while we act on ours: sweeping would go wrong.
        print("sandbox: cannot mount /proc for the worker's PID namespace", file=sys.stderr)
        return 70
    if not info["uid_switch"]:
        worker.uid = None
        # Without a uid switch a spare child would run as the same uid as the program running
        # next to it, which could then tamper with it: fork on demand instead.
        worker.prefork = False
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
