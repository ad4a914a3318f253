"""Run untrusted generated programs: a pool of warm sandbox workers, one fork per program.

    >>> from solvers import execute
    >>> execute("x = Int('x')\\ns = Solver(); s.add(x * 3 == 12); s.check()\\nprint('ANSWER:', s.model()[x])",
    ...         backend="z3").answer
    '4'

Each worker is a separate interpreter (`solvers/sandbox.py`) that imported its solver
libraries once and forks a fresh, isolated child per program (pre-forked while the
previous program runs); its docstring lists exactly what the sandbox does and does not
protect against, and why it is built for speed the way it is. This module owns the pool
(lazy, thread-safe, restarted when a worker dies, torn down at interpreter exit), routes
each program to the smallest kind of worker that has what it needs (`_route`: one kind
per solver backend, one with none, one with all; started on first use), and classifies
what a child did into an `ExecutionResult`. At most `pool size` programs run at once.
When privileged, each worker is PID 1 of its own PID namespace and dies with the caller
(`_Spawner`): nothing a program starts outlives its worker or the caller, even if both are
SIGKILLed; a later pool removes the work directories such a caller left in $TMPDIR.

Honest status: `sandbox_info()` reports the layers the workers could activate and, under
"gaps", what a program can still do on this machine because a layer is missing; the first
program of a process prints the gaps on stderr. When no layer beyond the Python audit hook
is active (no Landlock, no seccomp, no namespace, not root), `execute` refuses to run
anything (SandboxUnavailable) unless `allow_unsafe_exec()` was called (`l2l solve
--unsafe-exec`, `unsafe_exec: true` in the pipeline config) or L2L_UNSAFE_EXEC=1 is set.

Knobs (environment): L2L_SANDBOX_WORKERS (programs at once = workers per kind, default:
number of CPUs), L2L_SANDBOX_UNPRIVILEGED=1 (as root: run the workers through the non-root
path as a real unprivileged uid -- no namespaces of root, no uid switch -- to test it; never
runs programs as root), L2L_SANDBOX_PREFORK=0 (fork on demand instead of keeping a spare
child ready; for benchmarking it), L2L_UNSAFE_EXEC=1 (see above).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import queue
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from solvers.registry import SOLVER_BACKENDS
from solvers.result import ExecutionResult, parse_answer

SANDBOX_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
OUTPUT_CAP = 32 * 1024  # characters of stdout/stderr kept per result (head + tail)
HARD_MARGIN_S = 5.0  # the worker enforces timeout_s itself; past timeout_s + this we kill the worker
READY_TIMEOUT_S = 180.0  # importing z3+sympy on a loaded 2-core machine can be slow
_UID_BASE = 100_000_000  # sandbox uids: base + caller pid * 512 + worker index, unique among live pools
_MAX_WORKERS_PER_POOL = 512


_WORKROOT_PREFIX = "l2l-sandbox-"  # + caller pid + "-": lets a later pool remove those of killed callers


class SandboxUnavailable(RuntimeError):
    """A sandbox worker could not be started (its stderr tail is in the message), or the
    machine offers no isolation and unsafe execution was not allowed."""


_UNSAFE_EXEC: bool | None = None  # None: follow L2L_UNSAFE_EXEC
_WARNED = False


def allow_unsafe_exec(allowed: bool = True) -> None:
    """Run programs even where no isolation layer beyond the Python audit hook is available
    (`l2l solve --unsafe-exec`). Programs then run with the full rights of this user: they
    can read and change the user's files and use the network, and the Python layer stops
    only programs that do not try (ctypes bypasses it)."""
    global _UNSAFE_EXEC
    _UNSAFE_EXEC = bool(allowed)


def unsafe_exec_allowed() -> bool:
    if _UNSAFE_EXEC is not None:
        return _UNSAFE_EXEC
    return os.environ.get("L2L_UNSAFE_EXEC", "").lower() in ("1", "true", "yes")


def assess(info: dict) -> dict:
    """Which layers a worker report shows active, and what each missing one leaves open.

    >>> assess({"landlock": 7, "landlock_scope": True, "seccomp": True})["gaps"]
    []
    """
    layers = []
    if info.get("landlock"):
        layers.append(f"landlock (ABI {info['landlock']}: files"
                      + (", TCP" if info.get("landlock_tcp") else "")
                      + (", signals and abstract sockets across domains" if info.get("landlock_scope") else "") + ")")
    if info.get("seccomp"):
        layers.append("seccomp (no sockets, ptrace, bpf, io_uring, namespaces, exec; one process per program)")
    for key, name in (("net_namespace", "network namespace"), ("mount_namespace", "read-only mount namespace"),
                      ("pid_namespace", "PID namespace"), ("uid_switch", "a uid per worker")):
        if info.get(key):
            layers.append(name)
    layers.append("python audit hook")
    root_fs = info.get("mount_namespace") and info.get("uid_switch")
    gaps = []
    if not info.get("landlock"):
        why = info.get("landlock_error") or "not available"
        if root_fs:
            gaps.append(f"files: no Landlock ({why}): programs can read every world-readable file (the repository, "
                        "../shared benchmarks with their gold answers); writes are stopped by read-only mounts")
        else:
            gaps.append(f"files: no Landlock ({why}): programs can read every file this user can read (the "
                        "repository, ../shared benchmarks, ~/.ssh) and only the Python layer, which ctypes "
                        "bypasses, stops writes outside their directory")
    elif not info.get("landlock_scope") and not info.get("uid_switch"):
        gaps.append(f"signals: Landlock ABI {info.get('landlock')} < 6 and no uid switch: programs may signal "
                    "other processes of this user")
    if not info.get("seccomp"):
        gaps.append(f"syscalls: no seccomp filter ({info.get('seccomp_error') or 'not available'}): programs may "
                    "start processes, so memory is capped per process only, and call ptrace, bpf or io_uring")
        if not info.get("net_namespace"):
            gaps.append("network: open (no seccomp filter and no network namespace)")
    kernel = [k for k in ("landlock", "seccomp", "net_namespace", "mount_namespace", "uid_switch") if info.get(k)]
    return {"layers": layers, "gaps": gaps, "isolated": bool(kernel),
            "gold_hidden": bool(info.get("landlock"))}


def _minimal_env() -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    if os.environ.get("L2L_SANDBOX_UNPRIVILEGED") == "1":
        env["L2L_SANDBOX_UNPRIVILEGED"] = "1"
    return env


def _remove_stale_workroots() -> None:
    """Remove work directories of callers that died without cleaning up (SIGKILL).

    Their programs are gone (see `_Spawner`), but the directory itself is the caller's to
    remove. Only our own, of callers whose pid no longer exists; a reused pid keeps it."""
    tmp = tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        if not name.startswith(_WORKROOT_PREFIX):
            continue
        pid = name[len(_WORKROOT_PREFIX):].partition("-")[0]
        path = os.path.join(tmp, name)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.lstat(path).st_uid != os.geteuid():
                continue
            os.kill(int(pid), 0)
            continue  # that caller is alive
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _kill_uid(uid: int) -> None:
    """SIGKILL all processes of a sandbox uid (used when a worker died without cleaning up)."""
    if os.geteuid() != 0:
        return
    snippet = "import os\nfor _ in range(20):\n    try: os.kill(-1, 9)\n    except OSError: break\n"
    try:
        subprocess.run([sys.executable, "-I", "-S", "-c", snippet], user=uid, group=uid, extra_groups=[],
                       env={}, timeout=10, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        pass


class _WorkerLost(Exception):
    pass


CLONE_NEWPID = 0x20000000


class _Spawner:
    """Starts every sandbox worker of a pool from one long-lived thread, each as PID 1 of a
    fresh PID namespace when privileged.

    Why a thread of its own: the worker sets PR_SET_PDEATHSIG, which fires when the *thread*
    that forked it exits, not the process; workers started from short-lived threads (the
    ones of `execute_many`) would die with them. This thread lives as long as the caller.

    Why a PID namespace: its init (the worker) takes every process in it down when it dies,
    however it dies. So nothing a program started (a setsid double-fork, a fork bomb) can
    outlive its worker, and the worker cannot outlive the caller (PDEATHSIG=SIGKILL). The
    namespace is made with unshare(CLONE_NEWPID) on this thread only (namespaces are per
    thread), so its next fork -- the worker -- becomes the namespace's init; setns() back
    right after keeps the thread's later forks in the caller's namespace."""

    def __init__(self):
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.pidns = os.geteuid() == 0 and os.environ.get("L2L_SANDBOX_UNPRIVILEGED") != "1"
        self.thread = threading.Thread(target=self._serve, name="l2l-sandbox-spawner", daemon=True)
        self.thread.start()

    def spawn(self, argv: list[str], **popen_kwargs) -> tuple[subprocess.Popen, bool]:
        """Popen(argv) from the spawner thread; returns (process, whether it is a namespace init)."""
        done: queue.SimpleQueue = queue.SimpleQueue()
        self.requests.put((argv, popen_kwargs, done))
        ok, value, in_ns = done.get()
        if not ok:
            raise value
        return value, in_ns

    def _serve(self) -> None:
        libc = own_ns = None
        if self.pidns:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            try:
                own_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self.pidns = False
        while True:
            argv, kwargs, done = self.requests.get()
            in_ns = bool(self.pidns and libc.unshare(CLONE_NEWPID) == 0)
            try:
                done.put((True, subprocess.Popen(argv, **kwargs), in_ns))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                done.put((False, exc, False))
            finally:
                if in_ns and libc.setns(own_ns, CLONE_NEWPID) != 0:
                    self.pidns = False  # cannot happen as root; never fork into a stale namespace


class _Worker:
    """One warm sandbox process and the pipe protocol to it. Used by one thread at a time."""

    def __init__(self, slot: int, config: dict, uid_slots: "_UidSlots | None" = None,
                 spawner: _Spawner | None = None):
        self.slot = slot
        self.spawner = spawner
        self.uid_slots = uid_slots
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.info: dict | None = None
        self.workroot: str | None = None
        self.errlog = None
        self.in_pidns = False
        self.uid = _UID_BASE + os.getpid() * _MAX_WORKERS_PER_POOL + slot if os.geteuid() == 0 else None

    def start(self) -> None:
        self.workroot = tempfile.mkdtemp(prefix=f"{_WORKROOT_PREFIX}{os.getpid()}-")
        if self.uid is not None and os.environ.get("L2L_SANDBOX_UNPRIVILEGED") == "1":
            os.chown(self.workroot, self.uid, self.uid)  # the worker drops to this uid for good
        self.errlog = tempfile.TemporaryFile()
        # `--caller <pid>` is inherited by every process the worker forks (they share its argv),
        # so `ps` shows which caller a sandbox process belongs to.
        argv = [sys.executable, "-I", SANDBOX_SCRIPT, "--caller", str(os.getpid())]
        kwargs = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog, env=_minimal_env(),
                      cwd="/", start_new_session=True, close_fds=True)
        if self.spawner is None:
            self.proc, self.in_pidns = subprocess.Popen(argv, **kwargs), False
        else:
            self.proc, self.in_pidns = self.spawner.spawn(argv, **kwargs)
        self.info = None
        self._send({**self.config, "workroot": self.workroot, "uid": self.uid, "output_cap": OUTPUT_CAP})

    def _send(self, msg: dict) -> None:
        data = json.dumps(msg).encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise _WorkerLost(f"sandbox worker is gone ({exc})") from None

    def _recv(self, deadline_s: float) -> dict:
        fd = self.proc.stdout.fileno()
        deadline = _now() + deadline_s
        buf = b""
        need = 4
        header_done = False
        while True:
            while len(buf) < need:
                remaining = deadline - _now()
                if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                    raise TimeoutError
                chunk = os.read(fd, need - len(buf))
                if not chunk:
                    raise _WorkerLost("sandbox worker exited unexpectedly")
                buf += chunk
            if header_done:
                return json.loads(buf)
            need = struct.unpack(">I", buf)[0]
            buf = b""
            header_done = True

    def ensure_ready(self) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        if self.info is None:
            try:
                info = self._recv(READY_TIMEOUT_S)
                # The worker only knows its pid inside its namespace (1); report the caller's view.
                self.info = {**info, "pid": self.proc.pid, **assess(info)}
            except (TimeoutError, _WorkerLost) as exc:
                tail = self._stderr_tail()
                self.stop()
                raise SandboxUnavailable(f"sandbox worker failed to start: {exc or 'timeout'}\n{tail}") from None
        return self.info

    def _stderr_tail(self) -> str:
        try:
            self.errlog.seek(0)
            return self.errlog.read()[-2000:].decode("utf-8", "replace")
        except (OSError, ValueError, AttributeError):
            return ""

    def run(self, request: dict) -> dict:
        _check_isolation(self.ensure_ready())
        self._send(request)
        return self._recv(float(request["timeout_s"]) + HARD_MARGIN_S)

    def stop(self, graceful: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            clean = False
            if graceful:
                try:
                    proc.stdin.close()  # EOF: the worker kills its child, sweeps and exits
                    proc.wait(timeout=3)
                    clean = proc.returncode == 0
                except (OSError, subprocess.TimeoutExpired, ValueError):
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
            if not clean and self.uid is not None:
                _kill_uid(self.uid)  # its program's descendants were re-parented away from it
                if self.uid_slots is not None:
                    # Orphans that became zombies of a non-reaping init cannot be killed, and
                    # still count against RLIMIT_NPROC of their uid: the restarted worker gets
                    # a uid of its own.
                    self.slot = self.uid_slots.replace(self.slot)
                    self.uid = _UID_BASE + os.getpid() * _MAX_WORKERS_PER_POOL + self.slot
        if self.errlog is not None:
            self.errlog.close()
            self.errlog = None
        if self.workroot is not None:
            shutil.rmtree(self.workroot, ignore_errors=True)
            self.workroot = None
        self.info = None


def _check_isolation(info: dict) -> None:
    """Refuse to run programs without isolation (unless allowed); say once what is weak."""
    global _WARNED
    if not info.get("isolated") and not unsafe_exec_allowed():
        raise SandboxUnavailable(
            "refusing to run generated code: no isolation layer beyond the Python audit hook is available "
            "on this machine (no Landlock, no seccomp filter, no namespaces, not root), so a program would run "
            "with all of this user's rights (files, network, other processes). Pass --unsafe-exec (or set "
            "unsafe_exec=true; L2L_UNSAFE_EXEC=1) to run it anyway; `l2l doctor` shows what is missing.")
    if info.get("gaps") and not _WARNED:
        _WARNED = True
        sys.stderr.write("l2l: warning: the program sandbox is weaker on this machine ("
                         + "; ".join(info["gaps"]) + "). `l2l doctor` shows the details.\n")


def _now() -> float:
    import time

    return time.monotonic()


Kind = tuple  # sorted backend names a worker has imported; () = no solver library


def _kind_config(kind: Kind) -> dict:
    backends = [SOLVER_BACKENDS[name] for name in kind]
    return {
        "preimport": sorted({m for b in backends for m in b.modules}),
        "preludes": {b.name: b.prelude_source() for b in backends},
        "warmup": [b.warmup for b in backends if b.warmup],
        "prefork": os.environ.get("L2L_SANDBOX_PREFORK", "1") != "0",
    }


_MENTIONS: tuple[re.Pattern, dict[str, str]] | None = None  # (module-name regex, module -> backend)


def _route(code: str, backend: str | None) -> Kind:
    """Which kind of warm worker runs this program: the smallest one that has imported
    what it needs.

    A worker that also imported libraries the program does not use only makes each fork
    slower (more memory to map and copy on write), so there is one kind of worker per solver
    backend, one with none and one with all of them. The program's own source decides: any
    mention of a solver module's name counts. This is a speed choice only: every worker can
    run every program (a program whose import we miss imports the module in its own process).
    """
    global _MENTIONS
    if _MENTIONS is None:
        names = {m: b.name for b in SOLVER_BACKENDS.values() for m in b.modules}
        pattern = re.compile(r"\b(" + "|".join(re.escape(m) for m in sorted(names, key=len, reverse=True)) + r")\b")
        _MENTIONS = (pattern, names)
    pattern, names = _MENTIONS
    needed = {names[m] for m in pattern.findall(code)}
    if backend is not None:
        needed.add(backend)
    if len(needed) > 1:
        return tuple(sorted(SOLVER_BACKENDS))
    return tuple(needed)


class _UidSlots:
    """Hands out the per-pool uid numbers (0.._MAX_WORKERS_PER_POOL-1) of sandbox workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next = 0
        self.live: set[int] = set()
        self.retired: set[int] = set()  # uids that may still own unkillable zombies

    def take(self) -> int:
        with self.lock:
            for _ in range(2):
                for _ in range(_MAX_WORKERS_PER_POOL):
                    slot, self.next = self.next, (self.next + 1) % _MAX_WORKERS_PER_POOL
                    if slot not in self.live:
                        self.live.add(slot)
                        return slot
                self.live -= self.retired  # all used up: recycle the oldest retired ones
                self.retired.clear()
        raise SandboxUnavailable("too many sandbox workers")

    def replace(self, slot: int) -> int:
        with self.lock:
            self.retired.add(slot)
        return self.take()


