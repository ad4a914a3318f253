"""Throughput and latency of the sandboxed executor on short z3 programs.

    python bench/bench_executor.py                 # 500 programs; fresh-process baseline on 50
    python bench/bench_executor.py -n 200 --fresh 20 --latency 100
    python bench/bench_executor.py --as-user l2l-bench   # the same as a throwaway unprivileged user (needs root)
    python bench/bench_executor.py --child-cost          # CPU and page faults of each program's own process
    python bench/bench_executor.py --bwrap               # per-program cost of bubblewrap, for comparison

Prints programs/s for (a) a fresh `python -c` per program (run 2-wide, one per core, on a
sample), (b) `solvers.execute_many` (warm pool, fork per program), (c) in-process `exec`
(no isolation at all: the lower bound on cost), the ratio (b)/(a), and p50/p99 latency of
single `execute` calls. Also the CPU time each program costs in (a) and (b) (caller +
workers + program processes): on a shared machine throughput depends on load, CPU per
program much less. L2L_SANDBOX_PREFORK=0 switches pre-forking off. `--as-user NAME` reruns
this script as an unprivileged user created for it (bench/as_user.py), to measure the
non-root sandbox (Landlock + seccomp + a user namespace, no uid switch).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def z3_program(i: int) -> str:
    return (
        "from z3 import *\n"
        f"x, y = Ints('x y')\ns = Solver()\ns.add(x + y == {i + 10}, x - y == {i % 7}, x >= 0, y >= 0)\n"
        "r = s.check()\n"
        "print('ANSWER:', s.model()[x] if r == sat else 'unsat')\n"
    )


def bench_fresh(codes: list[str], workers: int) -> tuple[float, float]:
    """(programs/s, CPU ms per program)."""
    def one(code: str) -> None:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)

    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, codes))
    rate = len(codes) / (time.perf_counter() - t)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return rate, (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / len(codes) * 1000


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds of these processes and their reaped children (from /proc)."""
    tck, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tck  # utime stime cutime cstime
    return total


def bench_inprocess(codes: list[str]) -> float:
    import contextlib
    import io

    import z3  # noqa: F401 - import cost excluded, as in the warm pool

    t = time.perf_counter()
    for code in codes:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<program>", "exec"), {"__name__": "__main__"})
    return len(codes) / (time.perf_counter() - t)


def child_cost(codes: list[str]) -> None:
    """CPU and page faults of each program's own process (the worker's rusage of it): less
    sensitive to the machine's load than throughput. The first 20 programs are dropped."""
    from solvers.executor import _get_pool, _route

    pool, cpu, faults = _get_pool(), [], []
    for i, code in enumerate(codes):
        reply, _ = pool.run({"code": code, "backend": None, "timeout_s": 10.0, "memory_mb": 2048}, _route(code, None))
        if i >= 20:
            cpu.append(reply["cpu_s"] * 1000)
            faults.append(reply["minflt"])
    print(f"program process, n={len(cpu)}: CPU {statistics.mean(cpu):.2f} ms  page faults {statistics.mean(faults):.0f}  "
          f"load average {os.getloadavg()[0]:.1f}")


