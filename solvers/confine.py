"""Kernel confinement of one sandboxed program: Landlock and a seccomp filter.

Both are unprivileged kernel features (Landlock: Linux 5.13+; seccomp: 3.5+), so they hold
the same way whether L2L runs as root or as an ordinary user. `solvers/sandbox.py` loads
this file by path (its worker runs with `python -I` and imports nothing from the
repository) and applies both in each forked program process, before the program exists;
they are inherited by anything that process could start and can never be lifted.

Landlock (`landlock_apply`), the filesystem as the program sees it:
  * read-only: the Python installation (`sys.prefix`, `sys.base_prefix`, `sys.exec_prefix`
    and the `sys.path` entries under none of them, except any that contains the
    repository), /usr/lib, /lib, /lib64, /usr/local/lib, /usr/share/zoneinfo, /etc/ld.so.*,
    /etc/localtime, /dev/urandom, /dev/random, /dev/zero;
  * read-write: its own work directory and /dev/null;
  * nothing else: not /work, the repository, $HOME (~/.ssh), /tmp, /proc (so no
    /proc/<pid>/environ, /proc/self/mem or /proc/self/fd/N), /sys, run outputs.
  Metadata is not covered (stat() and os.path.exists() still work anywhere). From ABI 4
  every TCP bind/connect is refused, and from ABI 6 the program cannot signal, or connect
  to abstract UNIX sockets of, any process outside its own Landlock domain (the caller,
  the worker, the next program's pre-forked process). Ptrace of processes outside the
  domain is refused at every ABI.

seccomp (`seccomp_program`, built once per worker with libseccomp through `pyseccomp`,
loaded per program with one prctl): EPERM for socket() (no network of any family, no
connection to a UNIX socket on disk), socketpair() other than AF_UNIX, ptrace,
process_vm_*, bpf, perf_event_open, userfaultfd, io_uring_*, keyctl/add_key/request_key,
unshare, setns, mount and friends, chroot, pivot_root, open_by_handle_at, kexec, module
loading, execve/execveat, memfd_create, SysV and POSIX message-queue IPC, and calls that
act on another process (prlimit64, setpriority, sched_set*, ioprio_set, migrate/move_pages
with a pid other than 0); process creation (fork, vfork, clone without CLONE_THREAD) is
refused too, so a program is one process (threads allowed) and its memory limit
(RLIMIT_AS) is a total cap for the program; clone3 answers ENOSYS so that glibc falls back
to clone, whose flags a filter can inspect. Any syscall of a non-native ABI (i386 through
int 0x80, x32) kills the process (libseccomp's default).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)

# ----------------------------------------------------------------------------- Landlock
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_MAKE_CHAR, FS_MAKE_BLOCK = 1 << 6, 1 << 11
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct landlock_path_beneath_attr is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or disabled at boot).

    >>> landlock_abi() >= 0
    True
    """
    v = _libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                      ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(v))


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def hidden_roots() -> list[str]:
    """Directories no read root may contain: the repository this file belongs to (when it
    is one, not an installed copy in site-packages) and the folder it sits in (../shared)."""
    repo = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    if os.path.exists(os.path.join(repo, "pyproject.toml")) or os.path.exists(os.path.join(repo, ".git")):
        return [repo, os.path.dirname(repo)]
    return []