class _Group:
    """The warm workers of one kind; started together on the first program that needs them."""

    def __init__(self, kind: Kind, workers: list[_Worker]):
        self.kind = kind
        self.workers = workers
        self.idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for w in workers:
            w.start()  # all start importing in parallel; each is awaited on first use
            self.idle.put(w)


class _Pool:
    """`size` programs run at once; each on an idle worker of the kind it was routed to."""

    def __init__(self, size: int):
        self.pid = os.getpid()
        self.size = size
        self.slots = threading.BoundedSemaphore(size)
        self.groups: dict[Kind, _Group] = {}
        self.uid_slots = _UidSlots()
        self.spawner = _Spawner()
        _remove_stale_workroots()
        self.lock = threading.Lock()
        self.closed = False

    @property
    def workers(self) -> list[_Worker]:
        """Every worker started so far, all kinds."""
        with self.lock:
            return [w for g in self.groups.values() for w in g.workers]

    def group(self, kind: Kind) -> _Group:
        with self.lock:
            if self.closed:
                raise SandboxUnavailable("the sandbox pool has been shut down")
            g = self.groups.get(kind)
            if g is None:
                config = _kind_config(kind)
                g = self.groups[kind] = _Group(
                    kind, [_Worker(self.uid_slots.take(), config, self.uid_slots, self.spawner)
                           for _ in range(self.size)])
            return g

    def run(self, request: dict, kind: Kind) -> tuple[dict | None, str | None]:
        """Returns (worker reply, None) or (None, reason the worker was lost)."""
        g = self.group(kind)
        with self.slots:
            w = g.idle.get()
            try:
                if self.closed:
                    raise SandboxUnavailable("the sandbox pool has been shut down")
                try:
                    return w.run(request), None
                except TimeoutError:
                    w.stop()
                    return None, "timeout"
                except _WorkerLost as exc:
                    w.stop()
                    return None, str(exc)
            finally:
                g.idle.put(w)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            groups = list(self.groups.values())
        for g in groups:
            for w in g.workers:
                w.stop(graceful=True)


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool_size() -> int:
    try:
        n = int(os.environ.get("L2L_SANDBOX_WORKERS", "0"))
    except ValueError:
        n = 0
    return max(1, min(64, n or os.cpu_count() or 1))


