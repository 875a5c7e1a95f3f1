"""equitr: turn GitHub issue and pull-request comments into coding-agent work.

The Python API (`bot/api.py`): `await equitr.fix(repo, task)`, `plan`, `ask`, `review`, `interpret`, and
`equitr.sync` for scripts without an event loop. See docs/api.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: from the git tag it was built at (setuptools-scm).
    __version__ = version("equitr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# The API's functions. Two of them share a name with a module of this package (`interpret/`, the interpretation
# layer; `plan.py`, the task graph): importing the API first imports those modules, and the names are bound to
# the functions afterwards, so `equitr.plan(...)` and `equitr.interpret(...)` are the functions, while
# `from equitr.interpret import ...` still reads the module (use `importlib.import_module` for the module
# object itself).
from equitr import sync
from equitr.api import (
    AskResult,
    Cost,
    Event,
    EventStream,
    Exchange,
    FixResult,
    Interpretation,
    PlanResult,
    Repairs,
    ReviewComment,
    ReviewResult,
    ask,
    fix,
    interpret,
    plan,
    review,
    stream,
)

__all__ = [
    "AskResult",
    "Cost",
    "Event",
    "EventStream",
    "Exchange",
    "FixResult",
    "Interpretation",
    "PlanResult",
    "Repairs",
    "ReviewComment",
    "ReviewResult",
    "__version__",
    "ask",
    "fix",
    "interpret",
    "plan",
    "review",
    "stream",
    "sync",
]
