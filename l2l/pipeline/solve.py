"""The whole inference path for one question: k formulations x m programs, each executed in
the sandbox, failed programs repaired with the solver's error, answers voted on.

    >>> from l2l.backends.scripted import ScriptedBackend
    >>> from l2l.config import SolveConfig
    >>> solver = Solver(SolveConfig(), ScriptedBackend([...]))      # doctest: +SKIP
    >>> solver.solve("Who is a knight?").answer                      # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from l2l.backends.base import ChatBackend, GenerationParams
from l2l.config import DEFAULT_PARALLEL_SEQUENCES, SolveConfig
from l2l.errors import InputError
from l2l.pipeline.formulator import formulate, formulate_many
from l2l.pipeline.generator import ProgramAttempt, repair_program, write_program, write_programs
from l2l.pipeline.program_fixes import UNDEFINED_NAME
from l2l.pipeline.vote import vote
from l2l.types import Candidate, Completion, SolveResult, add_usage, usage_of

ProgressFn = Callable[[str], None]


def validate_question(question: Any, max_chars: int) -> str:
    """Return the stripped question or raise InputError with a message a user can act on."""
    if not isinstance(question, str):
        raise InputError(f"the question must be text, got {type(question).__name__}")
    q = question.strip()
    if not q:
        raise InputError("the question is empty")
    if len(q) > max_chars:
        raise InputError(f"the question is {len(q):,} characters long; the limit is {max_chars:,} (set max_question_chars to change it)")
    if "\x00" in q:
        raise InputError("the question contains NUL bytes; is it a binary file?")
    return q


def normalise(answer: str | None, options: list[str] | None) -> str | None:
    """A program's printed answer in canonical form (an option letter where there are options)."""
    if answer is None:
        return None
    from l2l.data.answers import normalise_answer

    norm = normalise_answer(answer, options)
    if norm is None and not options:
        norm = answer.strip() or None
    return norm


