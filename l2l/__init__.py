"""L2L: language-to-logic reasoning.

    >>> import l2l
    >>> result = l2l.reason("A says B lies. B says A lies. C says A and B both lie. Who lies?")  # doctest: +SKIP
    >>> result.answer, result.status  # doctest: +SKIP

Importing this package is cheap: no torch, no model, no solver library is loaded until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from l2l.types import SolveResult


def reason(question: str, options: list[str] | None = None, **overrides: Any) -> "SolveResult":
    """Solve one natural-language problem with the formulator -> generator -> solver pipeline.

    `overrides` set fields of `l2l.config.SolveConfig` (e.g. `model="qwen2.5-coder-0.5b"`,
    `samples=3`). Returns a `SolveResult` with `.answer`, `.status`, `.formulation`, `.program`.
    """
    from l2l.pipeline.solve import reason as _reason

    return _reason(question, options=options, **overrides)


__all__ = ["reason", "__version__"]
