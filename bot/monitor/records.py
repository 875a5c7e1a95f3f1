"""The PerformanceMonitor: what one job did, how long each part took, what it cost, and every call it made.

Pure data and a per-job recorder; no I/O. The engine records at its seams (the job runner's phases, the model
client, the GitHub client; see `equitr.jobs.runner`), the store keeps the result with the job (`JobStore.save_record`),
and the dashboard and `/metrics` read it from there.

A record is bounded: at most `MAX_MODEL_CALLS` model calls, `MAX_GITHUB_CALLS` GitHub calls and `MAX_PHASES`
phases are kept (the rest are counted), the diff and test outputs are capped, and every string passes
`equitr.redact` when the record is serialised, so nothing secret-shaped is ever stored.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypedDict

from equitr.redact import redact, redact_all

log = logging.getLogger(__name__)

PHASES = (
    "queue_wait",
    "checkout",
    "setup",
    "plan",
    "step",
    "tests_before",
    "tests_after",
    "review",
    "push",
    "comment",
)
ROLES = ("supervisor", "worker", "reviewer", "other")
MODES = ("json_schema", "json_object", "tools", "text")

MAX_PHASES = 1_000
MAX_MODEL_CALLS = 500
MAX_GITHUB_CALLS = 2_000
MAX_DIFF_BYTES = 64 * 1024
MAX_TEST_OUTPUT_BYTES = 16 * 1024
MAX_PLAN_ITEMS = 100
MAX_TRAJECTORY = 500
MAX_TEXT = 1_000  # one plan description, a test summary, the error
MAX_SUMMARY = 400  # one trajectory step's summary
# With the limits above a stored record stays under about 1 MiB, however long the job ran.
DIFF_CUT_NOTE = "\n… diff cut at 64 KiB: the full change is on the branch / pull request.\n"
OUTPUT_CUT_NOTE = "… (output cut: first and last parts kept)"


# -- the data model --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed part of a job. A `step` phase carries its step number in `detail`."""

    name: str
    started_at: float
    seconds: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One model request, as the interpretation layer saw it: `repairs` are the repair kinds its reply needed,
    `mode` the structured-output mode used, `fallback` whether the interpretation layer had to fall back (no
    usable plan in the reply: the keyword fallback plan ran instead). `retries` counts the model client's
    retries of this request."""

    model: str
    role: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    retries: int
    mode: str
    repairs: tuple[str, ...]
    fallback: bool
    started_at: float
    served_by_fallback: bool = False  # the model client's fallback model answered (the primary kept failing)


@dataclass(frozen=True, slots=True)
class GitHubCall:
    """One GitHub API request. `route` is the templated path (see `route_template`), never a token or an id."""

    method: str
    route: str
    status: int
    rate_remaining: int | None
    latency_s: float
    started_at: float


class PlanItem(TypedDict):
    tool: str
    subject: str
    description: str


class TrajectoryStep(TypedDict):
    step: int
    tool: str
    summary: str
    ok: bool


class TestRun(TypedDict):
    summary: str
    output: str


class CostLine(TypedDict):
    model: str
    role: str
    cost_usd: float
    tokens_in: int
    tokens_out: int


class Links(TypedDict):
    issue_url: str | None
    pr_url: str | None
    comment_url: str | None


def no_links() -> Links:
    return {"issue_url": None, "pr_url": None, "comment_url": None}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the job did, for its page on the dashboard."""

    plan: list[PlanItem] = field(default_factory=list)
    trajectory: list[TrajectoryStep] = field(default_factory=list)
    diff: str = ""
    tests_before: TestRun | None = None
    tests_after: TestRun | None = None
    cost_by_model_role: list[CostLine] = field(default_factory=list)
    repairs: dict[str, int] = field(default_factory=dict)
    links: Links = field(default_factory=no_links)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """Everything the monitor kept about one job. `dropped_*` count what went past the bounds."""

    job_id: int
    phases: list[Phase] = field(default_factory=list)
    model_calls: list[ModelCall] = field(default_factory=list)
    github_calls: list[GitHubCall] = field(default_factory=list)
    outcome: Outcome | None = None
    dropped_phases: int = 0
    dropped_model_calls: int = 0
    dropped_github_calls: int = 0

    def bounded(self) -> JobRecord:
        """This record within its bounds (`to_json` also redacts every string: that is what is stored)."""
        return replace(
            self,
            phases=self.phases[:MAX_PHASES],
            model_calls=self.model_calls[:MAX_MODEL_CALLS],
            github_calls=self.github_calls[:MAX_GITHUB_CALLS],
            outcome=None if self.outcome is None else _bounded_outcome(self.outcome),
            dropped_phases=self.dropped_phases + max(0, len(self.phases) - MAX_PHASES),
            dropped_model_calls=self.dropped_model_calls + max(0, len(self.model_calls) - MAX_MODEL_CALLS),
            dropped_github_calls=self.dropped_github_calls + max(0, len(self.github_calls) - MAX_GITHUB_CALLS),
        )

    def to_json(self) -> str:
        kept = self.bounded()
        doc = _redacted(asdict(kept), {})
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        doc = json.loads(text)
        outcome = doc.get("outcome")
        return cls(
            job_id=int(doc["job_id"]),
            phases=[Phase(**_known(Phase, p)) for p in doc.get("phases") or []],
            model_calls=[_model_call(c) for c in doc.get("model_calls") or []],
            github_calls=[GitHubCall(**_known(GitHubCall, c)) for c in doc.get("github_calls") or []],
            outcome=None if outcome is None else _outcome(outcome),
            dropped_phases=int(doc.get("dropped_phases") or 0),
            dropped_model_calls=int(doc.get("dropped_model_calls") or 0),
            dropped_github_calls=int(doc.get("dropped_github_calls") or 0),
        )

    # Aggregates the dashboard and the metrics need.
    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.model_calls)

    def phase_seconds(self, name: str) -> float:
        return sum(p.seconds for p in self.phases if p.name == name)