@dataclass
class _Ledger:
    """Timings and token counts of one solve, by stage, and its time budget."""

    # "llm" is the backends' own generation time, so overhead = total - llm - execution.
    timings: dict[str, float] = field(default_factory=lambda: {"formulation": 0.0, "generation": 0.0, "execution": 0.0, "llm": 0.0})
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    # time.monotonic() instant the budget ends (None: no budget); `stopped_by` is set when the
    # budget cut a completion or kept planned work from starting.
    deadline: float | None = None
    stopped_by: str | None = None
    # Model calls made for candidates that were never yielded (a wave's drafts and programs left
    # when the vote stopped early), by stage: spent all the same, so the solve's usage counts them.
    unclaimed: dict = field(default_factory=dict)

    def add(self, stage: str, seconds: float, completions: list[Completion] = ()) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
        for c in completions:
            self.timings["llm"] += c.elapsed_s
            self.tokens["prompt"] += c.prompt_tokens
            self.tokens["completion"] += c.completion_tokens
            if c.finish_reason == "time_budget":
                self.stopped_by = "time_budget"

    def out_of_time(self) -> bool:
        """True (and recorded) when the budget is spent: call it only where work would start."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_by = "time_budget"
            return True
        return False

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class Solver:
    """Runs the pipeline with given formulator and generator backends (the same object when
    one model plays both roles)."""

    def __init__(self, config: SolveConfig, formulator: ChatBackend, generator: ChatBackend | None = None, progress: ProgressFn | None = None):
        self.config = config
        self.formulator = formulator
        self.generator = generator or formulator
        self.progress = progress or (lambda _msg: None)

    def _params(self, index: int, max_tokens: int, ledger: _Ledger | None = None) -> GenerationParams:
        # The first sample is greedy so that samples=1 is deterministic; later ones explore.
        c = self.config
        return GenerationParams(
            max_tokens=max_tokens,
            temperature=0.0 if index == 0 else c.sample_temperature,
            seed=c.seed + index,
            repeat_penalty=c.repeat_penalty,
            deadline=ledger.deadline if ledger is not None else None,
        )

    def _execute(self, attempt: ProgramAttempt, ledger: _Ledger):
        from l2l.pipeline.execute import ExecLimits, run_program

        config = self.config
        left = ledger.remaining()
        if left is not None and left < config.timeout_s:
            # Within the budget, but never under a second: most programs finish in milliseconds,
            # and one that just made it to the sandbox should get to print its answer.
            config = replace(config, timeout_s=max(1.0, left))
        t = time.perf_counter()
        result = run_program(attempt.program, ExecLimits.from_config(config))
        ledger.add("execution", time.perf_counter() - t)
        return result

    def _program_candidate(self, question: str, options, formulation, index: int, ledger: _Ledger,
                           attempt: ProgramAttempt | None = None) -> Candidate:
        """Program number `index` for `formulation` (or the `attempt` already written for it, as a
        wave writes them), run, and repaired with the solver's error while rounds are left."""
        c = self.config
        if attempt is None:
            self.progress(f"writing program {index + 1}")
            t = time.perf_counter()
            attempt = write_program(self.generator, question, formulation, options, self._params(index, c.program_max_tokens, ledger))
            ledger.add("generation", time.perf_counter() - t, attempt.completions)
        cand = Candidate(formulation, attempt.program, None)
        add_usage(cand.usage, usage_of(attempt.completions))
        repairs = 0
        while True:
            if attempt.completions and attempt.completions[-1].finish_reason == "time_budget":
                # Cut mid-program by the budget: running the fragment could only fail.
                cand.program, cand.error = attempt.program, f"{_budget_message(c)} while writing the program"
                break
            if attempt.program is None:
                cand.error = f"generator: {attempt.error}"
                execution = None
            elif (ignored := _off_model(attempt.program.code, formulation, question, options)) is not None:
                # Running it would only measure the worked example it copied: ask again instead.
                cand.program, cand.error, execution = attempt.program, ignored, None
            else:
                self.progress(f"running program {index + 1}" + (f" (repair {repairs})" if repairs else ""))
                execution = self._execute(attempt, ledger)
                cand.program, cand.execution = attempt.program, execution
                if execution.ok:
                    cand.answer = normalise(execution.answer, options)
                    cand.error = None if cand.answer is not None else f"answer {execution.answer!r} matches no option"
                    if cand.answer is not None:
                        break
                else:
                    cand.error = f"{execution.status}: {execution.error or execution.stderr[-500:]}"
            if repairs >= c.repair_rounds or ledger.out_of_time():
                break
            repairs += 1
            self.progress(f"repairing program {index + 1}")
            t = time.perf_counter()
            feedback = cand.error if execution is None or execution.ok else repair_feedback(execution, attempt.program.code, formulation)
            attempt = repair_program(self.generator, attempt, feedback, self._params(index, c.program_max_tokens, ledger), keep_example=c.repair_with_example)
            ledger.add("generation", time.perf_counter() - t, attempt.completions)
            add_usage(cand.usage, usage_of(attempt.completions))
        cand.repairs = repairs
        return cand

    def _formulation_candidates(self, question: str, options, i: int, m: int, ledger: _Ledger):
        """Formulation number i (greedy for 0, sampled after), then its m program candidates,
        yielded one by one so the caller can stop early. The formulation's model calls are
        counted on the first candidate it yields."""
        c = self.config
        t = time.perf_counter()
        f_attempt = formulate(self.formulator, question, options, self._params(i, c.formulation_max_tokens, ledger),
                              coverage=c.coverage_repair, constrained=c.constrained_formulation)
        ledger.add("formulation", time.perf_counter() - t, f_attempt.completions)
        f_usage = usage_of(f_attempt.completions)
        if f_attempt.formulation is None:
            yield Candidate(None, None, None, error=f"formulator: {f_attempt.error}", usage=f_usage)
            return
        for j in range(m):
            if ledger.out_of_time():
                if j == 0:  # keep the formulation (and what it cost) in the result
                    yield Candidate(f_attempt.formulation, None, None, error=_budget_message(c), usage=f_usage)
                return
            cand = self._program_candidate(question, options, f_attempt.formulation, i * m + j, ledger)
            if j == 0:
                cand.usage = add_usage(add_usage({}, f_usage), cand.usage)
            yield cand

    def _wave_size(self, i: int, k: int) -> int:
        """How many formulations to draw together from index i: sampled ones (i >= 1) as many as the
        formulator decodes in parallel; the greedy first one alone, so a question it answers costs
        nothing extra."""
        if i == 0:
            return 1
        return max(1, min(k - i, int(getattr(self.formulator, "parallel_sequences", 1) or 1)))

    def _wave_candidates(self, question: str, options, i: int, w: int, m: int, ledger: _Ledger):
        """Formulations i .. i+w-1 (all sampled) decoded together, then their programs together,
        yielded one by one like `_formulation_candidates`. Each sample keeps the seed the one-at-a-time
        path gives it (formulation i+t: seed + i + t; its program j: seed + (i+t)*m + j), and a prompt
        is read once while the sequences decode in parallel. The texts are the one-at-a-time ones where
        batched and single-sequence decoding compute the same logits (the float32 test model); on the
        quantised models llama.cpp's batched matmuls round differently, so a sampled text can drift
        from its one-at-a-time twin after some tokens (measured: bench/results/vote_cost.md). Calls made
        for candidates the caller does not take (it stopped early) go to `ledger.unclaimed`."""
        c = self.config
        self.progress(f"formulating {w} samples together ({i + 1}-{i + w})")
        t = time.perf_counter()
        f_attempts = formulate_many(self.formulator, question, options, self._params(i, c.formulation_max_tokens, ledger), w,
                                    coverage=c.coverage_repair, constrained=c.constrained_formulation)
        ledger.add("formulation", time.perf_counter() - t, [x for a in f_attempts for x in a.completions])
        # usage not yet on a yielded candidate: each formulation's calls, then programs written ahead
        unclaimed: dict[object, dict] = {("f", tix): usage_of(a.completions) for tix, a in enumerate(f_attempts)}

        def claim(tix: int, cand: Candidate) -> Candidate:
            # a formulation's calls are counted on the first candidate it yields
            cand.usage = add_usage(add_usage({}, unclaimed.pop(("f", tix), {})), cand.usage)
            return cand

        try:
            for tix, a in enumerate(f_attempts):
                if a.formulation is None:
                    yield claim(tix, Candidate(None, None, None, error=f"formulator: {a.error}"))
            valid = [tix for tix, a in enumerate(f_attempts) if a.formulation is not None]
            batched = int(getattr(self.generator, "parallel_sequences", 1) or 1) > 1
            for j in range(m):
                if not valid:
                    return
                if ledger.out_of_time():
                    for tix in valid:
                        if ("f", tix) in unclaimed:
                            yield claim(tix, Candidate(f_attempts[tix].formulation, None, None, error=_budget_message(c)))
                    return
                written: list[ProgramAttempt | None] = [None] * len(valid)
                if batched and len(valid) > 1:
                    self.progress(f"writing {len(valid)} programs together")
                    t = time.perf_counter()
                    written = list(write_programs(self.generator, question, [f_attempts[tix].formulation for tix in valid], options,
                                                  self._params(1, c.program_max_tokens, ledger),
                                                  seeds=[c.seed + (i + tix) * m + j for tix in valid]))
                    ledger.add("generation", time.perf_counter() - t, [x for a in written for x in a.completions])
                    unclaimed.update({("p", tix, j): usage_of(a.completions) for tix, a in zip(valid, written)})
                for tix, attempt in zip(valid, written):
                    # _program_candidate counts the written attempt's calls on the candidate itself
                    unclaimed.pop(("p", tix, j), None)
                    cand = self._program_candidate(question, options, f_attempts[tix].formulation, (i + tix) * m + j, ledger, attempt)
                    yield claim(tix, cand)
        finally:
            for u in unclaimed.values():
                add_usage(ledger.unclaimed, u)

    def solve(self, question: str, options: list[str] | None = None) -> SolveResult:
        """Answer `question`. With `config.time_budget_s`, no model call or program starts after
        the budget, and a completion under way is cut at it (backends with `supports_deadline`;
        others finish their current call); the answer is the vote over the candidates so far,
        and `stopped_by` says "time_budget"."""
        c = self.config
        question = validate_question(question, c.max_question_chars)
        ledger = _Ledger()
        if c.time_budget_s is not None:
            ledger.deadline = time.monotonic() + float(c.time_budget_s)
        candidates: list[Candidate] = []
        t_start = time.perf_counter()
        k, m = max(1, c.formulations), max(1, c.programs_per_formulation)
        total = k * m
        done = False
        i = 0
        while i < k and not done:
            if ledger.out_of_time():
                break
            w = self._wave_size(i, k)
            if w > 1:
                batch = self._wave_candidates(question, options, i, w, m, ledger)
            else:
                self.progress(f"formulating ({i + 1}/{k})")
                batch = self._formulation_candidates(question, options, i, m, ledger)
            for cand in batch:
                candidates.append(cand)
                v = vote([x.answer for x in candidates])
                if total > 1 and c.early_stop_agree and v.top_count >= c.early_stop_agree:
                    done = True
                    break
            batch.close()  # a wave left early records what its untaken candidates cost
            i += w
        # Only when nothing answered: a fresh (sampled) formulation, one at a time, stopping at
        # the first answer, so a solved question costs nothing extra.
        for r in range(max(0, c.reformulations)):
            if any(x.answer is not None for x in candidates) or ledger.out_of_time():
                break
            self.progress(f"reformulating ({r + 1}/{c.reformulations})")
            for cand in self._formulation_candidates(question, options, k + r, m, ledger):
                cand.phase = "reformulation"
                candidates.append(cand)
        v = vote([x.answer for x in candidates])
        ledger.timings["total"] = time.perf_counter() - t_start
        error = None
        if v.answer is None:
            errors = [x.error for x in candidates if x.error]
            error = errors[-1] if errors else "no candidate produced an answer"
            if ledger.stopped_by == "time_budget" and not candidates:
                error = _budget_message(c)
        usage: dict = {}
        for x in candidates:
            add_usage(usage, x.usage, as_stage="reformulation" if x.phase == "reformulation" else None)
        add_usage(usage, ledger.unclaimed)
        return SolveResult(question, v.answer, v.status, candidates, v.counts, ledger.timings, ledger.tokens, error,
                           usage=usage, stopped_by=ledger.stopped_by)


