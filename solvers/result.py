"""The one result type every program execution returns.

Kept in its own module (no heavy imports) so that `l2l` can re-export it without
pulling in the executor or any solver library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "syntax_error", "runtime_error", "timeout", "memory", "no_answer", "blocked"]
STATUSES: tuple[str, ...] = ("ok", "syntax_error", "runtime_error", "timeout", "memory", "no_answer", "blocked")

ANSWER_PREFIX = "ANSWER:"


@dataclass
class ExecutionResult:
    """What running one untrusted program produced.

    `answer` is the value of the last `ANSWER: <value>` line on stdout (stripped),
    or None. `status` is "ok" only when the program exited normally *and* printed
    an answer; a clean exit without one is "no_answer".
    """

    status: Status
    answer: str | None = None
    stdout: str = ""
    stderr: str = ""
    elapsed_s: float = 0.0
    returncode: int | None = None
    error: str | None = None  # one-line human explanation for non-ok statuses
    # What the prelude's solver helpers reported, in call order (e.g. {"call": "solve", "ok": True,
    # "verdict": "unique"}, {"call": "answer", "text": "B"}): written by the sandbox on a channel
    # the program's own code cannot write to (solvers/sandbox.py, "The record"); at most 200.
    solver_events: list[dict[str, Any]] = field(default_factory=list)
    # Set when the program failed as written and a deterministic fix made it run
    # (l2l/pipeline/program_fixes.py): the fixes applied ("kind:name") and the text that ran;
    # the model's own text stays with the Program. Empty / None for a program that ran as written.
    fixes: list[str] = field(default_factory=list)
    fixed_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExecutionResult":
        kwargs = {k: d.get(k) for k in cls.__dataclass_fields__ if k in d}
        kwargs["solver_events"] = [dict(e) for e in kwargs.get("solver_events") or []]
        kwargs["fixes"] = list(kwargs.get("fixes") or [])
        return cls(**kwargs)


def parse_answer(stdout: str) -> str | None:
    """Return the value of the last `ANSWER:` line in `stdout`, or None.

    >>> parse_answer("x\\nANSWER: 3\\nANSWER: B\\n")
    'B'
    """
    answer = None
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith(ANSWER_PREFIX):
            answer = s[len(ANSWER_PREFIX):].strip()
    return answer
