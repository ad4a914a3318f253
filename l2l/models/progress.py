"""Progress shown on stderr while models load (a spinner: loading is one opaque call)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


@contextlib.contextmanager
def spinner(message: str, enabled: bool = True) -> Iterator[None]:
    """Show `message` with a spinner on stderr while the block runs, then the time it took.

    >>> with spinner("loading", enabled=False): pass
    """
    if not enabled:
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    t0 = time.perf_counter()
    if console.is_terminal:
        with console.status(message):
            yield
    else:  # logs and pipes: one line, no control characters
        print(f"{message} ...", file=sys.stderr, flush=True)
        yield
    console.print(f"[dim]{message}: done in {time.perf_counter() - t0:.1f}s[/dim]", highlight=False)
