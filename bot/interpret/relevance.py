"""Does a valid plan address the request? Complete it, drop its junk, or replace it when it ignores it.

Judged generically, from what the run knows — never from a list of known example strings:

- a step is *relevant* when its subject (a path, a query) shares something with the request or the test
  failure, or follows the evidence: a file the traceback or the ranked repository map points to, a file or
  a name that exists in the repository;
- a step is *irrelevant* when its subject shares nothing with any of those (a path that does not exist), when
  it repeats a name or path from the instructions the model was shown (an example of any prompt) that the
  request, the failure and the repository do not know, or when its parameters are implausible for what the
  request names (`path: "."` or a one-letter path while the request names a file);
- steps with no subject (run the tests, git status) are neutral.

Irrelevant steps beside relevant ones are dropped; a plan with nothing relevant, for a request or a failure
that points somewhere, is replaced by the keyword plan (which follows the traceback). Every change is noted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from equitr.interpret.fallback import fallback_plan, steps_from
from equitr.interpret.request import Facts, _words, facts
from equitr.interpret.result import describe
from equitr.tools.file import FileParams
from equitr.tools.git import GitParams
from equitr.tools.registry import SPECS, Step
from equitr.tools.search import SearchParams

Note = tuple[str, str]

_TOKEN = re.compile(r"[A-Za-z][a-z0-9]+|[A-Z0-9]+(?![a-z])")
# Tokens that say nothing about what a step is about.
_GENERIC = frozenset(
    _words("src lib py js ts md txt json test tests main index init app the and for self none true false")
)
# Words every test report has; they say nothing about the failure's subject.
_REPORT_WORDS = frozenset(
    _words(
        "passed failed error errors skipped warning warnings seconds assert assertion traceback most recent call "
        "last line file exit code short summary info failures session starts platform rootdir collected item items "
        "stderr stdout python pytest unittest ran tests fail"
    )
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the run knows besides the request. Empty fields mean "unknown", never "nothing there"."""

    failure: str = ""  # the evidence shown with the request: the failing tests' output, code, earlier findings
    files: frozenset[str] = frozenset()  # every file of the repository (relative paths)
    pointed: tuple[str, ...] = ()  # files the traceback and the ranked map point to, most relevant first
    symbols: frozenset[str] = frozenset()  # names defined in the repository
    instructions: str = ""  # the rest of what the model was shown (its instructions, their examples)


@dataclass(slots=True)
class Relevance:
    steps: list[Step]
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replaced: bool = False


def _subject(step: Step) -> str:
    return SPECS[step.tool].subject(step.parameters)


def _tokens(text: str) -> set[str]:
    # `dates` and `date` are one subject: a crude plural strip is enough to compare subjects.
    words = {t.lower() for t in _TOKEN.findall(text) if len(t) >= 3} - _GENERIC
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words}


def _norm(path: str) -> str:
    return path.strip().removeprefix("./").rstrip("/")


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


def _implausible(step: Step, f: Facts) -> str:
    """Why the step's parameters cannot be meant for this request ("" when they can)."""
    p = step.parameters
    if not isinstance(p, FileParams) or not f.paths:
        return ""
    path = _norm(p.path)
    last = path.rsplit("/", 1)[-1]
    if path in ("", ".", "/") or len(last) == 1:
        return f"path {p.path!r} while the request names {f.paths[0]!r}"
    return ""


_NAMELIKE = re.compile(r"[A-Za-z_][\w-]*(?:[_./][\w-]+)+|[a-z]+[A-Z]\w*")


def _echo(step: Step, request: str, ev: Evidence) -> str:
    """A subject copied from the instructions the model was shown (an example of any prompt), which the
    request, the failure and the repository know nothing of."""
    p = step.parameters
    subject = p.query if isinstance(p, SearchParams) else _norm(getattr(p, "path", None) or "")
    if not ev.instructions or not _NAMELIKE.fullmatch(subject.strip()):
        return ""  # plain words ("tests", "config") are everyone's; names and paths are not
    name = subject.strip()
    if name not in ev.instructions or name.lower() in request.lower() or name.lower() in ev.failure.lower():
        return ""
    if name in ev.files or name in ev.symbols or any(name in path for path in ev.pointed):
        return ""
    return f"{name!r} is from the instructions' example, not the request or the repository"