def _get_pool() -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid() or _POOL.closed:
            _POOL = _Pool(_pool_size())
        return _POOL


def shutdown() -> None:
    """Stop all sandbox workers (also runs at interpreter exit). The next call restarts them."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def _forget_pool_in_child() -> None:
    # A forked copy of the caller must not talk to (or kill) the parent's workers.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


atexit.register(shutdown)
os.register_at_fork(after_in_child=_forget_pool_in_child)


def sandbox_info() -> dict:
    """Which isolation layers the workers have active (starts the pool if needed): the
    worker's raw report plus `assess()`'s "layers", "gaps", "isolated" and "gold_hidden".

    >>> sorted(sandbox_info())  # doctest: +ELLIPSIS
    [...'gaps', ...'landlock', ...'layers', ...'mount_namespace', 'net_namespace', ...'seccomp'...]
    """
    g = _get_pool().group(())
    w = g.idle.get()
    try:
        return dict(w.ensure_ready())
    finally:
        g.idle.put(w)


def sandbox_summary() -> dict:
    """The short account `l2l solve --json` reports as "sandbox".

    >>> sorted(sandbox_summary())
    ['gaps', 'gold_hidden', 'layers', 'mode', 'unsafe_exec']
    """
    try:
        info = sandbox_info()
    except SandboxUnavailable as exc:
        return {"mode": None, "layers": [], "gaps": [str(exc)], "gold_hidden": False, "unsafe_exec": False}
    mode = "root" if info.get("privileged") else "root, as an unprivileged uid" if info.get("as_user") else "user"
    return {"mode": mode, "layers": info["layers"], "gaps": info["gaps"], "gold_hidden": info["gold_hidden"],
            "unsafe_exec": not info["isolated"] and unsafe_exec_allowed()}




def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


_MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "out of memory", "Cannot allocate memory")


def _classify(reply: dict, timeout_s: float) -> ExecutionResult:
    stdout, stderr = reply.get("stdout", ""), reply.get("stderr", "")
    answer = parse_answer(stdout)
    rec = reply.get("record") or {}
    sig = reply.get("signal")
    code = reply.get("exit_code")
    kind = rec.get("kind")
    violations = rec.get("violations") or []
    result = ExecutionResult(status="runtime_error", answer=answer, stdout=stdout, stderr=stderr,
                             elapsed_s=float(reply.get("elapsed_s", 0.0)),
                             returncode=code if code is not None else (-sig if sig else None),
                             solver_events=list(reply.get("solver_events") or []))
    tail = stderr[-2000:]
    if reply.get("confine_failed"):
        result.status, result.error = "runtime_error", f"sandbox error: {stderr.strip()[-300:]}"
        result.answer = None
    elif reply.get("timed_out") or sig == signal.SIGXCPU or (
        sig == signal.SIGKILL and reply.get("cpu_s", 0) >= max(1.0, timeout_s)
    ):
        result.status, result.error = "timeout", f"timed out after {timeout_s:g}s"
    elif kind == "syntax":
        result.status, result.error = "syntax_error", rec.get("error")
    elif kind == "blocked":
        result.status, result.error = "blocked", rec.get("error")
    elif kind == "memory" or (kind in ("runtime", None) and any(m in (rec.get("error") or tail) for m in _MEMORY_MARKERS)):
        result.status, result.error = "memory", rec.get("error") or "out of memory"
    elif kind == "runtime":
        result.status, result.error = "runtime_error", rec.get("error")
        if "[Errno 27]" in (result.error or ""):  # EFBIG from RLIMIT_FSIZE
            result.error += " (output and files are limited to 16 MiB each)"
    elif sig == signal.SIGXFSZ:
        result.error = "output or file size limit exceeded"
    elif sig is not None:
        name = _signal_name(sig)
        if sig == signal.SIGKILL:
            result.status, result.error = "memory", "killed (SIGKILL), most likely out of memory"
        else:
            result.error = f"program crashed: killed by signal {name}"
    elif kind == "exit" and rec.get("code"):
        result.error = rec.get("error") or f"SystemExit: {rec.get('code')}"
    elif kind is None and code:
        result.error = f"program exited with status {code} before finishing"
    elif answer is not None:
        result.status = "ok"
    else:
        result.status, result.error = "no_answer", "program finished without printing an 'ANSWER: <value>' line"
    if violations and result.status in ("runtime_error", "no_answer"):
        result.status, result.error = "blocked", f"sandbox: {violations[0]} is not allowed"
    return result


def execute(code: str, *, backend: str | None = None, timeout_s: float = 10, memory_mb: int = 2048) -> ExecutionResult:
    """Run one untrusted program in a fresh sandboxed process and classify the outcome.

    `backend` ("z3", "sympy", "constraint") pre-loads that solver's prelude into the
    program's globals. Never raises for anything the program does; raises ValueError /
    TypeError for bad arguments and SandboxUnavailable if no worker can start.

    >>> execute("print('ANSWER:', 6 * 7)").answer
    '42'
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, not {type(code).__name__}")
    if backend is not None and backend not in SOLVER_BACKENDS:
        raise ValueError(f"unknown solver backend {backend!r} (known: {', '.join(SOLVER_BACKENDS)})")
    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 24 * 3600):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if not (isinstance(memory_mb, int) and memory_mb >= 0):
        raise ValueError(f"memory_mb must be a non-negative int (0 = no limit), got {memory_mb!r}")
    request = {"code": code, "backend": backend, "timeout_s": float(timeout_s), "memory_mb": memory_mb}
    reply, lost = _get_pool().run(request, _route(code, backend))
    if reply is None:
        if lost == "timeout":
            return ExecutionResult(status="timeout", elapsed_s=timeout_s + HARD_MARGIN_S,
                                   error=f"timed out after {timeout_s:g}s (sandbox worker killed)")
        return ExecutionResult(status="runtime_error", error=f"program crashed the sandbox worker: {lost}")
    if "sandbox_error" in reply:
        return ExecutionResult(status="runtime_error", error=f"sandbox error: {reply['sandbox_error']}")
    return _classify(reply, timeout_s)