def read_roots() -> list[str]:
    """Directories and files the program may read (see the module docstring): real paths
    that exist, none of them containing the repository. `sys.path` entries outside the
    Python prefixes count only when an imported module lives there (an editable install's
    .pth may put a whole source tree on sys.path)."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p}
    files = [os.path.realpath(f) for m in list(sys.modules.values()) if isinstance(f := getattr(m, "__file__", None), str)]
    paths = set(prefixes)
    for p in sys.path:
        rp = os.path.realpath(p) if p else ""
        if not rp or not os.path.isdir(rp) or any(rp == q or rp.startswith(q + "/") for q in prefixes):
            continue
        if any(f.startswith(rp + "/") for f in files):
            paths.add(rp)
    paths |= {os.path.realpath(p) for p in (
        "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo", "/etc/ld.so.cache",
        "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/dev/urandom", "/dev/random", "/dev/zero")}
    hidden = hidden_roots()
    return sorted(p for p in paths if os.path.exists(p)
                  and not any(h == p or h.startswith(p.rstrip("/") + "/") for h in hidden))


class LandlockRules:
    """A program's Landlock ruleset, built by the worker: the read-only roots are opened once
    (O_PATH descriptors); `ruleset_for(workdir)` makes a fresh ruleset per program before
    the worker forks its process, so the process itself only calls `landlock_restrict`
    (two syscalls: forked children pay for every page they touch, the worker does not)."""

    def __init__(self, abi: int, roots: list[str]):
        self.abi = abi
        self.roots = roots
        self.rules: list[_PathBeneathAttr] = []
        self.fds: list[int] = []
        if abi <= 0:
            return
        for path in roots + ["/dev/null"]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            if path == "/dev/null":
                access = FS_READ_FILE | FS_WRITE_FILE
            elif os.path.isdir(path):
                access = FS_READ_FILE | FS_READ_DIR
            else:
                access = FS_READ_FILE
            self.fds.append(fd)
            self.rules.append(_PathBeneathAttr(access & _fs_rights(abi), fd))
        self.attr = _RulesetAttr(_fs_rights(abi), NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                                 SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
        self.attr_size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        self.work_access = _fs_rights(abi) & ~(FS_EXECUTE | FS_MAKE_CHAR | FS_MAKE_BLOCK)

    def enforced(self) -> dict:
        """What a program under this ruleset cannot do (for sandbox_info)."""
        return {"landlock": self.abi, "landlock_fs": self.abi >= 1, "landlock_tcp": self.abi >= 4,
                "landlock_scope": self.abi >= 6}

    def ruleset_for(self, workdir: str) -> int:
        """A new ruleset fd: read-only roots + read-write `workdir`. The caller passes it to
        the forked child and closes its own copy."""
        ruleset = _libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(self.attr),
                                ctypes.c_size_t(self.attr_size), ctypes.c_uint32(0))
        if ruleset < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
        work = -1
        try:
            work = os.open(workdir, os.O_PATH | os.O_CLOEXEC)
            for rule in self.rules + [_PathBeneathAttr(self.work_access, work)]:
                if _libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                 ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), "landlock_add_rule failed")
        except BaseException:
            os.close(ruleset)
            raise
        finally:
            if work >= 0:
                os.close(work)
        return ruleset

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds, self.rules = [], []


_RESTRICT_SELF, _NO_FLAGS = ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_uint32(0)  # made once: a forked child pays per page it touches


def landlock_restrict(ruleset: int) -> None:
    """Enforce `ruleset` on the calling thread (and everything it forks later); closes it.
    Raises OSError if the kernel refuses."""
    try:
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if _libc.syscall(_RESTRICT_SELF, ruleset, _NO_FLAGS) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)


# ----------------------------------------------------------------------------- seccomp
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
AF_UNIX = 1
CLONE_THREAD = 0x00010000

# Refused with EPERM whatever their arguments (names unknown to this libseccomp are skipped).
# Loaded once into the worker, so every program inherits it at no cost of its own.
DENIED_SYSCALLS = (
    "socket", "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "acct", "swapon", "swapoff", "reboot", "quotactl", "quotactl_fd",
    "syslog", "vhangup", "iopl", "ioperm", "uselib", "lookup_dcookie", "personality", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "fanotify_init",
    "execve", "execveat", "shmget", "msgget", "semget", "mq_open", "migrate_pages", "move_pages",
)
# Refused when they name another process (argument index that holds the pid; 0 = self).
OTHER_PROCESS_ARG = {"prlimit64": 0, "setpriority": 1, "sched_setaffinity": 0, "sched_setscheduler": 0,
                     "sched_setparam": 0, "sched_setattr": 0, "ioprio_set": 1}
# What the worker itself still needs (it forks the programs' processes and their output
# memfds) goes into a second, small filter that each program process loads for itself.
CHILD_DENIED_SYSCALLS = ("fork", "vfork", "memfd_create")


def _seccomp_module():
    """libseccomp's Python binding: the official `seccomp` module where the system has it,
    else `pyseccomp` (the same API over ctypes; installed from the registry by setup)."""
    try:
        import seccomp  # type: ignore[import-not-found]
    except ImportError:
        import pyseccomp as seccomp  # type: ignore[import-not-found]
    return seccomp


def _export(f) -> bytes:
    # A memfd, not a temporary file: in root mode /tmp is read-only by now.
    with open(os.memfd_create("bpf", os.MFD_CLOEXEC), "w+b") as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        return tmp.read()


def seccomp_programs() -> tuple[bytes, bytes]:
    """(worker filter, program filter) as raw BPF (struct sock_filter[]), built once per
    worker; raises ImportError/OSError where libseccomp or its binding is missing."""
    sc = _seccomp_module()
    eperm = sc.ERRNO(errno.EPERM)

    def deny(f, names, *args):
        for name in names:
            try:
                f.add_rule(eperm, name, *args)
            except (OSError, ValueError, RuntimeError):
                pass  # not a syscall on this architecture (e.g. fork on arm64)

    worker = sc.SyscallFilter(defaction=sc.ALLOW)
    deny(worker, DENIED_SYSCALLS)
    for name, arg in OTHER_PROCESS_ARG.items():
        deny(worker, [name], sc.Arg(arg, sc.NE, 0))
    deny(worker, ["socketpair"], sc.Arg(0, sc.NE, AF_UNIX))
    worker.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # glibc then uses clone, whose flags a filter can read
    program = sc.SyscallFilter(defaction=sc.ALLOW)
    deny(program, CHILD_DENIED_SYSCALLS)
    deny(program, ["clone"], sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # a new process, not a thread
    return _export(worker), _export(program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A BPF program ready to load (its buffers made once, in the worker)."""

    def __init__(self, bpf: bytes):
        self.buf = ctypes.create_string_buffer(bpf, len(bpf))
        self.prog = _SockFprog(len(bpf) // 8, ctypes.addressof(self.buf))
        self.ref = ctypes.byref(self.prog)

    def apply(self) -> None:
        """Load the filter into the calling thread; it is inherited by the threads and
        processes it creates afterwards and can never be removed. Needs no_new_privs (set
        here) or CAP_SYS_ADMIN."""
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.ref, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "loading the seccomp filter failed")


