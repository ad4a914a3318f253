"""Never oversubscribe: threads sized to this process's cores (affinity and cgroup quota), one loaded
copy of a model per process, one decode at a time, and a warning when the machine is busy."""

import os
import subprocess
import sys
import threading
import time

import pytest

from l2l import machine


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_in_cores_and_the_smallest_on_the_path_wins(tmp_path):
    root, proc = tmp_path / "cg", tmp_path / "cgroup"
    _write(proc, "0::/outer/inner\n")
    _write(root / "cpu.max", "max 100000\n")
    _write(root / "outer/cpu.max", "150000 100000\n")
    _write(root / "outer/inner/cpu.max", "max 100000\n")
    assert machine.cgroup_cpu_limit(root, proc) == 1.5
    _write(root / "outer/inner/cpu.max", "50000 100000\n")
    assert machine.cgroup_cpu_limit(root, proc) == 0.5
    for f in ("cpu.max", "outer/cpu.max", "outer/inner/cpu.max"):
        _write(root / f, "max 100000\n")
    assert machine.cgroup_cpu_limit(root, proc) is None


def test_cgroup_v1_cfs_quota(tmp_path):
    root, proc = tmp_path / "cg", tmp_path / "cgroup"
    _write(proc, "4:memory:/x\n2:cpuacct,cpu:/job\n0::/\n")
    _write(root / "cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    _write(root / "cpu,cpuacct/job/cpu.cfs_quota_us", "300000\n")
    _write(root / "cpu,cpuacct/job/cpu.cfs_period_us", "100000\n")
    assert machine.cgroup_cpu_limit(root, proc) == 3.0
    _write(root / "cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n")
    assert machine.cgroup_cpu_limit(root, proc) is None


def test_usable_cores_is_affinity_capped_by_quota_not_cpu_count(monkeypatch):
    monkeypatch.delenv("L2L_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(machine, "affinity_cores", lambda: 8)
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda *a: 1.5)
    assert machine.usable_cores() == 2
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda *a: None)
    assert machine.usable_cores() == 8
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda *a: 0.2)
    assert machine.usable_cores() == 1
    monkeypatch.setenv("L2L_THREADS", "3")
    assert machine.usable_cores() == 3


def test_usable_cores_follows_the_real_affinity_mask():
    code = "from l2l.machine import usable_cores; print(usable_cores())"
    r = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "L2L_THREADS"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


