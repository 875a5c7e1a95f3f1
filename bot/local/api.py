"""equitr's Python API: the jobs people script, typed, without GitHub.

    import equitr

    result = await equitr.fix("path/to/repo", "mean() is off by one; fix it", model="openai/gpt-4.1-mini")
    print(result.status, result.branch)      # "accepted", "equitr/mean-is-off-by-one-fix-it"
    print(result.diff)
    print(result.cost_table())

Every function that runs the agent works on a **copy** of the repository: a fresh checkout of the commit its
`HEAD` is on, with that commit's `.equitr.toml` (arguments override it within its bounds). The caller's
working tree, index and current branch are never touched; `fix` hands an accepted change back as a new
branch `equitr/<slug>` (`-2`, `-3`, … when taken: an existing branch is never moved).

Progress: pass `on_event=callback` (called with each `Event`, in order), or iterate over
`stream(fix, repo, task, ...)`. Scripts without an event loop use the `equitr.sync` namespace
(`equitr.sync.fix(...)`), which has the same functions.

Settings (model providers' keys, `EQUITR_WORKDIR`, `EQUITR_SANDBOX` …) come from the environment as for the
command line, or from `settings=`. Errors are `equitr.errors.EquitrError` subclasses with a `message` and a
`hint` written for people: an unknown model name, a repository without commits, a bad `.equitr.toml`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ForwardRef, Generic, Literal, ParamSpec, TypedDict, TypeVar, Unpack

import aiohttp

from equitr.agent.asker import Calls, Exchange
from equitr.agent.ledger import Guard, Ledger, Row
from equitr.agent.loop import Agent, AgentResult, Entry, Event, Task, TestRun
from equitr.agent.report import cost_text, repairs_line
from equitr.agent.testcmd import detect
from equitr.config.flags import EffectiveSettings, resolve_flags
from equitr.config.problems import FILENAME
from equitr.config.repo import STRATEGIES, Strategy, load_default
from equitr.config.settings import Settings
from equitr.config.settings import load as load_settings
from equitr.errors import ConfigError, EquitrError
from equitr.events.commands import MAX_BUDGET_USD
from equitr.handlers import diffmap, reviewing
from equitr.handlers.record import record_result
from equitr.interpret import interpret as _interpret
from equitr.interpret.result import Interpretation, describe
from equitr.local import repo as localrepo
from equitr.models.client import ModelClient
from equitr.models.manager import ModelManager, choose_model
from equitr.models.provider import ChatModel, Endpoints
from equitr.models.types import Reply
from equitr.sandbox import binaries
from equitr.sandbox.policy import BRANCH_PREFIX
from equitr.sandbox.quota import DiskQuota
from equitr.sandbox.workspace import Checkout, Workspace
from equitr.text.money import usd
from equitr.tools.base import ToolContext
from equitr.tools.registry import Step

__all__ = [
    "AskResult",
    "Cost",
    "Entry",
    "Event",
    "EventStream",
    "Exchange",
    "FixOptions",
    "FixResult",
    "Interpretation",
    "Options",
    "PlanResult",
    "Repairs",
    "ReviewComment",
    "ReviewResult",
    "Row",
    "Status",
    "Strategy",
    "TestRun",
    "ask",
    "fix",
    "interpret",
    "plan",
    "review",
    "stream",
]

Status = Literal["accepted", "stopped", "failed"]
# Strategy: how the supervisor works: a plan executed step by step (small models), native tool calls one at a
# time (models whose server supports function calling), or `auto`, chosen by the model's capabilities.
OnEvent = Callable[[Event], None]


# -- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repairs:
    """What the interpretation layer had to repair in the models' replies."""

    counts: dict[str, int]  # repair kind → how often
    fallback_plans: int  # plans replaced by the keyword fallback
    reasks: int  # replies asked again with the precise error

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return repairs_line(_ledger_of(self))


@dataclass(frozen=True, slots=True)
class Cost:
    """What a run cost: one row per model and role (supervisor, worker), and the total in US dollars."""

    rows: tuple[Row, ...]
    total_usd: float
    budget_usd: float | None
    ledger: Ledger = field(repr=False, compare=False)

    def table(self) -> str:
        """The cost table as `equitr run` prints it, with the budget and the repairs line."""
        return cost_text(self.ledger, budget_usd=self.budget_usd)