def execute_many(
    codes: Sequence[str],
    *,
    backend: str | Sequence[str | None] | None = None,
    timeout_s: float = 10,
    memory_mb: int = 2048,
    progress: bool = False,
) -> list[ExecutionResult]:
    """Run many programs in parallel over the worker pool; results come back in input order.

    `backend` is one name for all programs or a list with one entry per program.

    >>> [r.answer for r in execute_many(["print('ANSWER: 1')", "print('ANSWER: 2')"])]
    ['1', '2']
    """
    codes = list(codes)
    if backend is None or isinstance(backend, str):
        backends = [backend] * len(codes)
    else:
        backends = list(backend)
        if len(backends) != len(codes):
            raise ValueError(f"got {len(backends)} backends for {len(codes)} programs")
    if not codes:
        return []
    for b in set(backends):  # fail fast, before anything runs
        if b is not None and b not in SOLVER_BACKENDS:
            raise ValueError(f"unknown solver backend {b!r} (known: {', '.join(SOLVER_BACKENDS)})")
    pool = _get_pool()
    with ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="l2l-sandbox") as ex:
        futures = [ex.submit(execute, c, backend=b, timeout_s=timeout_s, memory_mb=memory_mb)
                   for c, b in zip(codes, backends)]
        if progress:
            from concurrent.futures import as_completed

            from tqdm import tqdm

            for _ in tqdm(as_completed(futures), total=len(futures), desc="executing", unit="prog"):
                pass
        return [f.result() for f in futures]
