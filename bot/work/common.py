"""What every GitHub job handler shares: its environment, the repository's configuration with the command's
flags applied, the status comment, formatted errors, the task text, and cancellation across threads."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from gidgethub.abc import GitHubAPI

from bot import comments
from bot.agent.loop import Agent, Event
from bot.commands import USAGE, Command
from bot.errorfmt import ErrorContext, format_error
from bot.errors import BudgetExceeded, EquitrError, GitHubError
from bot.github.access import GitHubAccess
from bot.models.client import ChatModel, Endpoints, ModelClient
from bot.models.manager import ModelManager, choose_model
from bot.repoconfig import EffectiveSettings, RepoConfig, fetch_config, resolve_flags
from bot.runner import Handler, JobContext, Outcome
from bot.sandbox.context import ToolContext
from bot.sandbox.quota import DiskQuota
from bot.sandbox.workspace import Checkout
from bot.settings import Settings
from bot.work.render import Status, status_body

log = logging.getLogger(__name__)

T = TypeVar("T")
ModelFactory = Callable[[aiohttp.ClientSession, EffectiveSettings], ChatModel]
AUTHOR = "equitr <equitr@users.noreply.github.com>"
STATUS_EVERY_S = 2.0


@dataclass(slots=True)
class WorkEnv:
    """What every GitHub job handler needs, built once per worker process."""

    settings: Settings
    access: GitHubAccess
    model_factory: ModelFactory | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "equitr-work")

    def model(self, session: aiohttp.ClientSession, effective: EffectiveSettings) -> ChatModel:
        if self.model_factory is not None:
            return self.model_factory(session, effective)
        return ModelClient(session, Endpoints.from_settings(self.settings), fallback_model=effective.fallback_model)


@dataclass(slots=True)
class Prepared:
    gh: GitHubAPI
    repo: dict[str, Any]
    config: RepoConfig
    effective: EffectiveSettings
    supervisor: str
    worker: str


# -- shared steps ------------------------------------------------------------------------------------------


def month_spent(ctx: JobContext) -> float:
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return sum(
        j.cost_usd
        for j in ctx.store.jobs(repo=ctx.job.repo, limit=10_000)
        if j.created_at >= start and j.id != ctx.job.id
    )


def agent_for(
    session: aiohttp.ClientSession,
    p: Prepared,
    env: WorkEnv,
    tools: ToolContext,
    on_event: Callable[[Event], None] | None = None,
) -> Agent:
    """The agent of one GitHub job: its models, limits and checkout, as `prepare` resolved them."""
    return Agent(
        model=env.model(session, p.effective),
        supervisor=p.supervisor,
        worker=p.worker,
        tools=tools,
        limits=p.effective.limits(),
        on_event=on_event,
    )


async def prepare(ctx: JobContext, env: WorkEnv) -> Prepared:
    gh = await ctx.github()
    repo = await gh.getitem(f"/repos/{ctx.job.repo}")
    config = await fetch_config(gh, ctx.job.repo, str(repo["default_branch"]))
    args = ctx.job.args
    spent = await asyncio.to_thread(month_spent, ctx)
    effective = resolve_flags(
        config,
        budget_usd=args.get("budget_usd"),
        model=args.get("model"),
        worker_model=args.get("worker_model"),
        month_spent_usd=spent,
    )
    supervisor, _ = choose_model(effective.supervisor_model or env.settings.supervisor_model)
    worker = effective.worker_model or env.settings.worker_model or supervisor
    manager = ModelManager()
    for name in {supervisor, worker}:
        manager.validate_model(name)
    return Prepared(gh, dict(repo), config, effective, supervisor, worker)


class StatusComment:
    """The job's one status comment, edited in place; throttled so a fast loop doesn't flood GitHub."""

    def __init__(self, gh: GitHubAPI, ctx: JobContext, status: Status) -> None:
        self.gh = gh
        self.ctx = ctx
        self.status = status
        self.comment_id: int | None = None
        self._last = 0.0
        self._last_phase = ""
        self._editing: asyncio.Lock | None = None

    async def show(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.status.phase == self._last_phase and now - self._last < STATUS_EVERY_S:
            return
        self._last, self._last_phase = now, self.status.phase
        # One edit at a time, each rendering the status as it is when sent: the last edit shows the end.
        self._editing = self._editing or asyncio.Lock()
        async with self._editing:
            made = await comments.upsert(
                self.gh,
                self.ctx.job.repo,
                self.ctx.job.number,
                "status",
                self.ctx.job.id,
                status_body(self.status),
                comment_id=self.comment_id,
            )
            self.comment_id = int(made["id"])

    def on_event(self, event: Event) -> None:
        phase = {
            "planning": "planning",
            "plan": "working",
            "step": "working",
            "worker": "working",
            "testing": "testing",
            "review": "reviewing",
        }.get(event.kind)
        if phase:
            self.status.phase = phase
        if event.kind == "plan":
            self.status.plan = list(event.data.get("steps", []))
            self.status.steps_done = 0
        elif event.kind == "step":
            self.status.steps_done = int(event.data.get("step", 0))
        self.status.detail = event.message
        asyncio.get_running_loop().create_task(self._quietly())

    async def _quietly(self) -> None:
        try:
            await self.show()
        except (EquitrError, aiohttp.ClientError) as exc:  # progress is best effort; the final update is not
            log.warning("status update for job %s failed: %s", self.ctx.job.id, exc)


async def report_error(ctx: JobContext, error: BaseException, *, context: ErrorContext | None = None) -> None:
    gh = await ctx.github()
    body = format_error(error, job_id=ctx.job.id, context=context)
    await comments.upsert(gh, ctx.job.repo, ctx.job.number, "error", ctx.job.id, body)


def error_context(
    ctx: JobContext, kind: str, error: BaseException | None = None, *, docs_url: str | None = None
) -> ErrorContext:
    args = ctx.job.args
    command = Command(
        name=kind if kind in USAGE else "fix",  # type: ignore[arg-type]
        text=str(args.get("text") or ""),
        budget_usd=args.get("budget_usd"),
        model=args.get("model"),
        worker_model=args.get("worker_model"),
    )
    spent = error.spent_usd if isinstance(error, BudgetExceeded) else None
    return ErrorContext.from_command(command, repo=ctx.job.repo, spent_usd=spent, docs_url=docs_url)


def guarded(kind: str, body: Callable[[JobContext], Awaitable[Outcome]], *, docs_url: str | None = None) -> Handler:
    """Every EquitrError becomes a formatted error comment and a failed job, never a traceback."""

    async def handle(ctx: JobContext) -> Outcome:
        try:
            return await body(ctx)
        except EquitrError as exc:
            try:
                await report_error(ctx, exc, context=error_context(ctx, kind, exc, docs_url=docs_url))
            except (EquitrError, aiohttp.ClientError) as again:
                log.warning("could not post the error for job %s: %s", ctx.job.id, again)
            return Outcome("failed", exc.message)

    return handle


def issue_task(issue: dict[str, Any], thread: list[dict[str, Any]], instructions: str) -> str:
    """The request the agent works on: the issue as it was when the command came, and the instructions."""
    parts = [f"Issue #{issue.get('number')}: {issue.get('title', '')}", "", str(issue.get("body") or "").strip()]
    for c in thread:
        body = str(c.get("body") or "")
        if "<!-- equitr:" in body or body.lstrip().startswith("/equitr"):
            continue
        parts += ["", f"Comment by @{(c.get('user') or {}).get('login', '?')}:", body.strip()[:2000]]
    if instructions.strip():
        parts += ["", f"Instructions from the maintainer: {instructions.strip()}"]
    return "\n".join(parts).strip()


async def thread_at_trigger(gh: GitHubAPI, ctx: JobContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    issue = dict(await gh.getitem(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}"))
    for key, field_name in (("title", "title"), ("body", "issue_body")):
        if ctx.job.args.get(field_name):  # as delivered with the event, before any later edit
            issue[key] = ctx.job.args[field_name]
    thread: list[dict[str, Any]] = []
    cutoff = ctx.job.comment_id
    async for c in gh.getiter(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}/comments?per_page=100"):
        # Comments are numbered in order: what came after the command is not part of the request.
        if cutoff is not None and int(c["id"]) >= cutoff:
            break
        thread.append(dict(c))
    return issue, thread[-20:]


def tool_context(checkout: Checkout, env: WorkEnv, effective: EffectiveSettings) -> ToolContext:
    from bot.agent.testcmd import detect

    return ToolContext(
        root=checkout.root,
        sandbox_mode=env.settings.sandbox,
        test_command=effective.test_command or detect(checkout.root),
        setup_command=effective.setup_command,
        policy=effective.write_policy(),
        disk=DiskQuota(limit_bytes=effective.max_disk_mb * 1024**2),
    )


async def remote_sha(gh: GitHubAPI, repo: str, branch: str) -> str:
    try:
        ref = await gh.getitem(f"/repos/{repo}/git/ref/heads/{urllib.parse.quote(branch)}")
    except GitHubError as exc:
        if exc.status == 404:
            return ""
        raise
    return str(ref["object"]["sha"])


class Stopper:
    """Cancellation across threads: the job's loop cancels the agent's task in the agent's own loop."""

    def __init__(self) -> None:
        self.cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def run(self, coro: Awaitable[T]) -> T:
        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            if self.cancelled:
                raise asyncio.CancelledError
            return await coro

        return asyncio.run(main())

    def cancel(self) -> None:
        self.cancelled = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


def forward_to(loop: asyncio.AbstractEventLoop, shown: StatusComment) -> Callable[[Event], None]:
    """Progress events come from the agent's loop (in a thread); the comment belongs to the job's loop."""

    def forward(event: Event) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(shown.on_event, event)

    return forward