@dataclass(frozen=True, slots=True)
class _Run:
    """What every agent run reports."""

    status: Status
    reason: str
    hint: str
    cost: Cost
    repairs: Repairs
    trajectory: tuple[Entry, ...]
    supervisor_model: str
    worker_model: str
    commit: str  # the commit of the repository the copy was made from
    error: EquitrError | None  # what stopped the run (budget, a limit, the model), when something did
    strategy: str  # how the supervisor worked: "plan" (plan, then execute) or "tools" (native tool calls)
    transcript: tuple[Exchange, ...] = field(repr=False)  # every model call: the messages sent and the reply

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def cost_table(self) -> str:
        return self.cost.table()


@dataclass(frozen=True, slots=True)
class FixResult(_Run):
    """The outcome of `fix`. `branch` is set when a change was accepted and handed back to the repository."""

    branch: str | None = None
    branches_taken: tuple[str, ...] = ()  # names tried first that existed already (never moved)
    diff: str = ""
    tests_before: TestRun | None = None
    tests_after: TestRun | None = None
    test_command: str = ""
    setup: str = ""  # the repository's setup command and how it went, when it has one
    nothing_to_change: bool = False  # the tests passed and no step found anything to change
    plan: tuple[Step, ...] = ()
    iterations: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.diff.strip())


@dataclass(frozen=True, slots=True)
class PlanResult(_Run):
    """The outcome of `plan`: the steps the supervisor would take; nothing was changed."""

    steps: tuple[Step, ...] = ()
    fallback: bool = False  # the model's plan could not be used; these steps are the keyword fallback

    def describe(self) -> list[str]:
        return [_describe(step) for step in self.steps]


@dataclass(frozen=True, slots=True)
class AskResult(_Run):
    """The outcome of `ask`: the supervisor's answer, from what read-only tools found in the repository."""

    answer: str = ""


@dataclass(frozen=True, slots=True)
class ReviewComment:
    path: str
    line: int  # a line of the new file that is in the diff
    body: str


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """The outcome of `review`: a summary, inline comments on diff lines, and what it cost."""

    summary: str
    comments: tuple[ReviewComment, ...]
    files: tuple[str, ...]  # the files reviewed
    skipped: tuple[str, ...]  # files not reviewed: binary, removed, or over `max_files`
    dropped: int  # comments the model proposed on lines outside the diff
    cost: Cost

    def cost_table(self) -> str:
        return self.cost.table()


# -- the functions -----------------------------------------------------------------------------------------


class Options(TypedDict, total=False):
    """The keywords of `plan` and `ask`; each may be left out (`None` and left out mean the same)."""

    model: str | None
    worker_model: str | None
    budget_usd: float | None
    strategy: Strategy | None
    on_event: OnEvent | None
    settings: Settings | None
    chat_model: ChatModel | None


class FixOptions(Options, total=False):
    """The keywords of `fix`: those of `plan` and `ask`, and what only a run that changes and tests takes."""

    test_command: str | None
    setup_command: str | None
    max_iterations: int | None
    transcript: list[Exchange] | None


P = ParamSpec("P")
R = TypeVar("R")


def _keywords(options: type) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """`**options` (the TypedDict `options`) spelled out at run time as type checkers see it: `help()` and
    `inspect.signature` show each keyword, and one the function does not take is a TypeError, also in code no
    type checker reads."""

    def spell_out(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        *named, _ = inspect.signature(fn).parameters.values()
        keywords = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=kind.__forward_arg__ if isinstance(kind, ForwardRef) else kind,
            )
            for name, kind in options.__annotations__.items()
        ]
        signature = inspect.signature(fn).replace(parameters=[*named, *keywords])

        @functools.wraps(fn)
        async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            signature.bind(*args, **kwargs)
            return await fn(*args, **kwargs)

        checked.__signature__ = signature  # type: ignore[attr-defined]
        return checked

    return spell_out


