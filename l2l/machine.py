"""How many cores this process may use, and whether something else is already using them.

llama.cpp's threads spin while they wait for each other, so a model process with more
threads than it has cores, or two model processes on the same cores, do not share the
machine gracefully: measured on a 2-core machine, generation fell from ~10 tokens/s to 0.27
tokens/s with two llama.cpp processes running (issue 16). Hence:

- `usable_cores()` sizes llama.cpp's threads to the cores this process may actually run on:
  its CPU affinity (taskset, cpusets) and its cgroup's CPU quota (docker `--cpus`, Kubernetes
  limits: `cpu.max` on cgroup v2, `cpu.cfs_quota_us` / `cpu.cfs_period_us` on v1), never the
  host's `os.cpu_count()`. `L2L_THREADS` overrides it.
- `busy_warning()` says, before a solve or an evaluation loads its model, when other
  processes with llama.cpp loaded are burning CPU, or the load average is above the cores.
  It only warns: waiting (e.g. `flock /tmp/l2l-model.lock l2l ...`) is the caller's choice.

    >>> usable_cores() >= 1
    True
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

# Shared libraries that mark a process as a llama.cpp model process (llama-cpp-python,
# llama-server, ollama's runner all map one of these).
_MODEL_LIBS = ("libllama", "libggml")


def affinity_cores() -> int:
    """CPUs in this process's affinity mask (all CPUs where the OS cannot tell)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path under the v2 hierarchy and under v1's cpu controller."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _id, controllers, path = parts
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, rel: str | None) -> list[Path]:
    """`root/rel` and each parent directory up to `root` (a limit anywhere above applies too)."""
    out = [root]
    if rel:
        cur = root
        for part in [p for p in rel.strip("/").split("/") if p]:
            cur = cur / part
            out.append(cur)
    return out


def cgroup_cpu_limit(root: str | os.PathLike = "/sys/fs/cgroup", proc_cgroup: str | os.PathLike = "/proc/self/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (1.5 for `--cpus 1.5`), or None when
    there is no quota. The smallest quota on the path from the hierarchy's root wins.

    >>> cgroup_cpu_limit("/nonexistent", "/nonexistent") is None
    True
    """
    root, proc_cgroup = Path(root), Path(proc_cgroup)
    v2, v1 = _cgroup_paths(proc_cgroup)
    limits: list[float] = []
    # cgroup v2: "<quota> <period>" or "max <period>" (hybrid systems mount it at unified/)
    for d in _ancestors(root, v2) + _ancestors(root / "unified", v2):
        try:
            quota, period = (d / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and float(period) > 0:
            limits.append(float(quota) / float(period))
    # cgroup v1: cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us, under cpu/ or cpu,cpuacct/
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = root / sub
        if not base.is_dir():
            continue
        for d in _ancestors(base, v1):
            try:
                quota = float((d / "cpu.cfs_quota_us").read_text().strip())
                period = float((d / "cpu.cfs_period_us").read_text().strip())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
        break
    return min(limits) if limits else None


def usable_cores() -> int:
    """Threads to give llama.cpp: `L2L_THREADS` if set, else the CPUs of this process's
    affinity, capped by its cgroup quota rounded up (a 1.5-core quota gets 2 threads, which
    still keeps a 1.5-core container from running 8 threads of an 8-core host)."""
    env = os.environ.get("L2L_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    cores = affinity_cores()
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota - 1e-9)))
    return cores


def _own_family(pid: int) -> set[int]:
    """This process, its ancestors (the shell, flock, pytest that started it)."""
    family, cur = {pid}, pid
    for _ in range(64):
        try:
            ppid = int(Path(f"/proc/{cur}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if ppid <= 1 or ppid in family:
            break
        family.add(ppid)
        cur = ppid
    return family


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def model_processes(sample_s: float = 0.3, proc: str | os.PathLike = "/proc") -> list[tuple[int, float, str]]:
    """Other processes with llama.cpp loaded that are using CPU now: (pid, cores busy over
    `sample_s`, command line). This process, its ancestors and its descendants are left out;
    processes we may not inspect are skipped."""
    me = os.getpid()
    family = _own_family(me)
    found: list[int] = []
    for entry in Path(proc).iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in family:
            continue
        try:
            maps = (entry / "maps").read_text(errors="replace")
        except OSError:
            continue
        if not any(lib in maps for lib in _MODEL_LIBS):
            continue
        # A child of ours (e.g. a sandbox worker forked after llama.cpp was loaded) is not a rival.
        p, ours = pid, False
        for _ in range(64):
            p = _parent(p)
            if p is None or p <= 1:
                break
            if p == me:
                ours = True
                break
        if not ours:
            found.append(pid)
    if not found:
        return []
    before = {pid: _cpu_ticks(pid) for pid in found}
    time.sleep(sample_s)
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = []
    for pid in found:
        after = _cpu_ticks(pid)
        if before[pid] is None or after is None:
            continue
        cores = (after - before[pid]) / hz / sample_s
        if cores >= 0.2:  # idle model processes (a REPL holding a model) do not compete
            out.append((pid, round(cores, 2), _cmdline(pid)))
    return out


def busy_warning(cores: int | None = None, sample_s: float = 0.3) -> str | None:
    """A one-paragraph warning when the machine is already busy, else None: other llama.cpp
    processes using CPU, or a 1-minute load average above the cores this process may use."""
    cores = cores or usable_cores()
    reasons = []
    rivals = model_processes(sample_s)
    for pid, busy, cmd in rivals[:3]:
        reasons.append(f"another llama.cpp process is running (pid {pid}, {busy:.1f} cores busy: {cmd[:100]})")
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    if load1 > cores + 0.5:
        reasons.append(f"the 1-minute load average is {load1:.1f} on {cores} usable core(s)")
    if not reasons:
        return None
    return ("warning: the machine is busy: " + "; ".join(reasons) + ". llama.cpp's threads spin, so model "
            "processes sharing cores run many times slower (measured 30x with two on 2 cores); wait for it "
            "to finish, or run both under one lock: flock /tmp/l2l-model.lock l2l ...")


def warn_if_busy(model: str | None, stream=None) -> str | None:
    """Print `busy_warning()` to stderr (or `stream`) when `model` runs on this machine
    (llama.cpp or transformers; not a remote server). Returns the warning printed."""
    import sys

    if os.environ.get("L2L_NO_BUSY_CHECK"):
        return None
    if model is not None:
        try:
            from l2l.models.load import resolve

            if resolve(model).backend not in ("llamacpp", "hf"):
                return None
        except Exception:  # noqa: BLE001 -- a bad model name is reported by the loader, not here
            return None
    msg = busy_warning()
    if msg:
        print(msg, file=stream or sys.stderr, flush=True)
    return msg
