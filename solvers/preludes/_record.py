# Shared by every solver prelude (solvers.registry prepends it to each): the solver record.
# Rewards pay for an answer only when it came out of a prelude solver helper
# (l2l/pipeline/execute.py: `certified`). Each helper reports its call and verdict to the
# sandbox's record through `__l2l_record__`, which the sandbox binds while the prelude runs and
# removes before the program runs; the reporter then lives only in the closures made here, so
# the program has no name for it. A helper that raises the prelude's PuzzleError reports
# ok=False (a swallowed contradiction or "several solutions" stays on the record); `answer`
# reports the text it printed.
def __l2l_reporting__(sink, error):
    """(report, wrap_call, wrap_answer) bound to the recorder `sink` (None outside the sandbox)."""
    import functools

    def report(event):
        if sink is not None:
            try:
                sink(event)
            except Exception:  # noqa: BLE001 - a full record must not break the program
                pass

    def verdict_of(exc):
        text = str(exc)
        for key in ("several", "no solution", "no option", "unknown", "unbounded", "neither prove"):
            if key in text:
                return key.replace(" ", "_")
        return "error"

    def wrap_call(name, fn, ok_verdict=lambda out: "unique"):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                out = fn(*args, **kwargs)
            except error as exc:
                report({"call": name, "ok": False, "verdict": verdict_of(exc)})
                raise
            if kwargs.get("unique", True):
                report({"call": name, "ok": True, "verdict": ok_verdict(out)})
            else:  # e.g. `p.solve(unique=False)` decides nothing: on the record, not a verdict
                report({"call": name + "_unchecked", "ok": True, "verdict": "unchecked"})
            return out
        return call

    def wrap_answer(plain):
        @functools.wraps(plain)
        def answer(value):
            report({"call": "answer", "text": plain(value)})
        return answer

    return report, wrap_call, wrap_answer