@_keywords(FixOptions)
async def fix(repo_path: str | Path, task: str, **options: Unpack[FixOptions]) -> FixResult:
    """Change the repository at `repo_path` so that `task` is done, and test it; on a copy.

    Args:
        repo_path: a git repository with at least one commit; the copy is made from its `HEAD`.
        task: what to do, in words (an issue's text).

    Keyword Args:
        model: the supervisor model, `provider/name` (default: `.equitr.toml`, then `EQUITR_SUPERVISOR_MODEL`).
        worker_model: the model that carries out steps (default: `.equitr.toml`, then the supervisor).
        budget_usd: the most this run may spend (default: `budget.per_job_usd` of `.equitr.toml`).
        strategy: `plan`, `tools` or `auto` (default: `models.strategy` of `.equitr.toml`).
        test_command: overrides `fix.test_command` (default: detected from the repository).
        setup_command: overrides `fix.setup_command`, run once in the sandbox before the first tests.
        max_iterations: plan–execute–test–review rounds (default: `limits.max_iterations`).
        on_event: called with each progress `Event`, in order (`kind` "info", "planning", "plan", "step",
            "worker", "testing", "review", "done").
        settings: equitr's settings (default: read from the environment).
        chat_model: a model client to use instead of the one the settings make (tests pass a scripted one).
        transcript: a list that receives every model call as it is made (`Exchange`: the messages sent and
            the reply), also when the run raises; `FixResult.transcript` has them too.

    Returns:
        The outcome: `status` ("accepted", "stopped" or "failed") and why, the `branch` made in the
        repository when a change was accepted, the diff, the tests before and after, the cost per model and
        role, the interpretation layer's repairs and the trajectory.

    Raises:
        ConfigError: `repo_path` is not a git repository or has no commits, a model name is unknown, or
            `.equitr.toml` is invalid (`RepoConfigError`); each with a `hint`.
    """
    async with _copy(repo_path, tests=True, **options) as job:
        result = await job.agent.run(Task(task, mode="fix"))
        record_result(result)  # for the monitor's record, when one is running (`equitr run` with EQUITR_DB)
        branch: str | None = None
        taken: list[str] = []
        if result.status == "accepted" and result.changed:
            wanted = f"{BRANCH_PREFIX}{localrepo.slug(task)}"
            await job.checkout.create_branch_async(wanted)
            await job.checkout.commit_staged_async(f"{task.strip()[:72]}\n\nMade by equitr.")
            branch, taken = localrepo.hand_over(job.checkout, job.repo, wanted)
    return FixResult(
        **_run_fields(job, result),
        branch=branch,
        branches_taken=tuple(taken),
        diff=result.diff,
        tests_before=result.tests_before,
        tests_after=result.tests_after,
        test_command=result.test_command,
        setup=result.setup,
        nothing_to_change=result.nothing_to_change,
        plan=tuple(result.plan),
        iterations=result.iterations,
    )


@_keywords(Options)
async def plan(repo_path: str | Path, task: str, **options: Unpack[Options]) -> PlanResult:
    """The plan the supervisor would follow for `task`, with read-only tools on a copy; nothing is changed.

    Arguments as for `fix`. Returns the steps, whether they are the keyword fallback plan, and the cost."""
    async with _copy(repo_path, **options) as job:
        result = await job.agent.run(Task(task, mode="plan"))
    return PlanResult(
        **_run_fields(job, result), steps=tuple(result.plan), fallback=job.agent.ledger.fallbacks > 0
    )


@_keywords(Options)
async def ask(repo_path: str | Path, question: str, **options: Unpack[Options]) -> AskResult:
    """An answer to `question` about the repository, from what read-only tools find in a copy of it.

    Arguments as for `fix`. `answer` is empty when the run stopped before answering (see `status`)."""
    async with _copy(repo_path, **options) as job:
        answer, result = await job.agent.answer(question)
    return AskResult(**_run_fields(job, result), answer=answer)


