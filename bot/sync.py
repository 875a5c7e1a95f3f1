"""The API for scripts without an event loop: the same functions as `equitr.fix`, `plan`, `ask` and `review`,
each run to its end with `asyncio.run`.

    import equitr.sync

    result = equitr.sync.fix("path/to/repo", "mean() is off by one; fix it", on_event=print)

Inside a running event loop (a notebook, an async program) use the async functions instead: these raise
RuntimeError there rather than blocking the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from equitr.local import api
from equitr.local.api import interpret as interpret

__all__ = ["ask", "fix", "interpret", "plan", "review"]

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(fn(*args, **kwargs))
        name = fn.__name__
        raise RuntimeError(f"equitr.sync.{name} was called inside a running event loop: await equitr.{name}(...)")

    run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__name__, fn.__doc__
    run.__wrapped__ = fn  # type: ignore[attr-defined]
    return run


fix = _blocking(api.fix)
plan = _blocking(api.plan)
ask = _blocking(api.ask)
review = _blocking(api.review)