def _budget_message(config: SolveConfig) -> str:
    return f"time budget of {config.time_budget_s:g} s reached"


def _off_model(code: str, formulation, question: str, options) -> str | None:
    """Why a program is not a program for this formulation (None if it looks like one): it
    uses the worked example's variables, or leaves out most of the model's own."""
    from l2l.pipeline.coverage import copied_example_names
    from l2l.prompts import pick_example
    from l2l.types import Formulation

    example = pick_example(question, options, formulation.backend)
    copied = copied_example_names(code, formulation, question, Formulation.from_dict(example["formulation"]))
    if copied:
        return (f"The program uses {', '.join(copied)} from the worked example, which this problem does not have. "
                "Declare exactly the formal model's variables and write every constraint over them.")
    return _ignores_most_of(code, formulation)


def _ignores_most_of(code: str, formulation) -> str | None:
    """An error message when the program leaves out more than half of the formulation's variables
    (three or more: with fewer, a direct computation may legitimately name none of them)."""
    from l2l.pipeline.coverage import unused_variables, unused_variables_message, variable_names

    names = len(variable_names(formulation))
    if names >= 3 and len(unused_variables(code, formulation)) * 2 > names:
        return unused_variables_message(code, formulation)
    return None


def repair_feedback(execution, code: str | None = None, formulation=None) -> str:
    """What the generator is told about a failed run: status, the error line, stderr's tail, and
    hints for mistakes small models make often. The one-stage `program` method of `l2l eval`
    gets the same text (without the formulation's parts), so it repairs on equal terms.

    >>> from solvers.result import ExecutionResult
    >>> repair_feedback(ExecutionResult("no_answer")).splitlines()
    ['status: no_answer', 'The program finished without calling answer(...).']
    """
    parts = [f"status: {execution.status}"]
    if execution.error:
        parts.append(execution.error)
    tail = (execution.stderr or "").strip().splitlines()[-6:]
    if tail:
        parts.append("\n".join(tail))
    if execution.status == "no_answer":
        parts.append("The program finished without calling answer(...).")
    hint = _hint(execution.stderr or execution.error or "")
    if hint:
        parts.append(hint)
    if code is not None and formulation is not None:
        from l2l.pipeline.coverage import unused_variables_message, variable_names

        unused = unused_variables_message(code, formulation)
        if unused:
            parts.append(unused)
        elif UNDEFINED_NAME.search(execution.stderr or ""):
            # Measured: the undeclared names were the model's own variables, while the program
            # declared the worked example's objects; list what it should declare.
            parts.append(f"The formal model's variables are: {', '.join(variable_names(formulation))}. "
                         "Declare all of them, with these names, and nothing else.")
    return "\n".join(parts)


