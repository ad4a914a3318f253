"""`l2l doctor`: which sandbox layers are active on this machine, tried for real.

    l2l doctor            # a short report; exit 0 when nothing is missing, 1 otherwise
    l2l doctor --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HELP = "show which layers of the program sandbox this machine offers, and try them"
DESCRIPTION = """Reports the kernel features the sandbox builds on (Landlock, seccomp, user namespaces,
cgroups), the layers the warm workers actually activated, what each missing layer leaves a
generated program free to do, and the result of a few real attempts (reading the repository and
../shared, a socket, a fork, a write outside the program's directory). Exit code 0 when no layer is
missing, 1 when the sandbox is weaker, 2 when L2L would refuse to run programs without --unsafe-exec."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")


def _machine() -> dict:
    from solvers import confine

    info: dict = {"kernel": os.uname().release, "python": sys.version.split()[0], "euid": os.geteuid(),
                  "landlock_abi": confine.landlock_abi()}
    try:
        confine.seccomp_programs()
        info["seccomp"] = "available (libseccomp through its Python binding)"
    except Exception as exc:  # noqa: BLE001 - reported, that is the point
        info["seccomp"] = f"unavailable: {type(exc).__name__}: {exc}"
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            info["user_namespaces"] = int(f.read()) > 0
    except (OSError, ValueError):
        info["user_namespaces"] = None
    ok, reason = confine.cgroup_status()
    info["cgroup_v2_leaf"] = ok
    info["cgroup_note"] = reason
    return info


def _probes() -> list[tuple[str, str, bool]]:
    """(what, how it ended, contained) for a few real attempts from inside the sandbox."""
    import tempfile
    from pathlib import Path

    from solvers import execute

    repo = Path(__file__).resolve().parents[2]
    libc = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    targets = [("read the repository's README.md", repo / "README.md")]
    shared = repo.parent / "shared" / "benchmarks"
    if shared.is_dir():
        gold = next((p for p in sorted(shared.rglob("*")) if p.is_file()), None)
        if gold is not None:
            targets.append((f"read ../shared/benchmarks ({gold.name})", gold))
    outside = Path(tempfile.gettempdir()) / f"l2l-doctor-{os.getpid()}"
    probes = []
    for what, path in targets:
        r = execute(libc + f"print('ANSWER:', libc.open({str(path).encode()!r}, 0))")
        probes.append((what + " (libc)", f"open() = {r.answer}", r.answer == "-1"))
    checks = [
        ("open a TCP socket (libc)", "print('ANSWER:', libc.socket(2, 1, 0))"),
        ("start a process (libc fork)", "import os\npid = libc.fork()\nif pid == 0:\n    os._exit(0)\nprint('ANSWER:', pid)"),
        ("write outside its directory (libc)", f"print('ANSWER:', libc.open({str(outside).encode()!r}, 0o101, 0o600))"),
        ("signal its parent (libc kill 0)", "print('ANSWER:', libc.kill(libc.getppid(), 0))"),
    ]
    for what, code in checks:
        r = execute(libc + code)
        probes.append((what, f"returned {r.answer}" if r.ok else f"{r.status}: {r.error}", r.ok and r.answer == "-1"))
    if outside.exists():
        outside.unlink()
    return probes


def run(args: argparse.Namespace) -> int:
    from solvers.executor import SandboxUnavailable, sandbox_info, unsafe_exec_allowed

    machine = _machine()
    try:
        info = sandbox_info()
    except SandboxUnavailable as exc:
        info = {"layers": [], "gaps": [str(exc)], "isolated": False, "error": str(exc)}
    refused = not info.get("isolated") and not unsafe_exec_allowed()
    probes = [] if refused or "error" in info else _probes()
    code = 2 if refused else 1 if info.get("gaps") or not all(p[2] for p in probes) else 0
    if args.json:
        keep = ("layers", "gaps", "privileged", "as_user", "prefork", "landlock", "seccomp", "max_processes",
                "gold_hidden", "read_roots", "cgroup_reason")
        print(json.dumps({"machine": machine, "sandbox": {k: info.get(k) for k in keep},
                          "probes": [{"attempt": w, "result": r, "contained": c} for w, r, c in probes],
                          "refuses_without_unsafe_exec": refused}, indent=2))
        return code
    out = sys.stdout
    out.write(f"kernel {machine['kernel']}, Python {machine['python']}, running as "
              f"{'root' if machine['euid'] == 0 else 'uid ' + str(machine['euid'])}\n")
    out.write(f"  Landlock ABI: {machine['landlock_abi'] or 'none'}\n  seccomp: {machine['seccomp']}\n")
    out.write(f"  user namespaces: {machine['user_namespaces']}\n  cgroup v2 leaf per program: no ({machine['cgroup_note']})\n")
    mode = "root" if info.get("privileged") else "root, as an unprivileged uid" if info.get("as_user") else "user"
    out.write(f"\nsandbox layers active ({mode} mode):\n")
    for layer in info.get("layers", []):
        out.write(f"  + {layer}\n")
    if info.get("max_processes") == 1:
        out.write("  memory: one process per program, so its address-space limit caps the program's total memory\n")
    out.write("gaps (what a program can still do here):\n" if info.get("gaps") else "gaps: none\n")
    for gap in info.get("gaps", []):
        out.write(f"  - {gap}\n")
    if probes:
        out.write("\ntried from inside the sandbox:\n")
        for what, result, contained in probes:
            out.write(f"  {'contained' if contained else 'NOT CONTAINED'}: {what}: {result}\n")
    if refused:
        out.write("\nL2L refuses to run generated programs on this machine unless you pass --unsafe-exec "
                  "(or set unsafe_exec=true): they would run with all of your rights.\n")
    return code
