"""equitr: turn GitHub issue and pull-request comments into coding-agent work.

The Python API (`bot/local/api.py`): `await equitr.fix(repo, task)`, `plan`, `ask`, `review`, `interpret`, and
`equitr.sync` (`bot/sync.py`) for scripts without an event loop. See docs/api.md.

The package in layers (docs/architecture.md): entry points (`cli`, `action`, `local`), the webhook side
(`web`, `events`), the job system (`jobs`), the worker side (`handlers`), the agent engine (`agent`,
`interpret`, `tools`, `models`), the edges (`github`, `sandbox`) and foundations (`config`, `monitor`, `text`,
`errors`, `redact`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: from the git tag it was built at (setuptools-scm).
    __version__ = version("equitr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# The API's functions. `interpret` is also the name of a subpackage (the interpretation layer): importing the
# API first imports it, and the name is bound to the function afterwards, so `equitr.interpret(...)` is the
# function, while `from equitr.interpret import ...` still reads the subpackage (use `importlib.import_module`
# for the module object itself).
from equitr import sync
from equitr.local import api as _api
from equitr.local.api import *  # noqa: F403  the API's names: `equitr.local.api.__all__` is their one list

__all__ = ["__version__", "sync"]
__all__ += _api.__all__