def bwrap_cost() -> None:
    """What bubblewrap would cost per program: it sandboxes a process it execs, so each
    program pays bwrap's setup and a fresh interpreter that imports z3."""
    import shutil

    if not shutil.which("bwrap"):
        print("bwrap is not installed (Debian: apt-get install bubblewrap)")
        return
    prefix = os.path.realpath(sys.prefix)
    system = [a for d in ("/bin", "/lib", "/lib64", "/sbin") for a in (
        ("--symlink", os.readlink(d), d) if os.path.islink(d) else ("--ro-bind", d, d) if os.path.exists(d) else ())]
    bwrap = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", *system,
             "--ro-bind", prefix, prefix, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    code = z3_program(0)
    for name, argv, n in (("/bin/true", ["/bin/true"], 100), ("bwrap /bin/true", bwrap + ["/bin/true"], 100),
                          ("python -c <z3 program>", [sys.executable, "-c", code], 20),
                          ("bwrap python -c <z3 program>", bwrap + [sys.executable, "-c", code], 20)):
        t = time.perf_counter()
        for _ in range(n):
            subprocess.run(argv, capture_output=True, check=True)
        print(f"{name:30s} wall {(time.perf_counter() - t) / n * 1000:7.1f} ms  (n={n}, load {os.getloadavg()[0]:.1f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500, help="programs for the executor and in-process runs")
    ap.add_argument("--fresh", type=int, default=50, help="programs for the fresh-process baseline")
    ap.add_argument("--latency", type=int, default=200, help="single execute() calls for p50/p99")
    ap.add_argument("--as-user", metavar="NAME", help="run as this unprivileged user (created, then removed; needs root)")
    ap.add_argument("--child-cost", action="store_true", help="only: CPU and page faults of each program's process")
    ap.add_argument("--bwrap", action="store_true", help="only: per-program cost of bubblewrap, for comparison")
    args = ap.parse_args()
    if args.as_user:
        from as_user import run_as_user, throwaway_user

        argv = [sys.executable, os.path.abspath(__file__), "-n", str(args.n), "--fresh", str(args.fresh),
                "--latency", str(args.latency)] + (["--child-cost"] if args.child_cost else [])
        env = {k: v for k, v in os.environ.items() if k.startswith(("L2L_", "OPENBLAS_"))}
        with throwaway_user(args.as_user) as user:
            return run_as_user(user.pw_name, argv, env=env).returncode
    if args.bwrap:
        bwrap_cost()
        return 0
    if args.child_cost:
        child_cost([z3_program(i) for i in range(args.n)])
        return 0
    if min(args.n, args.fresh, args.latency) < 1:
        print("error: counts must be >= 1", file=sys.stderr)
        return 2

    from solvers import execute, execute_many, sandbox_info

    codes = [z3_program(i) for i in range(args.n)]
    cores = os.cpu_count() or 1
    info = sandbox_info()  # starts the pool (not timed)
    print(f"cores={cores} python={sys.version.split()[0]} euid={os.geteuid()} sandbox: privileged={info['privileged']} "
          f"net_ns={info['net_namespace']} mount_ns={info['mount_namespace']} uid_switch={info['uid_switch']} "
          f"landlock={info.get('landlock')} seccomp={info.get('seccomp')} prefork={info.get('prefork')}")
    execute_many(codes[:20])  # warm the pool's page cache

    fresh, fresh_cpu = bench_fresh(codes[: args.fresh], cores)
    print(f"(a) fresh `python -c` per program, {cores}-wide, n={args.fresh}: {fresh:8.1f} programs/s")

    from solvers.executor import _get_pool

    workers = [w.proc.pid for w in _get_pool().workers if w.proc is not None]
    cpu0, self0 = _cpu_s(workers), time.process_time()
    t = time.perf_counter()
    results = execute_many(codes)
    pooled = args.n / (time.perf_counter() - t)
    pooled_cpu = (_cpu_s(workers) - cpu0 + time.process_time() - self0) / args.n * 1000
    bad = [r for r in results if r.status != "ok"]
    print(f"(b) solvers.execute_many, n={args.n}:{'':17} {pooled:8.1f} programs/s  (not ok: {len(bad)})")

    inproc = bench_inprocess(codes)
    print(f"(c) in-process exec (no isolation), n={args.n}:{'':5} {inproc:8.1f} programs/s")
    print(f"ratio (b)/(a) = {pooled / fresh:.1f}x   (b)/(c) = {pooled / inproc:.2f}")
    print(f"CPU per program: (a) {fresh_cpu:.1f} ms  (b) {pooled_cpu:.1f} ms  -> {fresh_cpu / pooled_cpu:.1f}x   "
          f"load average {os.getloadavg()[0]:.1f}")

    lat = []
    for code in codes[: args.latency]:
        t = time.perf_counter()
        execute(code)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    print(f"single execute() latency, n={args.latency}: p50={statistics.median(lat):.1f} ms  p99={p99:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
