"""The attack corpus, run twice: as the caller we are (root on CI) and as an unprivileged
user this fixture creates (through `setpriv`, see bench/as_user.py). Every attack must be
contained in both.

Each attack is a program plus a check of what it could have done. A runner subprocess
(this file with `--run`) plays the caller: it holds a secret in its environment, listens
on a loopback port, executes every program through `solvers.execute_many` and prints the
results as JSON; the checks then look at the outputs and at the files the programs aimed
at. The targets are laid out so that only the sandbox stops the attack: the directory
outside the program's is world-writable, the "ssh key" and the stand-in for
../shared/benchmarks are readable by the attacking user, and as the unprivileged user the
caller runs under the same uid as its programs.

On e632353 (before Landlock and seccomp), run as the unprivileged user, `dir_fd_write`,
`dir_fd_unlink`, `dir_fd_environ`, `ssh_key_*`, `gold_*` and `ctypes_write` got through
(see bench/results/executor.md); `forged_record` did in both modes.
Cost: ~20 s (two runner processes, each starting a sandbox pool).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECRET_ENV = "l2l-env-secret-5d1e"
SECRET_SSH = "l2l-ssh-secret-91c2"
SECRET_GOLD = "l2l-gold-answer-77ab"
README_LINE = "# L2L: language to logic"
LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
READ = LIBC + (  # read(path) -> (fd, first 64 KiB) through libc alone
    "def read(path):\n"
    "    buf = ctypes.create_string_buffer(1 << 16)\n"
    "    fd = libc.open(path, 0)\n"
    "    n = libc.read(fd, buf, 1 << 16) if fd >= 0 else -1\n"
    "    return fd, buf.raw[:max(n, 0)]\n")


def attacks(ctx: dict) -> dict[str, str]:
    """name -> program. `ctx`: outside (a world-writable dir), home, gold (file paths),
    caller (pid), port (a listening loopback port)."""
    out, home, gold, caller, port = ctx["outside"], ctx["home"], ctx["gold"], ctx["caller"], ctx["port"]
    ssh = f"{home}/.ssh/id_rsa"
    readme = str(REPO / "README.md")
    d = textwrap.dedent
    return {
        # --- the list: dir_fd, environ, ~/.ssh, ctypes, gold
        "dir_fd_write": d(f"""
            import os
            fd = os.open({out!r}, os.O_RDONLY)
            os.close(os.open('created_by_dir_fd', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            print('ANSWER: wrote')
        """),
        "dir_fd_write_ctypes": LIBC + d(f"""
            fd = libc.open({out.encode()!r}, 0o200000)  # O_RDONLY | O_DIRECTORY
            print('ANSWER:', fd, libc.openat(fd, b'created_by_openat', 0o101, 0o644))
        """),
        "dir_fd_unlink": d(f"""
            import os
            fd = os.open({out!r}, os.O_RDONLY)
            os.unlink('victim.txt', dir_fd=fd)
            print('ANSWER: deleted')
        """),
        "dir_fd_unlink_ctypes": LIBC + d(f"""
            fd = libc.open({out.encode()!r}, 0o200000)
            print('ANSWER:', fd, libc.unlinkat(fd, b'victim.txt', 0))
        """),
        "dir_fd_environ": d(f"""
            import os
            proc = os.open('/proc', os.O_RDONLY)
            print(os.read(os.open('{caller}/environ', os.O_RDONLY, dir_fd=proc), 1 << 16))
        """),
        "proc_environ_ctypes": READ + d(f"""
            for path in (b'/proc/{caller}/environ', b'/proc/%d/environ' % libc.getppid()):
                print(path, *read(path))
            print('ANSWER: tried')
        """),
        "ssh_key_python": f"print(open({ssh!r}).read())",
        "ssh_key_ctypes": READ + f"print('ANSWER:', *read({ssh.encode()!r}))",
        "ctypes_write": LIBC + f"print('ANSWER:', libc.open({(out + '/created_by_libc').encode()!r}, 0o101, 0o644))",
        "gold_python": f"print(open({gold!r}).read())",
        "gold_ctypes": READ + f"print('ANSWER:', *read({gold.encode()!r}))",
        "repo_readme_python": f"print(open({readme!r}).read())",
        "repo_readme_ctypes": READ + f"print('ANSWER:', *read({readme.encode()!r}))",
        # --- network
        "network_python": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('ANSWER: connected')",
        "network_ctypes": LIBC + d(f"""
            import struct
            fd = libc.socket(2, 1, 0)
            addr = struct.pack('<H', 2) + struct.pack('!H4s8x', {port}, bytes([127, 0, 0, 1]))
            print('ANSWER:', fd, libc.connect(fd, addr, len(addr)), ctypes.get_errno())
        """),
        # --- the record
        "forged_record": d("""
            import os
            record = b'{"kind": "syntax", "error": "FORGED"}'
            for fd in range(3, 64):
                try:
                    os.write(fd, b'0' * 32 + b'\\n' + b'0' * 32 + b' R ' + record + b'\\n')
                except OSError:
                    pass
            try:  # e632353 read its record from a memfd at fd 3 (and overwrote it at a normal exit)
                os.ftruncate(3, 0)
                os.pwrite(3, record, 0)
            except OSError:
                pass
            print('ANSWER: 1', flush=True)
            os._exit(0)
        """),
        "forged_event": d("""
            import os
            event = b' E {"call": "solve", "ok": true, "verdict": "unique", "forged": true}\\n'
            for fd in range(0, 64):
                for nonce in (b'', b'0' * 32, b'f' * 32):
                    try:
                        os.write(fd, nonce + event)
                    except OSError:
                        pass
            print('ANSWER: 1')
        """),
        "recorder_by_name": d("""
            import builtins, sys
            found = [n for n in ('__l2l_record__',) if n in globals() or hasattr(builtins, n)]
            found += [m for m, mod in list(sys.modules.items()) if hasattr(mod, '__l2l_record__')]
            print('ANSWER:', found or 'none')
        """),
        "nonce_via_frames": d("""
            import gc, sys
            leaks = []
            def attempt(name, f):
                try:
                    leaks.append((name, repr(f())[:80]))
                except Exception as e:
                    print(name, 'denied:', type(e).__name__)
            attempt('getframe', lambda: sys._getframe(1).f_locals)
            attempt('current_frames', lambda: sys._current_frames())
            attempt('gc_objects', lambda: len(gc.get_objects()))
            attempt('gc_referrers', lambda: gc.get_referrers(sys))
            attempt('gc_referents', lambda: gc.get_referents(sys))
            def tb():
                try:
                    1 / 0
                except ZeroDivisionError as e:
                    return e.__traceback__.tb_frame.f_back.f_locals
            attempt('tb_frame', tb)
            def gen():
                yield 1
            attempt('gi_frame', lambda: gen().gi_frame)
            attempt('settrace', lambda: sys.settrace(lambda *a: None))
            attempt('proc_self_mem', lambda: open('/proc/self/mem', 'rb'))
            print('ANSWER:', 'LEAK' if leaks else 'none', leaks)
        """),
        # --- processes and the caller
        "kill_caller_ctypes": LIBC + f"print('ANSWER:', libc.kill({caller}, 19), libc.kill(libc.getppid(), 19), libc.kill(-1, 19))",
        "fork_ctypes": LIBC + "print('ANSWER:', libc.fork())",
        "exec_ctypes": LIBC + f"print('ANSWER:', libc.system(b'touch {out}/created_by_system'))",
        "ptrace_ctypes": LIBC + f"print('ANSWER:', libc.ptrace(16, {caller}, 0, 0), libc.ptrace(16, libc.getppid(), 0, 0))",
        "write_python": f"open({out + '/created_by_python'!r}, 'w').write('x')",
        "unlink_python": f"import os\nos.remove({out + '/victim.txt'!r})",
    }


def _contained(name: str, r: dict, ctx: dict) -> None:
    """Assert that attack `name` (result `r`) did nothing outside its sandbox."""
    text = r["stdout"] + r["stderr"]
    for secret in (SECRET_ENV, SECRET_SSH, SECRET_GOLD, README_LINE):
        assert secret not in text, (name, r)
    outside = Path(ctx["outside"])
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"], (name, r)
    assert (outside / "victim.txt").read_text() == "keep"
    assert not any(e.get("forged") for e in r["solver_events"]), (name, r)
    answer = r["answer"]
    if name in ("dir_fd_write", "dir_fd_unlink", "dir_fd_environ", "ssh_key_python", "gold_python",
                "repo_readme_python", "network_python", "write_python", "unlink_python"):
        assert r["status"] == "blocked", (name, r)
    if name in ("dir_fd_write_ctypes", "dir_fd_unlink_ctypes", "ssh_key_ctypes", "gold_ctypes", "repo_readme_ctypes",
                "ctypes_write", "fork_ctypes"):
        assert r["status"] == "ok" and answer.split()[0] == "-1", (name, r)
    if name == "network_ctypes":
        assert r["status"] == "ok" and "-1" in answer.split()[:2], (name, r)
    if name in ("kill_caller_ctypes", "ptrace_ctypes"):
        # kill(-1) reports success even when every target was refused: judged by `alive` below
        assert r["status"] == "ok" and answer.split()[:2] == ["-1", "-1"], (name, r)
    if name == "forged_record":
        assert r["status"] == "ok" and r["error"] is None, (name, r)
    if name == "forged_event":
        assert r["status"] == "ok" and r["solver_events"] == [], (name, r)
    if name == "recorder_by_name":
        assert answer == "none", (name, r)
    if name == "nonce_via_frames":
        assert answer.startswith("none"), (name, r)
        for what in ("getframe", "current_frames", "gc_objects", "gc_referrers", "gc_referents", "tb_frame",
                     "gi_frame", "settrace", "proc_self_mem"):
            assert f"{what} denied" in r["stdout"], (what, r)
    assert ctx["connections"] == 0, ctx
    assert ctx["alive"] == "alive", ctx  # the worker and the caller still run programs afterwards


def _run_corpus(ctx: dict) -> dict:
    """The runner: play the caller, execute every attack, report results and connections."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    ctx = {**ctx, "caller": os.getpid(), "port": srv.getsockname()[1]}
    from solvers import execute_many, sandbox_info

    # Controls: the caller itself may do what the programs try, so only the sandbox stops them.
    probe = os.path.join(ctx["outside"], "probe")
    open(probe, "w").close()
    os.remove(probe)
    controls = {"write_outside": True, "read_ssh": open(f"{ctx['home']}/.ssh/id_rsa").read() == SECRET_SSH,
                "read_gold": SECRET_GOLD in open(ctx["gold"]).read(),
                "read_environ": SECRET_ENV.encode() in open(f"/proc/{os.getpid()}/environ", "rb").read()}
    info = sandbox_info()
    programs = {n: c for n, c in attacks(ctx).items() if n not in ctx.get("skip", ())}
    results = execute_many(list(programs.values()), timeout_s=10)
    alive = execute_many(["print('ANSWER: alive')"])[0].answer
    connections = 0
    while True:
        try:
            srv.accept()[0].close()
            connections += 1
        except BlockingIOError:
            break
    return {"ctx": {**ctx, "connections": connections, "alive": alive}, "controls": controls, "euid": os.geteuid(),
            "layers": info.get("layers", []), "gaps": info.get("gaps", ["(no report)"]),
            "results": {n: r.to_dict() for n, r in zip(programs, results)}}


def _layout(base: Path, uid: int | None) -> dict:
    outside, home = base / "outside", base / "home"
    (home / ".ssh").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.txt").write_text("keep")
    (home / ".ssh" / "id_rsa").write_text(SECRET_SSH)
    gold = base / "benchmarks_gold.jsonl"  # stands for ../shared/benchmarks
    gold.write_text(json.dumps({"id": 1, "answer": SECRET_GOLD}))
    for p in (base, home, home / ".ssh", outside):
        p.chmod(0o777 if p == outside else 0o755)
    for p in (gold, home / ".ssh" / "id_rsa", outside / "victim.txt"):
        p.chmod(0o666 if p.parent == outside else 0o644)
    if uid is not None:  # the user's own home, as it would be
        for p in (home, home / ".ssh", home / ".ssh" / "id_rsa"):
            os.chown(p, uid, -1)
    return {"outside": str(outside), "home": str(home), "gold": str(gold)}


_RUNS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def attack_dirs():
    """Bases for the attack targets, in the system's temporary directory: pytest's own
    (/tmp/pytest-of-root) is closed to other users, which would stop the attacks for the
    wrong reason."""
    import shutil
    import tempfile

    made: list[str] = []
    yield lambda mode: made.append(tempfile.mkdtemp(prefix=f"l2l-attacks-{mode.replace(' ', '-')}-")) or Path(made[-1])
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def _corpus(mode: str, attack_dirs) -> dict:
    if mode in _RUNS:
        return _RUNS[mode]
    base = attack_dirs(mode)
    base.chmod(0o755)
    env = {"L2L_SANDBOX_WORKERS": "1", "L2L_ATTACK_SECRET": SECRET_ENV, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, __file__, "--run"]
    if mode == "caller":
        ctx = _layout(base, None)
        out = subprocess.run(argv + [json.dumps(ctx)], cwd=REPO, env={**os.environ, **env}, capture_output=True,
                             text=True, timeout=300)
    else:
        sys.path.insert(0, str(REPO / "bench"))
        from as_user import throwaway_user

        with throwaway_user("l2l-attack-test") as user:
            ctx = _layout(base, user.pw_uid)
            from as_user import run_as_user

            out = run_as_user(user.pw_name, argv + [json.dumps(ctx)], env=env, home=ctx["home"], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    _RUNS[mode] = run = json.loads(out.stdout.splitlines()[-1])
    return run


MODES = ["caller", "unprivileged user"]
NAMES = list(attacks({"outside": "/o", "home": "/h", "gold": "/g", "caller": 1, "port": 1}))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_attack_is_contained(mode, name, attack_dirs):
    if mode != "caller" and os.geteuid() != 0:
        pytest.skip("creating a throwaway user needs root")
    run = _corpus(mode, attack_dirs)
    if mode != "caller":
        assert run["euid"] != 0
    assert all(run["controls"].values()), run["controls"]  # the targets were within the caller's own reach
    _contained(name, run["results"][name], run["ctx"])


@pytest.mark.parametrize("mode", MODES)
def test_no_gaps_on_this_machine(mode, attack_dirs):
    """Landlock and seccomp are on this project's machines: both modes report no gap. (On
    a machine without them this fails, as it should: the sandbox is weaker there.)"""
    if mode != "caller" and os.geteuid() != 0:
        pytest.skip("creating a throwaway user needs root")
    run = _corpus(mode, attack_dirs)
    assert run["gaps"] == [], run["gaps"]
    assert any(layer.startswith("landlock") for layer in run["layers"])
    assert any(layer.startswith("seccomp") for layer in run["layers"])


if __name__ == "__main__" and sys.argv[1:2] == ["--run"]:
    print(json.dumps(_run_corpus(json.loads(sys.argv[2]))))
