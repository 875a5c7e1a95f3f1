"""Does a valid plan address the request? Complete it, or replace it when it plainly ignores it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.interpret.fallback import fallback_plan, steps_from
from bot.interpret.prompt import EXAMPLE_SUBJECTS
from bot.interpret.request import Facts, facts
from bot.tools.schema import FileParams, GitParams, RunParams, SearchParams, Step

Note = tuple[str, str]
ECHOES = frozenset(s.lower() for s in EXAMPLE_SUBJECTS)

_TOKEN = re.compile(r"[A-Za-z][a-z0-9]+|[A-Z0-9]+(?![a-z])")
# Tokens that say nothing about what a step is about.
_GENERIC = frozenset(
    [
        "src",
        "lib",
        "py",
        "js",
        "ts",
        "md",
        "txt",
        "json",
        "test",
        "tests",
        "main",
        "index",
        "init",
        "app",
        "the",
        "and",
        "for",
    ]
)


@dataclass(slots=True)
class Relevance:
    steps: list[Step]
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replaced: bool = False


def _subject(step: Step) -> str:
    p = step.parameters
    if isinstance(p, SearchParams):
        return f"{p.query} {p.file_pattern or ''}"
    if isinstance(p, FileParams):
        return "" if p.path.strip("./") == "" else p.path
    if isinstance(p, GitParams):
        return p.path or ""
    if isinstance(p, RunParams):
        return p.target or ""
    return ""


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(text) if len(t) >= 3} - _GENERIC


def _touches(steps: Sequence[Step], path: str) -> bool:
    base = path.rsplit("/", 1)[-1].lower()
    for step in steps:
        subject = _subject(step).lower()
        if path.lower() in subject or base in subject:
            return True
        p = step.parameters
        if isinstance(p, FileParams) and p.path and path.lower().endswith(p.path.lower().lstrip("./")):
            return True
    return False


def _relevant(step: Step, wanted: set[str], f: Facts, request: str) -> bool | None:
    """True/False when the step's subject does/does not relate to the request; None when it has none."""
    subject = _subject(step)
    if any(_touches([step], p) for p in f.paths):
        return True
    echo = subject.strip().lower()
    if echo in ECHOES and echo not in request.lower():  # the prompt's example, repeated by a small model
        return False
    tokens = _tokens(subject)
    return bool(tokens & wanted) if tokens else None


def check(steps: list[Step], request: str) -> Relevance:
    f = facts(request)
    wanted = _tokens(request)
    verdicts = [v for v in (_relevant(s, wanted, f, request) for s in steps) if v is not None]
    # Only a request that names something concrete can be plainly ignored.
    if f.anchors and verdicts and not any(verdicts):
        named = ", ".join(repr(a) for a in f.anchors[:4])
        return Relevance(
            list(fallback_plan(request)),
            [("plan_replaced", f"no step mentions anything the request names ({named}); keyword plan used")],
            [f"the plan does not address the request: no step mentions {named}"],
            replaced=True,
        )
    return _complete(steps, f)


def _complete(steps: list[Step], f: Facts) -> Relevance:
    result = Relevance(list(steps))
    tools = {s.tool for s in steps}
    specs: list[tuple[str, dict[str, object]]] = []
    if f.history and "git" not in tools:
        specs.append(("git", {"action": "log", **({"path": f.paths[0]} if f.paths else {})}))
    specs += [("file", {"action": "read", "path": p}) for p in f.paths if not _touches(steps, p)]
    if f.run and "run" not in tools:
        specs.append(("run", {"target": f.test_target} if f.test_target else {}))
    first = max((s.step for s in steps), default=0) + 1
    edits = tuple(
        s.step for s in steps if isinstance(s.parameters, FileParams) and s.parameters.action in ("write", "edit")
    )
    for step in steps_from(specs, first=first):
        if step.tool == "run" and edits:  # tests are worth running only after the plan's edits
            step = step.model_copy(update={"dependencies": edits})
        result.steps.append(step)
        result.notes.append(("plan_completed", f"added step {step.step}: {_describe(step)} (the request asks for it)"))
    return result


def _describe(step: Step) -> str:
    fields = step.parameters.model_dump(exclude_none=True, exclude_defaults=False)
    return f"{step.tool} " + ", ".join(f"{k}={v!r}" for k, v in fields.items() if k in ("action", "path", "target"))