def interpret(reply: str | Reply, *, request: str, model: str = "") -> Interpretation:
    """Read a raw model reply as the planner does: the validated plan, with every repair made.

    Args:
        reply: the model's text (prose around JSON, `<think>` blocks, truncated JSON … are all read) or a `Reply`.
        request: what the plan is for; used to check the plan is relevant and for the keyword fallback.
        model: the model's name, for the record.

    Returns:
        `steps`, `repairs` (each with its kind), `fallback` (the reply could not be used: the steps are the
        keyword fallback plan) and `errors` (what a re-ask would tell the model). Never raises.
    """
    return _interpret(reply, request=request, model=model)


async def review(
    diff_or_repo: str | Path,
    *,
    base: str = "HEAD",
    title: str = "",
    description: str = "",
    model: str | None = None,
    worker_model: str | None = None,
    budget_usd: float | None = None,
    max_files: int = 20,
    max_patch_lines: int = 400,
    settings: Settings | None = None,
    chat_model: ChatModel | None = None,
) -> ReviewResult:
    """Review a change as `/equitr review` reviews a pull request: a summary and inline comments.

    Args:
        diff_or_repo: a unified diff (`git diff` output, as a `str`), or the `Path` of a git repository whose
            changes against `base` are reviewed (its working tree, read only).
        base: with a repository: what to compare with (`HEAD`: the uncommitted changes; `main`: everything
            since the branch left main).
        title, description: what the change says it does, for the summary.
        model: the model that writes the summary (supervisor); `worker_model` reviews each file.
        budget_usd, max_files, max_patch_lines: limits, as `budget.per_job_usd` and the `review.` keys.
        settings, chat_model: as for `fix`.
    """
    settings = settings or load_settings()
    diff = _diff_of(diff_or_repo, base) if isinstance(diff_or_repo, Path) else diff_or_repo
    effective = resolve_flags(load_default(), budget_usd=budget_usd, model=model, worker_model=worker_model)
    supervisor, worker = _models(effective, settings)
    files = split_diff(diff)
    reviewable = [(path, patch) for path, patch in files if patch]
    chosen = reviewable[:max_files]
    skipped = tuple(path for path, patch in files if not patch) + tuple(path for path, _ in reviewable[max_files:])
    views = [(path, patch, diffmap.numbered(patch, max_lines=max_patch_lines)[0]) for path, patch in chosen]
    ledger = Ledger()
    async with aiohttp.ClientSession() as session:
        calls = Calls(
            chat_model or ModelClient(session, Endpoints.from_settings(settings)),
            supervisor=supervisor,
            worker=worker,
            guard=Guard(effective.limits(), ledger),
            ledger=ledger,
        )
        summary_reply = await calls.ask(
            "supervisor",
            reviewing.summary_messages(
                title=title,
                body=description,
                files=[path for path, _ in chosen],
                diff="\n\n".join(view for *_, view in views)[:12_000],
            ),
            purpose="review summary",
        )
        comments: list[ReviewComment] = []
        dropped = 0
        for path, patch, view in views:
            reply = await calls.ask(
                "worker", reviewing.file_messages(path=path, numbered_patch=view, title=title), purpose=f"review {path}"
            )
            text = reply.content or reply.thinking
            kept, lost = reviewing.parse_comments(text, path=path, valid=diffmap.lines(patch))
            comments += [ReviewComment(c.path, c.line, c.body) for c in kept]
            dropped += lost
    return ReviewResult(
        summary=(summary_reply.content or summary_reply.thinking).strip(),
        comments=tuple(comments),
        files=tuple(p for p, _ in chosen),
        skipped=skipped,
        dropped=dropped,
        cost=_cost(ledger, effective.budget_usd),
    )


# -- progress as an async iterator -------------------------------------------------------------------------