def _hint(error_text: str) -> str | None:
    """A concrete fix for errors small models make often (measured: undeclared names were the
    commonest failure of the 1.5B model on LogicalDeduction), phrased as an instruction."""
    m = UNDEFINED_NAME.search(error_text)
    if m:
        name = m.group(1)
        return (f"Hint: `{name}` is used but never declared. Declare every name before using it "
                f"(e.g. {name} = p.Int(\"{name}\", lo, hi), or list it in p.Order(...)), or write it "
                f"as a string \"{name}\" if it is the name of an object.")
    line = _syntax_error_line(error_text)
    if line and _SPACED_NAME.search(line):
        return ("Hint: a Python name cannot contain spaces: write multi-word names in snake_case "
                "(blue_jay, station_wagon), in the p.Order([...]) list too.")
    return None


_SPACED_NAME = re.compile(r"(?<![\"'\w])(?!(?:and|or|not|in|is|if|else|for|lambda|import|from|as)\b)[a-z_]\w* "
                          r"(?!(?:and|or|not|in|is|if|else|for|lambda|import|from|as)\b)[a-z_]\w*\b(?![\"'(])")


def _syntax_error_line(error_text: str) -> str | None:
    """The source line a SyntaxError traceback quotes (the line before the caret line)."""
    if "SyntaxError" not in error_text:
        return None
    lines = error_text.splitlines()
    for i, text in enumerate(lines):
        if text.strip().startswith("^") and i > 0:
            return lines[i - 1].split("#", 1)[0]
    return None


