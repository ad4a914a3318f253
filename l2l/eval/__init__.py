"""Evaluation: reasoning methods (one registry), a resumable runner, and run comparison.

    >>> from l2l.eval import METHODS, EvalRun, run_eval
    >>> run_eval(EvalRun("logiclm_folio", "l2l", "runs/folio-l2l", limit=20))  # doctest: +SKIP
"""

from l2l.eval.methods import METHODS, EvalContext, Method, Prediction
from l2l.eval.runner import EvalRun, read_predictions, run_eval, summarise, summary_markdown

__all__ = ["METHODS", "EvalContext", "EvalRun", "Method", "Prediction", "read_predictions", "run_eval", "summarise", "summary_markdown"]
