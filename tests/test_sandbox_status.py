"""Honest status: what `sandbox_info()` reports, the warning when a layer is missing, the
refusal when none is there (and `--unsafe-exec`), `l2l doctor` and `l2l solve --json`'s
"sandbox" field. A weaker machine is simulated with worker reports of its shape.
Cost: ~2 s.
"""

from __future__ import annotations

import json

import pytest

from solvers import executor
from solvers.executor import SandboxUnavailable, assess, sandbox_info

FULL = {"landlock": 7, "landlock_tcp": True, "landlock_scope": True, "seccomp": True, "net_namespace": True}
NOTHING = {"landlock": 0, "landlock_error": "this kernel offers no Landlock", "seccomp": False,
           "seccomp_error": "ImportError: no libseccomp"}


@pytest.fixture
def fresh_flags(monkeypatch):
    monkeypatch.setattr(executor, "_UNSAFE_EXEC", None)
    monkeypatch.setattr(executor, "_WARNED", False)
    monkeypatch.delenv("L2L_UNSAFE_EXEC", raising=False)


def test_this_machine_has_every_layer():
    info = sandbox_info()
    assert info["gaps"] == [] and info["isolated"] and info["gold_hidden"]
    assert info["landlock"] >= 6 and info["seccomp"] and info["max_processes"] == 1
    assert info["cgroup"] is False and info["cgroup_reason"]  # no per-program cgroup leaf yet: the fallback


def test_missing_layers_are_named_with_their_consequence():
    a = assess({**FULL, "landlock": 0, "landlock_error": "disabled at boot"})
    assert a["isolated"] and not a["gold_hidden"]
    assert len(a["gaps"]) == 1 and "~/.ssh" in a["gaps"][0] and "disabled at boot" in a["gaps"][0]
    root = assess({**FULL, "landlock": 0, "mount_namespace": True, "uid_switch": True})
    assert "world-readable" in root["gaps"][0]
    old = assess({**FULL, "landlock": 4, "landlock_scope": False})
    assert any(g.startswith("signals:") for g in old["gaps"])
    bare = assess(NOTHING)
    assert not bare["isolated"] and bare["layers"] == ["python audit hook"]
    assert any(g.startswith("network: open") for g in bare["gaps"])


def test_refuses_without_isolation_unless_unsafe_exec(fresh_flags, monkeypatch, capsys):
    bare = {**NOTHING, **assess(NOTHING)}
    with pytest.raises(SandboxUnavailable, match="--unsafe-exec"):
        executor._check_isolation(bare)
    monkeypatch.setenv("L2L_UNSAFE_EXEC", "1")
    executor._check_isolation(bare)
    monkeypatch.delenv("L2L_UNSAFE_EXEC")
    executor.allow_unsafe_exec()
    executor._check_isolation(bare)
    executor._check_isolation(bare)
    err = capsys.readouterr().err
    assert err.count("warning: the program sandbox is weaker") == 1  # once per process
    assert "network: open" in err


def test_no_warning_when_nothing_is_missing(fresh_flags, capsys):
    executor._check_isolation({**FULL, **assess(FULL)})
    assert capsys.readouterr().err == ""


def test_summary_for_solve_json():
    s = executor.sandbox_summary()
    assert s["mode"] in ("root", "user", "root, as an unprivileged uid")
    assert s["gaps"] == [] and s["unsafe_exec"] is False and s["gold_hidden"] is True
    json.dumps(s)


def test_solve_unsafe_exec_flag_reaches_the_config():
    from l2l.cli import build_parser
    from l2l.cli.solve_cmd import _overrides
    from l2l.config import SolveConfig

    args = build_parser().parse_args(["solve", "--unsafe-exec", "q"])
    assert SolveConfig().update(**_overrides(args)).unsafe_exec is True
    args = build_parser().parse_args(["solve", "q"])
    assert SolveConfig().update(**_overrides(args)).unsafe_exec is False


def test_doctor_reports_layers_and_contained_probes(capsys):
    from l2l.cli import main

    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sandbox"]["gaps"] == [] and not report["refuses_without_unsafe_exec"]
    assert report["probes"] and all(p["contained"] for p in report["probes"]), report["probes"]
    assert report["machine"]["landlock_abi"] >= 1


def test_unsafe_exec_in_any_config_reaches_the_executor(fresh_flags):
    # `l2l eval --set unsafe_exec=true`, `l2l.reason(unsafe_exec=True)` and training all run
    # programs through `run_programs`, which applies the setting (not only `l2l solve`).
    from l2l.config import SolveConfig
    from l2l.pipeline.execute import ExecLimits, run_programs

    run_programs([], ExecLimits.from_config(SolveConfig()))
    assert not executor.unsafe_exec_allowed()
    limits = ExecLimits.from_config(SolveConfig().update(unsafe_exec=True), {"timeout_s": 5})
    assert limits.unsafe_exec and limits.timeout_s == 5
    run_programs([], limits)
    assert executor.unsafe_exec_allowed()
