"""Where a forked sandbox child's CPU goes: the floor of the fork-per-program design.

    python bench/bench_fork_faults.py               # 200 forks per row
    python bench/bench_fork_faults.py -n 500 --immortalize   # CPython >= 3.12 only

Mimics a warm z3 worker (solver imported, prelude and warm-up run, gc.freeze) without the
sandbox's isolation steps, then forks one child per program and prints, per child: CPU ms,
page faults (the kernel's ru_minflt) and wall ms, for a child that exits at once and for
one that runs bench_executor's short z3 program; also the same program in-process, and
the faults of running it a second time in the same child (what the program costs once its
pages are the child's own). The difference between the two is copy-on-write of pages
the warm parent owns: what `bench/bench_executor.py`'s (b) cannot go below.

--immortalize marks every object alive in the warm parent immortal (PEP 683's refcount
value, CPython >= 3.12), so children no longer write the refcounts of shared objects:
the part of the copy-on-write cost that comes from reference counting.
"""

from __future__ import annotations

import argparse
import builtins
import gc
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_executor import z3_program  # noqa: E402


def _immortalize() -> int:
    """Set the refcount of every object reachable from the gc's lists to PEP 683's immortal value."""
    import ctypes

    seen: set[int] = set()
    stack = gc.get_objects()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        stack.extend(gc.get_referents(obj))
    for address in seen:
        ctypes.c_ssize_t.from_address(address).value = 0xFFFFFFFF  # _Py_IMMORTAL_REFCNT on 64-bit 3.12
    return len(seen)


def _fork_rows(body, n: int) -> tuple[float, float, float]:
    """(CPU ms, faults, wall ms) per forked child running body()."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    cpu = faults = 0.0
    t0 = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.dup2(devnull, 1)
            try:
                body()
            finally:
                os._exit(0)
        _, _, usage = os.wait4(pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        faults += usage.ru_minflt
    os.close(devnull)
    return cpu / n * 1000, faults / n, (time.perf_counter() - t0) / n * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200, help="forks per row")
    ap.add_argument("--immortalize", action="store_true", help="CPython >= 3.12: immortal warm heap")
    args = ap.parse_args()
    if args.n < 1:
        print("error: -n must be >= 1", file=sys.stderr)
        return 2
    if args.immortalize and sys.version_info < (3, 12):
        print(f"error: --immortalize needs CPython >= 3.12 (this is {sys.version.split()[0]})", file=sys.stderr)
        return 2

    from solvers.registry import SOLVER_BACKENDS

    backend = SOLVER_BACKENDS["z3"]
    for module in backend.modules:
        __import__(module)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    exec(compile(backend.prelude_source(), "<prelude>", "exec"), namespace)
    exec(backend.warmup, {"__name__": "__warmup__"})
    program = compile(z3_program(7), "<program>", "exec")

    gc.collect()
    note = f", {_immortalize()} objects immortal" if args.immortalize else ""
    gc.freeze()
    print(f"python={sys.version.split()[0]} n={args.n}{note}  load average {os.getloadavg()[0]:.1f}")

    report_fd = -1

    def run_twice() -> None:
        exec(program, namespace)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        exec(program, namespace)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        os.write(report_fd, f"{after - before}\n".encode())

    rows = [("child exits at once", lambda: None), ("child runs the program", lambda: exec(program, namespace))]
    for name, body in rows:
        cpu, faults, wall = _fork_rows(body, args.n)
        print(f"{name:24s} CPU {cpu:5.2f} ms  faults {faults:6.0f}  wall {wall:5.2f} ms")

    r, report_fd = os.pipe()
    _fork_rows(run_twice, 5)
    os.close(report_fd)
    second = [int(x) for x in os.read(r, 4096).split()]
    print(f"second run in the same child: faults {sum(second) / len(second):.0f}")

    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)
    t0 = time.process_time()
    for _ in range(args.n):
        exec(program, dict(namespace))
    inproc = (time.process_time() - t0) / args.n * 1000
    sys.stdout.flush()
    os.dup2(saved, 1)
    print(f"in-process exec          CPU {inproc:5.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