class EventStream(Generic[R]):
    """The events of one call, as an async iterator; `result` once the iteration ends.

        events = equitr.stream(equitr.fix, repo, "fix the crash", model="openai/gpt-4.1-mini")
        async for event in events:
            print(event.kind, event.message)
        print(events.result.branch)

    The call starts at the first iteration; an exception it raises is raised from the loop."""

    def __init__(self, start: Callable[[OnEvent], Awaitable[R]]) -> None:
        self._start = start
        self._result: R | None = None
        self._done = False

    @property
    def result(self) -> R:
        if not self._done:
            raise RuntimeError("the call has not finished: iterate over its events first")
        return self._result  # type: ignore[return-value]

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        task = asyncio.ensure_future(self._start(queue.put_nowait))
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                while not queue.empty():
                    yield queue.get_nowait()
                self._result, self._done = task.result(), True
                return
        finally:
            if not task.done():
                task.cancel()


def stream(fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> EventStream[R]:
    """`fn(*args, **kwargs)` (`fix`, `plan` or `ask`) with its progress as an async iterator of `Event`s."""
    if "on_event" in kwargs:
        raise TypeError("stream() passes its own on_event")

    def start(on_event: OnEvent) -> Awaitable[R]:
        return fn(*args, **{**kwargs, "on_event": on_event})  # type: ignore[arg-type]

    return EventStream(start)


# -- the copy the agent works on ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    repo: Path
    checkout: Checkout
    commit: str
    agent: Agent
    effective: EffectiveSettings
    supervisor: str
    worker: str


@asynccontextmanager
async def _copy(repo_path: str | Path, *, tests: bool = False, **options: Unpack[FixOptions]) -> AsyncIterator[_Job]:
    """A fresh checkout of the repository's HEAD with its `.equitr.toml` applied, and the agent for it;
    `tests`: the run tests the repository (`fix`), so say how."""
    settings = options.get("settings") or load_settings()
    emit = options.get("on_event") or _ignore
    budget_usd, strategy = options.get("budget_usd"), options.get("strategy")
    repo = Path(repo_path).expanduser().resolve()
    if not (repo / ".git").exists():
        raise ConfigError(f"{repo} is not a git repository.", hint="Pass a git checkout (git init; git commit).")
    if budget_usd is not None and not 0 < budget_usd <= MAX_BUDGET_USD:
        raise ConfigError(f"budget_usd must be more than 0 and at most {MAX_BUDGET_USD:g}, not {budget_usd}.")
    if strategy is not None and strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}, not {strategy!r}.")
    where = localrepo.current_branch(repo)
    workspace = Workspace(settings.workdir or Path(tempfile.gettempdir()) / "equitr-work")
    async with workspace.checkout(f"local/{repo.name}", str(repo)) as checkout:
        head = localrepo.check_out_head(checkout, repo)
        config = localrepo.read_config(checkout.root, head)
        effective = resolve_flags(
            config or load_default(),
            budget_usd=budget_usd,
            model=options.get("model"),
            worker_model=options.get("worker_model"),
        )
        supervisor, worker = _models(effective, settings, emit)
        emit(Event("info", f"supervisor: {supervisor}   worker: {worker}   budget: {usd(effective.budget_usd)}"))
        test_command, setup_command = options.get("test_command"), options.get("setup_command")
        command = test_command if test_command is not None else effective.test_command
        command = command or detect(checkout.root)
        setup = setup_command if setup_command is not None else effective.setup_command
        emit(
            Event(
                "info",
                f"working on a fresh checkout of {repo} at {head[:10]} ({where}; uncommitted changes are not included)",
            )
        )
        emit(
            Event(
                "info",
                f"configuration: {FILENAME} of that commit"
                if config is not None
                else f"configuration: defaults (no {FILENAME} in that commit)",
            )
        )
        if tests:
            emit(Event("info", f"test command: {command or '(none found; pass --test-command)'}"))
            emit(Event("info", f"sandbox: {binaries.sandbox_line(settings.sandbox)}"))
            if setup:
                emit(Event("info", f"setup command: {setup} (once, with the network, before the first test run)"))
        tools = ToolContext(
            root=checkout.root,
            sandbox_mode=settings.sandbox,
            test_command=command,
            setup_command=setup,
            setup_network=settings.setup_network,
            policy=effective.write_policy(),  # blocked paths and CI files, as the App enforces them
            disk=DiskQuota(limit_bytes=effective.max_disk_mb * 1024**2),
        )
        limits = effective.limits()
        if (max_iterations := options.get("max_iterations")) is not None:
            limits = dataclasses.replace(limits, max_iterations=max_iterations)
        async with aiohttp.ClientSession() as session:
            agent = Agent(
                model=options.get("chat_model") or ModelClient(session, Endpoints.from_settings(settings)),
                supervisor=supervisor,
                worker=worker,
                tools=tools,
                limits=limits,
                on_event=emit,
                strategy=strategy or effective.strategy,
                max_output_tokens=effective.max_output_tokens,
                timeout_s=settings.model_timeout_s,
            )
            if (transcript := options.get("transcript")) is not None:
                agent.calls.transcript = transcript  # filled as the calls happen, kept if the run raises
            yield _Job(repo, checkout, head, agent, effective, supervisor, worker)


