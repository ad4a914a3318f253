"""Run a command as a throwaway unprivileged user, with this Python and the repository
reachable: how the tests and `bench_executor.py --as-user` exercise L2L's non-root sandbox
on a machine where only root is logged in.

    python bench/as_user.py l2l-nobody -- python3 -c "import os; print(os.getuid())"

Needs root. The user is created with `useradd` if missing (no login shell, no password).
Python often lives where others cannot enter (/root/.pyenv): the command then runs in a
private mount namespace in which that directory is covered by an empty tmpfs with only
the interpreter's directories bind-mounted back -- nothing else of the machine changes --
and drops to the user with `setpriv` (no supplementary groups, no capabilities left).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import subprocess
import sys

def ensure_user(name: str) -> pwd.struct_passwd:
    """The user `name`, created (system account, no home directory) if it does not exist."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)
        return pwd.getpwnam(name)


@contextlib.contextmanager
def throwaway_user(name: str):
    """`ensure_user(name)`, removed again afterwards if this created it."""
    try:
        pwd.getpwnam(name)
        existed = True
    except KeyError:
        existed = False
    user = ensure_user(name)
    try:
        yield user
    finally:
        if not existed:
            subprocess.run(["userdel", name], capture_output=True)


def _sandbox_module():
    """solvers/sandbox.py, loaded by path: its `_expose_python` does the covering (the worker
    uses it for the same reason in root mode)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "solvers", "sandbox.py")
    spec = importlib.util.spec_from_file_location("_l2l_sandbox_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expose(sandbox, paths: list[str]) -> None:
    """In the forked child, before exec: a private mount namespace in which the
    interpreter's directories are reachable for any user."""
    if sandbox._libc.unshare(sandbox.CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if not sandbox._mount(None, "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE):
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    sandbox._expose_python(paths)


def run_as_user(name: str, argv: list[str], *, env: dict | None = None, home: str | None = None,
                **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(argv) as user `name` (created if missing), with the interpreter's
    directories reachable. `home` becomes $HOME (chowned to the user); kwargs go to run()."""
    user = ensure_user(name)
    if home is not None:
        os.chown(home, user.pw_uid, user.pw_gid)
    paths = [p for p in sys.path + [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.executable] if p]
    sandbox = _sandbox_module()  # loaded here: the child of a threaded caller must not import
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {}),
           "HOME": home or "/nonexistent", "USER": name, "LOGNAME": name}
    cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--"] + list(argv)
    return subprocess.run(cmd, env=env, preexec_fn=lambda: _expose(sandbox, paths), **kwargs)


def main(argv: list[str]) -> int:
    if os.geteuid() != 0 or len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    return run_as_user(argv[0], argv[2:], env={k: v for k, v in os.environ.items() if k.startswith("L2L_")}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
