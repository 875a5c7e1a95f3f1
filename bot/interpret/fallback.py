"""The keyword fallback planner: a plan from the request alone, when the model's reply gave nothing usable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic

from equitr.interpret.request import Facts, facts
from equitr.tools.file import FileParams
from equitr.tools.registry import SPECS, Step

MAX_FALLBACK_STEPS = 10
_LIST_ROOT = Step(step=1, tool="file", parameters=FileParams(action="list", path="."))


def _specs(f: Facts, pointed: Sequence[str] = ()) -> list[tuple[str, dict[str, Any]]]:
    specs: list[tuple[str, dict[str, Any]]] = []
    specs += [("search", {"query": s, "search_type": "symbol"}) for s in f.symbols]
    specs += [("search", {"query": t[:500]}) for t in f.texts]
    specs += [("file", {"action": "read", "path": p}) for p in f.paths]
    # The code a traceback points to, when the request does not name it.
    named = {p.removeprefix("./") for p in f.paths}
    specs += [("file", {"action": "read", "path": p}) for p in pointed[:2] if p not in named]
    specs += [("file", {"action": "list", "path": d}) for d in f.dirs]
    if not (f.symbols or f.texts or f.paths or f.dirs or pointed):
        specs += [("search", {"query": k}) for k in f.keywords]
    if f.history:
        specs.append(("git", {"action": "log", **({"path": f.paths[0]} if f.paths else {})}))
    if f.diff:
        specs.append(("git", {"action": "diff"}))
    if f.status:
        specs.append(("git", {"action": "status"}))
    if f.run:
        specs.append(("run", {"target": f.test_target} if f.test_target else {}))
    return specs


def steps_from(specs: list[tuple[str, dict[str, Any]]], *, first: int = 1) -> list[Step]:
    """Valid steps for the specs that validate, numbered from `first`, without dependencies."""
    out: list[Step] = []
    for tool, params in specs:
        try:
            parameters = SPECS[tool].params.model_validate(params)
        except pydantic.ValidationError:
            continue  # e.g. an over-long quoted string; the other steps still help
        out.append(Step(step=first + len(out), tool=tool, parameters=parameters))
    return out


def fallback_plan(request: str, *, pointed: Sequence[str] = ()) -> tuple[Step, ...]:
    """Search for what the request names, read the files it names and the ones a failure points to
    (`pointed`, most telling first), run tests or look at history when it asks to; at least one step (list
    the repository root) whatever the request."""
    try:
        steps = steps_from(_specs(facts(request), pointed))[:MAX_FALLBACK_STEPS]
    except Exception:  # never let a bad request stop a job; the root listing is always a useful start
        steps = []
    return tuple(steps) or (_LIST_ROOT,)