def _models(effective: EffectiveSettings, settings: Settings, emit: OnEvent | None = None) -> tuple[str, str]:
    supervisor, embedded = choose_model(effective.supervisor_model or settings.supervisor_model)
    worker = effective.worker_model or settings.worker_model or supervisor
    manager = ModelManager()
    for name in {supervisor, worker}:
        manager.validate_model(name)  # ConfigError with the closest valid names
    if embedded and emit is not None:
        emit(
            Event(
                "info",
                f"No model configured: using the embedded local model {supervisor} (set EQUITR_SUPERVISOR_MODEL "
                "or --model to use another).",
            )
        )
    return supervisor, worker


def _run_fields(job: _Job, result: AgentResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "reason": result.reason,
        "hint": result.hint,
        "cost": _cost(result.ledger, job.effective.budget_usd),
        "repairs": Repairs(dict(result.ledger.repairs), result.ledger.fallbacks, result.ledger.reasks),
        "trajectory": tuple(result.trajectory),
        "supervisor_model": job.supervisor,
        "worker_model": job.worker,
        "commit": job.commit,
        "error": result.error,
        "strategy": result.strategy,
        "transcript": tuple(job.agent.calls.transcript),
    }


def _cost(ledger: Ledger, budget_usd: float | None) -> Cost:
    return Cost(tuple(ledger.rows()), ledger.total_usd, budget_usd, ledger)


def _ledger_of(repairs: Repairs) -> Ledger:
    ledger = Ledger()
    ledger.repairs.update(repairs.counts)
    ledger.fallbacks, ledger.reasks = repairs.fallback_plans, repairs.reasks
    return ledger


def _ignore(event: Event) -> None:
    pass


def _describe(step: Step) -> str:
    return describe(step)


# -- diffs -------------------------------------------------------------------------------------------------

_DIFF_HEADER = re.compile(r"^diff --git ", re.MULTILINE)


def split_diff(diff: str) -> list[tuple[str, str]]:
    """A unified diff as (path, patch) per file, the patch from its first hunk on, as GitHub's API gives
    `files[].patch`; "" for a binary or removed file (nothing to comment on)."""
    out: list[tuple[str, str]] = []
    chunks = _DIFF_HEADER.split(diff) if _DIFF_HEADER.search(diff) else [diff]
    for chunk in chunks:
        if not chunk.strip():
            continue
        lines = chunk.splitlines()
        path = next((line[6:] for line in lines if line.startswith("+++ b/")), "")
        if not path:
            removed = next((line[6:] for line in lines if line.startswith("--- a/")), "")
            header = re.match(r"a/(\S+) b/(\S+)", lines[0]) if lines else None
            out.append((removed or (header.group(2) if header else "?"), ""))
            continue
        start = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
        out.append((path, "\n".join(lines[start:])))
    return out


def _diff_of(repo: Path, base: str) -> str:
    from equitr.sandbox.gitsafe import run_git

    repo = repo.expanduser().resolve()
    if not (repo / ".git").exists():
        raise ConfigError(f"{repo} is not a git repository.", hint="Pass a git checkout, or the diff as text.")
    result = run_git(["diff", "--no-color", "--no-ext-diff", base, "--"], cwd=repo)
    if not result.ok:
        raise ConfigError(f"git diff {base} failed in {repo}: {result.stderr.strip()[:300]}")
    return result.stdout