def _junk(step: Step, f: Facts, ev: Evidence, request: str = "") -> str:
    """Why a step is certainly useless, whatever the rest of the plan ("" when it is not)."""
    why = _implausible(step, f) or _echo(step, request, ev)
    if why:
        return why
    p = step.parameters
    if isinstance(p, FileParams) and _OUTSIDE.match(p.path):
        return f"{p.action} {p.path!r}: a path outside the repository"
    if (
        ev.files
        and isinstance(p, FileParams)
        and p.action in ("read", "edit", "list")
        and _norm(p.path) not in ("", ".")
    ):
        path = _norm(p.path)
        named = any(_touches([step], n) for n in f.paths)
        if not _in_repository(path, ev.files) and not named:
            return f"{p.action} {p.path!r}: the repository has no such {'directory' if p.action == 'list' else 'file'}"
    return ""


# `/Users/…/test_x.py`, `~/…`, `C:\\…`: paths of some machine a model saw in training, never the checkout's (the
# file tool refuses absolute paths). They may end in a name the request gives, so they are judged first.
_OUTSIDE = re.compile(r"^\s*(?:/|~|[A-Za-z]:[\\/])")


def _in_repository(path: str, files: frozenset[str]) -> bool:
    return path in files or any(x.startswith(path + "/") for x in files)


def _relevant(step: Step, wanted: set[str], f: Facts, ev: Evidence, request: str) -> bool | None:
    """True/False when the step's subject does/does not relate to the request, the failure or the
    repository; None when it has no subject to judge."""
    if _junk(step, f, ev, request):
        return False
    if any(_touches([step], p) for p in f.paths):
        return True
    p = step.parameters
    if isinstance(p, FileParams | GitParams) and p.path and _norm(p.path) not in ("", "."):
        path = _norm(p.path)
        if ev.files:
            if path in ev.files or any(x.startswith(path + "/") for x in ev.files):
                return True  # it exists: following the map or the traceback is what a model should do
            if isinstance(p, FileParams) and p.action == "write":
                return bool(_tokens(path) & wanted) or None  # a new file: plausible if the request leads to it
            return False  # reading or editing a file that is not there
        if path in ev.pointed:
            return True
    if isinstance(p, SearchParams) and (p.query in ev.symbols or any(p.query in x for x in ev.pointed)):
        return True
    tokens = _tokens(_subject(step))
    return bool(tokens & wanted) if tokens else None


def check(steps: list[Step], request: str, evidence: Evidence | None = None) -> Relevance:
    ev = evidence or Evidence()
    f = facts(request)
    wanted = _tokens(request) | (_tokens(ev.failure) - _REPORT_WORDS) | {t for p in ev.pointed for t in _tokens(p)}
    verdicts = [_relevant(s, wanted, f, ev, request) for s in steps]
    judged = [v for v in verdicts if v is not None]
    # Only a request that names something, or a failure that points somewhere, can be plainly ignored.
    junk = [_junk(s, f, ev, request) for s in steps]
    # Only a request that names something, or a failure that points somewhere, can be plainly ignored; a
    # plan of nothing but junk (echoes, missing files) is replaced whatever the request.
    if judged and not any(judged) and (f.anchors or ev.pointed or all(junk)):
        if f.anchors or ev.pointed:
            named = ", ".join(repr(a) for a in (f.anchors or ev.pointed)[:4])
            why = f"no step relates to what {'the request names' if f.anchors else 'the failure points to'} ({named})"
            error = f"the plan does not address the request: no step mentions {named}"
        else:
            why = "every step is junk: " + "; ".join(j for j in junk if j)[:300]
            error = f"the plan does not address the request: {why}"
        return Relevance(
            list(fallback_plan(request, pointed=ev.pointed)),
            [("plan_replaced", f"{why}; keyword plan used")],
            [error],
            replaced=True,
        )
    # Junk beside other steps is dropped (and counted); the rest of the plan is worth running as it is.
    kept: list[Step] = []
    dropped: list[Note] = []
    for step, why in zip(steps, junk, strict=True):
        if why and not all(junk):
            dropped.append(("step_dropped", f"step {step.step}: {why}"))
        else:
            kept.append(step)
    result = _complete(kept, f)
    result.notes[:0] = dropped
    return result


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
        result.notes.append(("plan_completed", f"added step {step.step}: {describe(step)} (the request asks for it)"))
    return result


