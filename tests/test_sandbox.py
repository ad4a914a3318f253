"""Each test attacks one safety property of the sandbox for real.

Attacks come in two flavours: plain Python (stopped by the audit-hook layer, status
"blocked") and raw libc calls through ctypes, which bypass that layer and must be stopped
by the kernel layers (Landlock, seccomp, namespaces, uid switch, rlimits). The tests marked
`needs_privileged` check root-only layers (PID namespace, uid per worker);
tests/test_sandbox_attacks.py runs the attack corpus as root and as an unprivileged user.
Programs are single processes where the seccomp filter is active (`max_processes` == 1):
the fork-based attacks then check that fork fails, and the hard-kill tests kill a caller
or worker in the middle of a long-running program instead of a fork bomb.
Cost: ~2 min (a few pool starts, a few 1-2 s timeouts, four subprocesses).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import solvers
from solvers import execute, sandbox_info

REPO = Path(__file__).resolve().parents[1]
LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def privileged() -> bool:
    return bool(sandbox_info().get("privileged"))


def single_process() -> bool:
    return sandbox_info().get("max_processes") == 1


needs_privileged = pytest.mark.skipif(os.geteuid() != 0, reason="OS-layer isolation needs root (see sandbox.py)")


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
            state = next(line for line in status.splitlines() if line.startswith("State:"))
            if str(uid) in uids and "Z" not in state.split()[1]:
                pids.append(int(entry))
    return pids


def _alive_in_namespace(pid_ns: str, pid: int) -> bool:
    """Whether a live process has `pid` inside PID namespace `pid_ns` (as readlink of
    /proc/<pid>/ns/pid shows it): privileged workers run their programs in a PID namespace
    of their own, so a pid a program sees is not a pid of ours."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != pid_ns:
                    continue
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            nspid = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[-1]
            if int(nspid) == pid and _alive(int(entry)):
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# ----------------------------------------------------------------------------- files
def test_write_outside_tempdir_python_is_blocked(tmp_path):
    target = tmp_path / "evil.txt"
    r = execute(f"open({str(target)!r}, 'w').write('pwned')\nprint('ANSWER: 1')")
    assert r.status == "blocked", r
    assert "evil.txt" in r.error
    assert not target.exists()