# ----------------------------------------------------------------------------- cgroups
def cgroup_status() -> tuple[bool, str]:
    """Whether a cgroup v2 leaf with memory and pids controllers could be made for each
    program, and why not. L2L does not create cgroups yet (see sandbox.py: the fallback is
    one process per program under RLIMIT_AS); this says which case a machine is in."""
    try:
        own = next(line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if line.startswith("0::"))
    except (OSError, StopIteration):
        return False, "no cgroup v2 membership in /proc/self/cgroup"
    mount = None
    for line in open("/proc/self/mountinfo"):
        parts = line.split()
        fstype = parts[parts.index("-") + 1]
        if fstype == "cgroup2":
            mount = parts[4]
    if mount is None:
        return False, "no cgroup2 filesystem mounted"
    base = os.path.join(mount, own.lstrip("/"))
    try:
        controllers = open(os.path.join(base, "cgroup.controllers")).read().split()
    except OSError as exc:
        return False, f"cannot read {base}/cgroup.controllers ({exc.strerror})"
    missing = [c for c in ("memory", "pids") if c not in controllers]
    if missing:
        return False, (f"the cgroup v2 hierarchy at {mount} offers no {'/'.join(missing)} controller "
                       "(a hybrid cgroup v1 layout binds them to v1)")
    if not os.access(base, os.W_OK):
        return False, f"{base} is not delegated to this user"
    return False, "a delegated cgroup v2 subtree exists, but L2L does not create per-program leaves yet"