# Loaded models, reused across `reason` calls and evaluations in one process (loading a GGUF
# takes seconds), keyed by the weights they load: a formulator and a generator that name the
# same model, however spelled, share one llama.cpp context.
_MODEL_CACHE: dict[tuple, ChatBackend] = {}


def get_model(name: str, **overrides: Any) -> ChatBackend:
    from l2l.models import load_model
    from l2l.models.load import model_key

    key = (model_key(name), tuple(sorted((k, str(v)) for k, v in overrides.items())))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(name, **overrides)
    return _MODEL_CACHE[key]


def clear_model_cache() -> None:
    for backend in _MODEL_CACHE.values():
        backend.close()
    _MODEL_CACHE.clear()


def build_solver(config: SolveConfig, progress: ProgressFn | None = None, **model_overrides: Any) -> tuple[Solver, float]:
    """A Solver with its models loaded; returns it with the seconds spent loading."""
    t = time.perf_counter()
    model_overrides.setdefault("prompt_cache", config.prompt_cache)
    if config.parallel_sequences != DEFAULT_PARALLEL_SEQUENCES:
        # Only when changed: the backends' default is the config's, and a loaded model is cached by
        # its overrides, so an evaluation loading the same model without this key shares the copy.
        model_overrides.setdefault("parallel_sequences", config.parallel_sequences)
    formulator = get_model(config.formulator_model or config.model, **model_overrides)
    generator = get_model(config.generator_model or config.model, **model_overrides)
    return Solver(config, formulator, generator, progress), time.perf_counter() - t


def reason(question: str, options: list[str] | None = None, progress: ProgressFn | None = None, **overrides: Any) -> SolveResult:
    """Library entry point behind `l2l.reason`: validate, load (cached) models, solve."""
    config = SolveConfig().update(**overrides)
    validate_question(question, config.max_question_chars)  # fail fast, before loading a model
    solver, load_s = build_solver(config, progress)
    result = solver.solve(question, options)
    result.timings["model_load"] = load_s
    return result