def test_delete_outside_tempdir_python_is_blocked(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    r = execute(f"import os\nos.remove({str(victim)!r})")
    assert r.status == "blocked"
    assert victim.read_text() == "precious"


@needs_privileged
def test_write_outside_tempdir_via_libc_fails(tmp_path):
    assert privileged()
    targets = [tmp_path / "evil_libc.txt", REPO / "evil_libc.txt", Path("/tmp/l2l_evil_libc.txt")]
    code = LIBC + "".join(
        f"print(libc.open({str(t).encode()!r}, 0o101, 0o644), ctypes.get_errno())\n" for t in targets
    ) + "print('ANSWER: tried')"
    r = execute(code)
    assert r.status == "ok", r
    for t in targets:
        assert not t.exists(), t
    # every open() returned -1
    assert all(line.split()[0] == "-1" for line in r.stdout.splitlines()[:3]), r.stdout


def test_program_dir_is_fresh_and_removed_afterwards():
    code = "import os\nprint(os.listdir('.'))\nopen('scratch.txt', 'w').write('x')\nprint('ANSWER:', os.getcwd())"
    first, second = execute(code), execute(code)
    assert first.status == second.status == "ok", (first, second)
    assert first.stdout.startswith("[]") and second.stdout.startswith("[]")  # nothing left by the previous run
    assert first.answer != second.answer
    assert not Path(first.answer).exists()


# ----------------------------------------------------------------------------- network
@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def _assert_no_connection(srv):
    with pytest.raises(BlockingIOError):
        srv.accept()


def test_network_python_is_blocked(listener):
    port = listener.getsockname()[1]
    r = execute(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('ANSWER: connected')")
    assert r.status == "blocked", r
    _assert_no_connection(listener)


@needs_privileged
def test_network_via_libc_is_unreachable(listener):
    port = listener.getsockname()[1]
    code = LIBC + textwrap.dedent(f"""
        import struct
        fd = libc.socket(2, 1, 0)
        addr = struct.pack('!HH4s8x', 2, {port}, bytes([127, 0, 0, 1]))
        addr = struct.pack('<H', 2) + addr[2:]
        rc = libc.connect(fd, addr, len(addr))
        print('ANSWER:', rc, ctypes.get_errno())
    """)
    r = execute(code)
    assert r.status == "ok", r
    assert r.answer.split()[0] == "-1", r.answer
    _assert_no_connection(listener)


# ----------------------------------------------------------------------------- environment
def test_parent_environment_is_not_visible(monkeypatch):
    secret = "l2l-secret-7f3a9c"
    monkeypatch.setenv("L2L_TEST_SECRET", secret)
    solvers.shutdown()  # the next pool starts from a parent that holds the secret
    test_pid = os.getpid()
    code = textwrap.dedent(f"""
        import os
        print(dict(os.environ))
        for path in ['/proc/{test_pid}/environ', '/proc/%d/environ' % os.getppid(), '/proc/1/environ']:
            try:
                print(open(path, 'rb').read())
            except Exception as e:
                print(type(e).__name__)
        print('ANSWER: done')
    """)
    ctypes_code = LIBC + textwrap.dedent(f"""
        for path in [b'/proc/{test_pid}/environ', b'/proc/1/environ']:
            fd = libc.open(path, 0)
            buf = ctypes.create_string_buffer(1 << 16)
            n = libc.read(fd, buf, 1 << 16) if fd >= 0 else -1
            print(path, fd, buf.raw[:max(n, 0)])
        print('ANSWER: done')
    """)
    for c in (code, ctypes_code):
        r = execute(c)
        assert secret not in r.stdout + r.stderr
    assert r.status == "ok", r
    solvers.shutdown()


# ----------------------------------------------------------------------------- processes
def test_subprocess_and_system_are_blocked(tmp_path):
    target = tmp_path / "spawned"
    for code in (
        f"import subprocess\nsubprocess.run(['touch', {str(target)!r}])",
        f"import os\nos.system('touch {target}')",
        f"import os\nos.execv('/usr/bin/touch', ['touch', {str(target)!r}])",
        f"import os\nos.posix_spawn('/usr/bin/touch', ['touch', {str(target)!r}], {{}})",
    ):
        r = execute(code)
        assert r.status == "blocked", (code, r)
    assert not target.exists()


@needs_privileged
def test_libc_system_cannot_touch_host_files(tmp_path):
    target = tmp_path / "spawned_libc"
    r = execute(LIBC + f"print('ANSWER:', libc.system(b'touch {target}'))")
    assert r.status == "ok", r
    assert not target.exists()


def test_kill_parent_python_is_blocked():
    r = execute("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert r.status == "blocked"
    assert execute("print('ANSWER: alive')").answer == "alive"


@needs_privileged
def test_kill_parent_and_caller_via_libc_fails():
    code = LIBC + textwrap.dedent(f"""
        print(libc.kill(libc.getppid(), 9), ctypes.get_errno())
        print(libc.kill({os.getpid()}, 9), ctypes.get_errno())
        print(libc.kill(-1, 9))
        print('ANSWER: tried')
    """)
    before = sandbox_info()["pid"]
    r = execute(code)
    assert r.status == "ok", r
    assert r.stdout.splitlines()[0].split()[0] == "-1"  # EPERM on the worker
    assert r.stdout.splitlines()[1].split()[0] == "-1"  # EPERM on us
    assert execute("print('ANSWER: alive')").answer == "alive"
    assert sandbox_info()["pid"] == before or _alive(before)


def test_fork_bomb_python_is_blocked():
    r = execute("import os\nwhile True:\n    os.fork()", timeout_s=2)
    assert r.status == "blocked", r
    assert execute("print('ANSWER: alive')").answer == "alive"


@needs_privileged
def test_fork_bomb_via_libc_ends_and_leaves_nothing():
    uid = sandbox_info()["uid"]
    r = execute(LIBC + "while True:\n    libc.fork()", timeout_s=1)
    assert r.status == "timeout", r
    assert _uid_processes(uid) == []
    assert execute("print('ANSWER: alive')").answer == "alive"


@needs_privileged
def test_escaped_grandchild_is_killed_after_timeout():
    code = LIBC + textwrap.dedent("""
        import os, sys, time
        pid = libc.fork()
        if pid == 0:
            libc.setsid()
            while True:
                time.sleep(0.1)
        print('CHILD', pid, os.readlink('/proc/self/ns/pid'), flush=True)
        while True:
            pass
    """)
    r = execute(code, timeout_s=1)
    assert r.status == "timeout"
    child, pid_ns = r.stdout.split("CHILD")[1].split()[:2]
    if single_process():
        assert int(child) == -1  # seccomp: no new process at all
        return
    assert int(child) > 0
    # the pid was printed inside the worker's PID namespace: look it up there
    assert _alive_in_namespace(pid_ns, int(child)) is False
    assert _alive_in_namespace(os.readlink("/proc/self/ns/pid"), os.getpid())  # the lookup does find live ones
    from solvers.executor import _get_pool

    assert all(_uid_processes(w.uid) == [] for w in _get_pool().workers)


# ----------------------------------------------------------------------------- resources
def test_memory_bomb_ends_with_memory_status():
    r = execute("a = []\nwhile True:\n    a.append(bytearray(10**7))", memory_mb=256, timeout_s=10)
    assert r.status == "memory", r
    r = execute("x = bytearray(10**10)", memory_mb=256)
    assert r.status == "memory", r
    assert execute("print('ANSWER: alive')").answer == "alive"


def test_infinite_loop_times_out_and_next_call_works():
    r = execute("while True:\n    pass", timeout_s=1)
    assert r.status == "timeout"
    assert "1s" in r.error
    r = execute("import time\ntime.sleep(100)", timeout_s=1)
    assert r.status == "timeout"
    assert execute("print('ANSWER: alive')").answer == "alive"


def test_output_flood_is_capped():
    r = execute("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", timeout_s=5)
    assert r.status == "runtime_error"
    assert "File too large" in r.error
    assert len(r.stdout) < 100_000


# ----------------------------------------------------------------------------- crashes
@pytest.mark.parametrize(
    "code, status, fragment",
    [
        ("import ctypes\nctypes.string_at(0)", "runtime_error", "SIGSEGV"),
        ("import os\nos._exit(3)", "runtime_error", "status 3"),
        ("import os\nprint('ANSWER: 5', flush=True)\nos._exit(0)", "ok", None),
        ("def f():\n    return f()\nf()", "runtime_error", "RecursionError"),
        ("import sys\nsys.setrecursionlimit(10**7)\nx = []\nfor _ in range(10**5):\n    x = [x]\nrepr(x)",
         "runtime_error", "SIGSEGV"),
        ("import os\nos.close(1)\nos.close(2)\nprint('ANSWER: 1')", "runtime_error", None),
        ("import sys\nsys.stdout.close()\nprint('ANSWER: 1')", "runtime_error", "closed file"),
        ("import os, signal\nos.abort()", "runtime_error", "SIGABRT"),
    ],
    ids=["segfault", "os_exit", "os_exit0_with_answer", "recursion", "c_stack_overflow", "close_fds",
         "close_stdout", "abort"],
)
def test_crash_gives_status_and_next_call_works(code, status, fragment):
    r = execute(code, timeout_s=20)  # a C-stack overflow takes a few seconds to fault on this VM
    assert r.status == status, r
    if fragment:
        assert fragment in (r.error or ""), r
    assert execute("print('ANSWER: alive')").answer == "alive"


# ----------------------------------------------------------------------------- lifecycle
def test_no_orphan_processes_after_interpreter_exit(tmp_path):
    # Parent exits while a program is still running: the worker must notice, kill it and exit.
    script = textwrap.dedent("""
        import json, sys, threading, time
        from solvers import execute, sandbox_info
        from solvers.executor import _get_pool
        info = sandbox_info()
        print(json.dumps({"pids": [w.proc.pid for w in _get_pool().workers], "uid": info["uid"],
                          "roots": [w.workroot for w in _get_pool().workers]}), flush=True)
        threading.Thread(target=execute, args=("import time\\ntime.sleep(60)",), kwargs={"timeout_s": 30},
                         daemon=True).start()
        time.sleep(1)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    import time

    info = json.loads(out.stdout.splitlines()[0])
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in info["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in info["pids"])
    if info["uid"] is not None:
        assert _uid_processes(info["uid"]) == []
    assert not any(os.path.exists(r) for r in info["roots"])


def test_unprivileged_mode_never_runs_programs_as_root(tmp_path):
    # L2L_SANDBOX_UNPRIVILEGED=1 used to mean "root, without isolation". Now, as root, it
    # runs the non-root path as a real unprivileged uid: the worker itself drops root.
    tmp_path.chmod(0o777)  # only the sandbox, not file permissions, may stop the writes
    target = tmp_path / "evil_unpriv.txt"
    script = textwrap.dedent(f"""
        from solvers import execute, sandbox_info
        info = sandbox_info()
        assert not info["uid_switch"] and not info["privileged"], info
        assert info["as_user"] == (__import__("os").geteuid() == 0), info
        r = execute("open({str(target)!r}, 'w').write('x')")
        assert r.status == "blocked", r
        r = execute("import ctypes, os\\nlibc = ctypes.CDLL(None, use_errno=True)\\n"
                    "print('ANSWER:', os.geteuid(), libc.open({str(target).encode()!r}, 0o101, 0o644))")
        assert r.status == "ok" and r.answer.split()[0] != "0" and r.answer.split()[1] == "-1", r
        r = execute("x = Int('x')\\ns = Solver(); s.add(x + 1 == 3); s.check()\\nprint('ANSWER:', s.model()[x])",
                    backend="z3")
        assert r.answer == "2", r
        print("OK")
    """)
    env = {**os.environ, "L2L_SANDBOX_UNPRIVILEGED": "1", "L2L_SANDBOX_WORKERS": "1"}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "OK", out.stderr
    assert not target.exists()


# ----------------------------------------------------------------------------- pre-forked children
def _children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_prefork_children_do_not_leak_state_between_programs():
    # Each program checks for the marks of the ones before it, then leaves its own: in a
    # module (z3 kind, pre-imported), in builtins, in the environment, in cwd and in /tmp.
    code = textwrap.dedent("""
        import builtins, os, z3
        seen = [getattr(z3, 'LEAK', None), getattr(builtins, 'LEAK', None), os.environ.get('LEAK'),
                sorted(os.listdir('.')), os.path.exists('/tmp/l2l_leak_mark')]
        z3.LEAK = builtins.LEAK = os.environ['LEAK'] = 'x'
        open('mark', 'w').write('x')
        try:
            open('/tmp/l2l_leak_mark', 'w').write('x')
        except OSError:
            pass
        print('ANSWER:', seen, os.readlink('/proc/self/ns/pid') + ':' + str(os.getpid()))
    """)
    results = [execute(code) for _ in range(6)]  # sequential calls cycle through every worker
    assert all(r.status in ("ok", "blocked") for r in results), results
    ok = [r for r in results if r.status == "ok"]
    assert len(ok) == 6 or all(r.status == "blocked" for r in results[len(ok):])
    for r in ok:
        assert r.answer.startswith("[None, None, None, [], False]"), r.answer
    # a fresh process every time ((pid namespace, pid) is unique: each worker has a PID namespace)
    assert len({r.answer.split()[-1] for r in ok}) == len(ok)
    assert not Path("/tmp/l2l_leak_mark").exists()


def test_running_program_cannot_touch_the_spare_child():
    if not sandbox_info().get("prefork"):
        pytest.skip("pre-forking is off")
    # The spare is our sibling (another child of the worker), forked just after us. With
    # Landlock the program cannot list it in /proc, so it tries the likely pids.
    code = LIBC + textwrap.dedent("""
        import os, time
        me = os.getpid()
        time.sleep(0.3)  # the worker forks the spare just after starting us
        for pid in range(me + 1, me + 4):
            kill = libc.kill(pid, 19)  # SIGSTOP would hang the next program
            attach = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
            mem = libc.open(b'/proc/%d/mem' % pid, 2)
            print('SIBLING', pid, kill, attach, mem)
        print('ANSWER: tried')
    """)
    from solvers.executor import _get_pool

    r = execute(code, timeout_s=20)
    assert r.status == "ok", r
    for line in r.stdout.splitlines()[:-1]:
        assert line.split()[2:] == ["-1", "-1", "-1"], line  # every attack failed (ESRCH where no process)
    workers = [w.proc.pid for w in _get_pool().workers if w.proc is not None]
    assert any(_children_of(w) for w in workers)  # the spare was there
    for _ in range(4):  # and every worker still runs programs normally
        assert execute("print('ANSWER: fine')", timeout_s=5).answer == "fine"


def test_spare_child_is_discarded_when_worker_shuts_down():
    solvers.shutdown()  # a fresh pool: every worker started and idle
    if not sandbox_info().get("prefork"):
        pytest.skip("pre-forking is off")
    from solvers.executor import _get_pool

    for w in _get_pool().workers:
        w.ensure_ready()  # a worker forks its spare before it reports ready
    workers = [w.proc.pid for w in _get_pool().workers]
    spares = [c for w in workers for c in _children_of(w)]
    assert len(spares) == len(workers)  # one idle spare per worker
    solvers.shutdown()
    for pid in workers + spares:
        assert not _alive(pid), pid


def test_spare_child_dies_with_a_killed_worker():
    solvers.shutdown()
    if not sandbox_info().get("prefork"):
        pytest.skip("pre-forking is off")
    from solvers.executor import _get_pool

    _get_pool().workers[0].ensure_ready()
    worker = _get_pool().workers[0].proc.pid
    spares = _children_of(worker)
    assert spares
    os.kill(worker, signal.SIGKILL)  # no chance to clean up: the spare must die with it
    import time

    deadline = time.monotonic() + 10
    while any(_alive(p) for p in spares) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in spares)
    for _ in range(3):  # the pool replaces the lost worker
        assert execute("print('ANSWER: back')").answer == "back"
    solvers.shutdown()


# ----------------------------------------------------------------------------- hard kills
# A program that escapes twice over: a sleeper that double-forks out of the program's
# session and process group, then a fork bomb that keeps the process limit full.
_ESCAPE_AND_BOMB = LIBC + textwrap.dedent("""
    import time
    if libc.fork() == 0:
        libc.setsid()
        if libc.fork() == 0:
            while True:
                time.sleep(0.1)
        libc._exit(0)
    while True:
        libc.fork()  # where forks fail (one process per program) this just keeps running
""")

_HARD_KILL_CALLER = textwrap.dedent("""
    import json, os, sys
    from solvers import execute, sandbox_info
    from solvers.executor import _get_pool
    sandbox_info()
    workers = [{"pid": w.proc.pid, "uid": w.uid} for w in _get_pool().workers]
    print(json.dumps(workers), flush=True)
    execute(sys.stdin.read(), timeout_s=120)
""")


def _sandbox_leftovers(caller: int, uids: set) -> list[int]:
    """Live processes that belong to `caller`'s sandbox: run as one of its uids, or carry the
    worker's command line (every process a program forks inherits it)."""
    marker = f"--caller\0{caller}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not _alive(int(entry)):
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        if uid in uids or (b"sandbox.py" in cmdline and marker in cmdline + b"\0"):
            found.append(int(entry))
    return found


def _start_hard_kill_caller():
    caller = subprocess.Popen([sys.executable, "-c", _HARD_KILL_CALLER], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    caller.stdin.write(_ESCAPE_AND_BOMB)
    caller.stdin.close()
    workers = __import__("json").loads(caller.stdout.readline())
    return caller, workers


def _wait_for(predicate, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@needs_privileged
def test_caller_sigkilled_mid_fork_bomb_leaves_no_process():
    caller, workers = _start_hard_kill_caller()
    uids = {w["uid"] for w in workers}
    running = 1 if single_process() else 16
    try:
        # the bomb is running: the sleeper plus a full process limit of forks (or the program alone)
        assert _wait_for(lambda: len(_sandbox_leftovers(-1, uids)) >= running, 60)
    finally:
        caller.kill()  # SIGKILL: no atexit, no cleanup of any kind in the caller
        caller.wait()
    assert _wait_for(lambda: not _sandbox_leftovers(caller.pid, uids), 10), _sandbox_leftovers(caller.pid, uids)
    # The workers die after their programs (they notice the caller's death on their own); under
    # load that can lag the sweep above, so wait for it too (bounded) rather than sample once.
    assert _wait_for(lambda: not any(_alive(w["pid"]) for w in workers), 10)
    # the work directories the caller could not remove go with the next pool
    import glob
    import tempfile

    stale = glob.glob(os.path.join(tempfile.gettempdir(), f"l2l-sandbox-{caller.pid}-*"))
    assert stale
    from solvers.executor import _Pool

    _Pool(1)
    assert not any(os.path.exists(d) for d in stale)


@needs_privileged
def test_worker_sigkilled_mid_fork_bomb_leaves_no_process():
    caller, workers = _start_hard_kill_caller()
    uids = {w["uid"] for w in workers}
    running = 1 if single_process() else 16
    try:
        assert _wait_for(lambda: len(_sandbox_leftovers(-1, uids)) >= running, 60)
        busy = [w for w in workers if _uid_processes(w["uid"])]
        assert len(busy) == 1
        # Freeze the caller first so that its own clean-up (killing the uid) cannot be what
        # removes the processes: only the kernel can.
        os.kill(caller.pid, signal.SIGSTOP)
        os.kill(busy[0]["pid"], signal.SIGKILL)
        uid = busy[0]["uid"]
        assert _wait_for(lambda: not _sandbox_leftovers(-1, {uid}), 10), _sandbox_leftovers(-1, {uid})
    finally:
        caller.kill()
        caller.wait()
    assert _wait_for(lambda: not _sandbox_leftovers(caller.pid, uids), 10), _sandbox_leftovers(caller.pid, uids)


def test_workers_outlive_the_thread_that_first_needed_them():
    # PR_SET_PDEATHSIG fires when the parent *thread* exits: workers started on behalf of a
    # short-lived thread (execute_many's) must not die with it.
    import threading

    solvers.shutdown()
    t = threading.Thread(target=lambda: solvers.execute_many(["print('ANSWER: 1')"] * 2))
    t.start()
    t.join()
    from solvers.executor import _get_pool

    pids = [w.proc.pid for w in _get_pool().workers]
    assert pids and all(_alive(p) for p in pids)
    assert [r.answer for r in solvers.execute_many(["print('ANSWER: 2')"] * 2)] == ["2", "2"]
    assert [w.proc.pid for w in _get_pool().workers] == pids  # the same workers served it
    solvers.shutdown()