def _redacted(value: Any, seen: dict[str, str]) -> Any:
    """`redact_all`, each distinct string redacted once (a record repeats its routes and models thousands of
    times)."""
    if isinstance(value, str):
        if value not in seen:
            seen[value] = redact(value)
        return seen[value]
    if isinstance(value, dict):
        return {_redacted(k, seen): _redacted(v, seen) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, seen) for v in value]
    return redact_all(value)


def _known(cls: type, doc: dict[str, Any]) -> dict[str, Any]:
    """The fields `cls` has (a record written by a newer version may carry more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in doc.items() if k in names}


def _model_call(doc: dict[str, Any]) -> ModelCall:
    known = _known(ModelCall, doc)
    known["repairs"] = tuple(known.get("repairs") or ())
    return ModelCall(**known)


def _outcome(doc: dict[str, Any]) -> Outcome:
    known = _known(Outcome, doc)
    links = no_links()
    links.update({k: v for k, v in (known.get("links") or {}).items() if k in links})  # type: ignore[typeddict-item]
    known["links"] = links
    return Outcome(**known)


# -- bounds ----------------------------------------------------------------------------------------


def cap_text(text: str, limit: int, note: str = "…") -> str:
    """`text` cut to at most `limit` UTF-8 bytes, ending with `note` when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(note.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore") + note


def cap_output(text: str, limit: int = MAX_TEST_OUTPUT_BYTES) -> str:
    """Test output cut in the middle: the start says what ran, the end says how it ended."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    half = max(0, (limit - len(OUTPUT_CUT_NOTE.encode("utf-8")) - 2) // 2)
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - half :].decode("utf-8", "ignore")
    return f"{head}\n{OUTPUT_CUT_NOTE}\n{tail}"


def _bounded_test(run: TestRun | None) -> TestRun | None:
    if run is None:
        return None
    summary = cap_text(str(run.get("summary", "")), MAX_TEXT)
    return {"summary": summary, "output": cap_output(str(run.get("output", "")))}


def _bounded_outcome(out: Outcome) -> Outcome:
    return replace(
        out,
        plan=[
            {
                "tool": cap_text(str(p.get("tool", "")), 200),
                "subject": cap_text(str(p.get("subject", "")), 500),
                "description": cap_text(str(p.get("description", "")), MAX_TEXT),
            }
            for p in out.plan[:MAX_PLAN_ITEMS]
        ],
        trajectory=[
            {
                "step": int(t.get("step", 0)),
                "tool": cap_text(str(t.get("tool", "")), 200),
                "summary": cap_text(str(t.get("summary", "")), MAX_SUMMARY),
                "ok": bool(t.get("ok", False)),
            }
            for t in out.trajectory[:MAX_TRAJECTORY]
        ],
        diff=cap_text(out.diff, MAX_DIFF_BYTES, DIFF_CUT_NOTE),
        tests_before=_bounded_test(out.tests_before),
        tests_after=_bounded_test(out.tests_after),
        cost_by_model_role=out.cost_by_model_role[:200],
        repairs=dict(list(out.repairs.items())[:100]),
        error=None if out.error is None else cap_text(out.error, MAX_TEXT),
    )


# -- GitHub routes ---------------------------------------------------------------------------------

# The segment after these collection names is an identifier or a name, templated with GitHub's own names.
_SLOT_AFTER = {
    "issues": "{issue_number}",
    "pulls": "{pull_number}",
    "comments": "{comment_id}",
    "installations": "{installation_id}",
    "check-runs": "{check_run_id}",
    "check-suites": "{check_suite_id}",
    "reviews": "{review_id}",
    "runs": "{run_id}",
    "jobs": "{job_id}",
    "reactions": "{reaction_id}",
    "hooks": "{hook_id}",
    "deliveries": "{delivery_id}",
    "labels": "{name}",
    "collaborators": "{username}",
    "users": "{username}",
    "members": "{username}",
    "commits": "{ref}",
    "trees": "{tree_sha}",
    "blobs": "{file_sha}",
    "compare": "{basehead}",
    "branches": "{branch}",
    "ref": "{ref}",
    "refs": "{ref}",
    "contents": "{path}",
}
_REST_OF_PATH = frozenset({"contents", "ref", "refs", "branches"})  # names that may contain slashes
_PLAIN = re.compile(r"^[a-z][a-z_-]{0,40}$")


def route_template(path: str) -> str:
    """`/repos/o/r/issues/5/comments?page=2` → `/repos/{owner}/{repo}/issues/{issue_number}/comments`.

    Metrics and records keep the templated route only: bounded label values, and no names of private
    repositories, ids, branch names or query strings (which could carry a token)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if path.startswith("/api/v3/"):  # GitHub Enterprise Server's API prefix
        path = path[len("/api/v3") :]
    parts = [p for p in path.split("/") if p]
    out: list[str] = []
    if parts[:1] == ["repos"] and len(parts) >= 3:
        out, parts = ["repos", "{owner}", "{repo}"], parts[3:]
    elif parts[:1] in (["users"], ["orgs"]) and len(parts) >= 2:
        out, parts = [parts[0], "{owner}"], parts[2:]
    for part in parts:
        prev = out[-1] if out else ""
        if prev in _SLOT_AFTER and not (part in _SLOT_AFTER and not part[:1].isdigit()):
            out.append(_SLOT_AFTER[prev])
            if prev in _REST_OF_PATH:
                break
        elif _PLAIN.match(part):
            out.append(part)
        else:
            out.append("{id}")
    return "/" + "/".join(out)


# -- the recorder ----------------------------------------------------------------------------------

Listener = Callable[[str, Any], None]
_listeners: list[Listener] = []
_current: contextvars.ContextVar[PerformanceMonitor | None] = contextvars.ContextVar("equitr_monitor", default=None)


def add_listener(listener: Listener) -> None:
    """Called with ("phase", Phase), ("model_call", ModelCall), ("github_call", GitHubCall) as they happen
    (the Prometheus metrics). A listener's error never breaks a job."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def current() -> PerformanceMonitor | None:
    """The monitor of the job this code runs for, if any (set by `PerformanceMonitor.active`)."""
    return _current.get()


@contextmanager
def timed(name: str, detail: str = "") -> Iterator[None]:
    """`with timed("plan"): …` at a seam: a phase of the current job's monitor, nothing outside a job."""
    mon = _current.get()
    if mon is None:
        yield
        return
    with mon.phase(name, detail):
        yield


class PerformanceMonitor:
    """The per-job recorder: `with monitor.phase("plan"): …`, `monitor.model_call(...)`,
    `monitor.github_call(...)`, `monitor.outcome(...)`, `monitor.record()`. Thread-safe."""

    def __init__(self, job_id: int = 0, *, clock: Callable[[], float] = time.time) -> None:
        self.job_id = job_id
        self._clock = clock
        self._lock = threading.Lock()
        self._phases: list[Phase] = []
        self._model_calls: list[ModelCall] = []
        self._github_calls: list[GitHubCall] = []
        self._dropped = {"phases": 0, "model_calls": 0, "github_calls": 0}
        self._outcome: Outcome | None = None
        self._model_requests = 0  # model calls begun (answered or not): this attempt may have paid for them
        self._model_answers = 0  # model calls recorded by this attempt (`carry` adds earlier ones, not these)
        self._cost_usd = 0.0  # this attempt's model cost, dropped calls included (the record keeps a bounded list)

    @contextmanager
    def active(self) -> Iterator[PerformanceMonitor]:
        """Make this the job's monitor for the code run inside (`current()`), so the clients' seams find it."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    @contextmanager
    def phase(self, name: str, detail: str = "") -> Iterator[None]:
        """Time the block as phase `name`; it is recorded whether the block returns or raises."""
        started = self._clock()
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.add_phase(name, started, time.monotonic() - t0, detail)

    def add_phase(self, name: str, started_at: float, seconds: float, detail: str = "") -> Phase:
        phase = Phase(name, started_at, max(0.0, seconds), detail)
        self._keep("phases", self._phases, MAX_PHASES, phase)
        _tell("phase", phase)
        return phase

    def model_requested(self) -> None:
        """A model call is about to be sent (`Calls`): from here on a run again would pay for it again."""
        with self._lock:
            self._model_requests += 1

    @property
    def cost_usd(self) -> float:
        """What this attempt's model calls cost (not the earlier attempts' calls it carries)."""
        with self._lock:
            return self._cost_usd

    def carry(self, earlier: JobRecord) -> None:
        """Start from an earlier attempt's model calls (a job handed back at a restart or parked for a rate
        limit), so that the job's record shows all it paid for, not only its last attempt."""
        for call in earlier.model_calls:
            self._keep("model_calls", self._model_calls, MAX_MODEL_CALLS, call)
        with self._lock:
            self._dropped["model_calls"] += earlier.dropped_model_calls

    @property
    def paid_models(self) -> bool:
        """Whether this attempt has sent anything to a model (a failed call may be billed too)."""
        with self._lock:
            return self._model_requests > 0 or self._model_answers > 0

    def model_call(
        self,
        *,
        model: str,
        role: str = "other",
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost_usd: float = 0.0,
        latency_s: float = 0.0,
        retries: int = 0,
        mode: str = "text",
        repairs: tuple[str, ...] | list[str] = (),
        fallback: bool = False,
        started_at: float | None = None,
        served_by_fallback: bool = False,
    ) -> ModelCall:
        call = ModelCall(
            model=model,
            role=role if role in ROLES else "other",
            tokens_in=int(tokens_in),
            tokens_out=int(tokens_out),
            cost_usd=float(cost_usd),
            latency_s=max(0.0, float(latency_s)),
            retries=int(retries),
            mode=mode,
            repairs=tuple(repairs),
            fallback=bool(fallback),
            started_at=self._clock() - latency_s if started_at is None else started_at,
            served_by_fallback=bool(served_by_fallback),
        )
        with self._lock:
            self._model_answers += 1
            self._cost_usd += call.cost_usd
        self._keep("model_calls", self._model_calls, MAX_MODEL_CALLS, call)
        _tell("model_call", call)
        return call

    def note_repairs(self, kinds: list[str] | tuple[str, ...], *, fallback: bool = False) -> ModelCall | None:
        """The interpretation layer's repairs of the latest model call's reply (and whether it fell back)."""
        if not kinds and not fallback:
            return None
        with self._lock:
            if not self._model_calls:
                return None
            last = self._model_calls[-1]
            last = replace(last, repairs=last.repairs + tuple(kinds), fallback=last.fallback or fallback)
            self._model_calls[-1] = last
        _tell("repairs", (last, tuple(kinds), fallback))
        return last

    def github_call(
        self,
        *,
        method: str,
        route: str,
        status: int,
        rate_remaining: int | None = None,
        latency_s: float = 0.0,
        started_at: float | None = None,
    ) -> GitHubCall:
        call = GitHubCall(
            method=method.upper(),
            route=route_template(route),
            status=int(status),
            rate_remaining=rate_remaining,
            latency_s=max(0.0, float(latency_s)),
            started_at=self._clock() - latency_s if started_at is None else started_at,
        )
        self._keep("github_calls", self._github_calls, MAX_GITHUB_CALLS, call)
        _tell("github_call", call)
        return call

    def outcome(self, value: Outcome | None = None, **changes: Any) -> Outcome:
        """Set the outcome, or change some of its fields (each part of the engine knows its own part)."""
        with self._lock:
            base = value if value is not None else (self._outcome or Outcome())
            self._outcome = replace(base, **changes) if changes else base
            return self._outcome

    def record(self) -> JobRecord:
        """The record so far; the outcome's cost table and repair counts filled in from the model calls
        when the engine did not set them."""
        with self._lock:
            calls = list(self._model_calls)
            out = self._outcome
            if out is not None:
                if not out.cost_by_model_role:
                    out = replace(out, cost_by_model_role=cost_table(calls))
                if not out.repairs:
                    out = replace(out, repairs=repair_counts(calls))
            return JobRecord(
                job_id=self.job_id,
                phases=list(self._phases),
                model_calls=calls,
                github_calls=list(self._github_calls),
                outcome=out,
                dropped_phases=self._dropped["phases"],
                dropped_model_calls=self._dropped["model_calls"],
                dropped_github_calls=self._dropped["github_calls"],
            )

    def _keep(self, kind: str, into: list[Any], limit: int, item: Any) -> None:
        with self._lock:
            if len(into) < limit:
                into.append(item)
            else:
                self._dropped[kind] += 1


def _tell(kind: str, item: Any) -> None:
    for listener in list(_listeners):
        try:
            listener(kind, item)
        except Exception:  # metrics must never break a job
            log.exception("a monitor listener failed on a %s", kind)


def cost_table(calls: list[ModelCall]) -> list[CostLine]:
    """Cost and tokens per (model, role), most expensive first."""
    table: dict[tuple[str, str], CostLine] = {}
    for c in calls:
        line = table.setdefault(
            (c.model, c.role), {"model": c.model, "role": c.role, "cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0}
        )
        line["cost_usd"] += c.cost_usd
        line["tokens_in"] += c.tokens_in
        line["tokens_out"] += c.tokens_out
    return sorted(table.values(), key=lambda line: (-line["cost_usd"], line["model"], line["role"]))


def repair_counts(calls: list[ModelCall]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in calls:
        for kind in c.repairs:
            counts[kind] = counts.get(kind, 0) + 1
    return counts