class FakeLlama:
    """Stands in for llama_cpp.Llama: records its threads and how many completions overlap."""

    active = 0
    max_active = 0
    lock = threading.Lock()

    def __init__(self, **kw):
        self.kw = kw
        self.cache = None

    def n_ctx(self):
        return 4096

    def set_cache(self, cache):
        self.cache = cache

    def create_chat_completion(self, **kw):
        with FakeLlama.lock:
            FakeLlama.active += 1
            FakeLlama.max_active = max(FakeLlama.max_active, FakeLlama.active)
        time.sleep(0.05)
        with FakeLlama.lock:
            FakeLlama.active -= 1
        return {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


@pytest.fixture()
def fake_llama(monkeypatch, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    monkeypatch.setattr(llama_cpp, "Llama", FakeLlama)
    FakeLlama.active = FakeLlama.max_active = 0
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    return gguf


def test_llamacpp_backend_threads_follow_usable_cores(fake_llama, monkeypatch):
    from l2l.backends.llamacpp import LlamaCppBackend

    monkeypatch.setattr(machine, "usable_cores", lambda: 3)
    b = LlamaCppBackend(fake_llama, progress=False, prompt_cache="off")
    assert b.n_threads == 3 and b.llm.kw["n_threads"] == 3 and b.llm.kw["n_threads_batch"] == 3


def test_two_backends_and_many_threads_never_decode_at_once(fake_llama):
    from l2l.backends.llamacpp import LlamaCppBackend

    a = LlamaCppBackend(fake_llama, progress=False, prompt_cache="off")
    b = LlamaCppBackend(fake_llama, progress=False, prompt_cache="off")
    msgs = [{"role": "user", "content": "hi"}]
    workers = [threading.Thread(target=backend.chat, args=(msgs,)) for backend in (a, b, a, b, a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert FakeLlama.max_active == 1


def test_one_model_loaded_once_however_it_is_spelled(monkeypatch, tmp_path):
    from l2l.config import SolveConfig
    from l2l.eval.runner import EvalRun, _load_backends
    from l2l.models.load import model_key
    from l2l.pipeline import solve as solve_mod

    assert model_key("qwen2.5-coder-0.5b") == model_key("llamacpp:qwen2.5-coder-0.5b")
    assert model_key("qwen2.5-coder-0.5b") != model_key("qwen2.5-coder-1.5b")
    loads = []

    class Loaded:
        def close(self):
            pass

    def fake_load(name, **kw):
        loads.append(name)
        return Loaded()

    import l2l.models

    monkeypatch.setattr(l2l.models, "load_model", fake_load)
    monkeypatch.setattr(solve_mod, "_MODEL_CACHE", {})
    monkeypatch.setenv("L2L_NO_BUSY_CHECK", "1")
    solver, _ = solve_mod.build_solver(SolveConfig(model="qwen2.5-coder-0.5b", generator_model="llamacpp:qwen2.5-coder-0.5b"))
    assert solver.formulator is solver.generator and len(loads) == 1
    # An evaluation in the same process reuses that copy, and its generator is not a second one.
    backend, generator = _load_backends(EvalRun("d", "l2l", tmp_path, model="qwen2.5-coder-0.5b",
                                                config=SolveConfig(model="qwen2.5-coder-0.5b", generator_model="qwen2.5-coder-0.5b")))
    assert backend is solver.formulator and generator is None and len(loads) == 1


BUSY_CHILD = r"""
import mmap, os, sys, time
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"\0" * 4096)
f = open(path, "rb")
m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)   # shows in /proc/PID/maps as a llama.cpp library
open(sys.argv[2], "w").write(str(os.getpid()))
end = time.time() + 20
while time.time() < end:
    pass
"""


def test_busy_warning_names_another_running_model_process(tmp_path):
    lib, pidfile, script = tmp_path / "libllama-fake.so", tmp_path / "pid", tmp_path / "child.py"
    script.write_text(BUSY_CHILD)
    # Started through a shell that exits at once, so it is not our descendant (as a rival is not).
    subprocess.run(["sh", "-c", f'"{sys.executable}" "{script}" "{lib}" "{pidfile}" >/dev/null 2>&1 &'], check=True, timeout=30)
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    try:
        time.sleep(0.3)
        rivals = machine.model_processes(sample_s=0.5)
        assert pid in [p for p, _, _ in rivals], rivals
        msg = machine.busy_warning(cores=64, sample_s=0.5)
        assert msg and f"pid {pid}" in msg and "flock /tmp/l2l-model.lock" in msg
    finally:
        os.kill(pid, 9)
    time.sleep(0.2)
    assert pid not in [p for p, _, _ in machine.model_processes(sample_s=0.2)]


def test_no_warning_for_remote_models_and_for_an_idle_machine(monkeypatch, capsys):
    monkeypatch.delenv("L2L_NO_BUSY_CHECK", raising=False)
    called = []
    monkeypatch.setattr(machine, "busy_warning", lambda *a, **k: called.append(1) or "warning: busy")
    assert machine.warn_if_busy("openai:gpt-4o-mini") is None and not called
    assert machine.warn_if_busy("qwen2.5-coder-0.5b") == "warning: busy"
    assert "warning: busy" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(machine, "model_processes", lambda *a, **k: [])
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert machine.busy_warning(cores=2) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 3.0, 1.0))
    assert "load average is 5.0 on 2" in machine.busy_warning(cores=2)
