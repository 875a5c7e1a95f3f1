"""What every GitHub job handler shares: its environment, the repository's configuration with the command's
flags applied, the status comment and the task text. (How a job ends is
reported by the runner: the status comment's last edit and the formatted error, see `equitr.endings`.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr import comments
from equitr.agent.loop import Agent, Event
from equitr.config.fetch import fetch_config
from equitr.config.flags import EffectiveSettings, resolve_flags
from equitr.config.repo import RepoConfig
from equitr.config.settings import Settings
from equitr.errorfmt import public_text
from equitr.errors import EquitrError, GitHubError
from equitr.github.access import GitHubAccess
from equitr.models.client import ChatModel, Endpoints, ModelClient
from equitr.models.manager import ModelManager, choose_model
from equitr.permissions import Permissions
from equitr.runner import JobContext, Outcome
from equitr.sandbox.context import ToolContext
from equitr.sandbox.quota import DiskQuota
from equitr.sandbox.workspace import Checkout
from equitr.triggers import parse_time
from equitr.work.render import ICON, Status, status_body

log = logging.getLogger(__name__)

ModelFactory = Callable[[aiohttp.ClientSession, EffectiveSettings], ChatModel]
AUTHOR = "equitr <equitr@users.noreply.github.com>"
STATUS_EVERY_S = 2.0


@dataclass(slots=True)
class WorkEnv:
    """What every GitHub job handler needs, built once per worker process."""

    settings: Settings
    access: GitHubAccess
    model_factory: ModelFactory | None = None
    permissions: Permissions = field(default_factory=Permissions)
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


def month_spent(ctx: JobContext, *, fork_reviews: bool = False) -> float:
    """This month's spending of the repository's other jobs: automatic reviews of fork pull requests, which
    have their own budget (`review.forks_per_month_usd`), when `fork_reviews`, else everything else."""
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return sum(
        j.cost_usd
        for j in ctx.store.jobs(repo=ctx.job.repo, limit=None)
        if j.created_at >= start and j.id != ctx.job.id and is_fork_review(j.args) == fork_reviews
    )


def is_fork_review(args: dict[str, Any]) -> bool:
    return bool(args.get("auto") and args.get("fork"))


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
        max_output_tokens=p.effective.max_output_tokens,
        strategy=p.effective.strategy,
        timeout_s=env.settings.model_timeout_s,
    )


async def read_config(ctx: JobContext) -> tuple[dict[str, Any], RepoConfig]:
    """The repository, and its `.equitr.toml` from the default branch."""
    gh = await ctx.github()
    repo = dict(await gh.getitem(f"/repos/{ctx.job.repo}"))
    return repo, await fetch_config(gh, ctx.job.repo, str(repo["default_branch"]))


async def prepare(ctx: JobContext, env: WorkEnv, read: tuple[dict[str, Any], RepoConfig] | None = None) -> Prepared:
    """What the job runs with: configuration (`read`, when already read), flags applied within it, models."""
    gh = await ctx.github()
    repo, config = read or await read_config(ctx)
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
        self._shown = ""  # the text GitHub has
        self._ended = False
        self._editing = asyncio.Lock()
        self._updates: set[asyncio.Task[None]] = set()  # progress edits under way (held, or they could vanish)
        ctx.status = self  # the runner makes the last edit, whatever way the job ends

    async def show(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._ended or (not force and self.status.phase == self._last_phase and now - self._last < STATUS_EVERY_S):
            return
        self._last, self._last_phase = now, self.status.phase
        # One edit at a time, each rendering the status as it is when sent.
        async with self._editing:
            if self._ended:
                return
            body = status_body(self.status)
            made = await comments.upsert(
                self.gh,
                self.ctx.job.repo,
                self.ctx.job.number,
                "status",
                self.ctx.job.ref,
                body,
                author=self.ctx.identity,
                comment_id=self.comment_id,
            )
            self.comment_id, self._shown = int(made["id"]), body

    async def final(self, outcome: Outcome) -> str | None:
        """The last text of the comment, for the runner to post: no progress edit comes after it."""
        self._ended = True
        async with self._editing:  # an edit in flight lands first
            if self.status.phase not in ICON:  # the job ended without saying how: say it now
                self.status.phase = outcome.state
                self.status.detail = public_text(outcome.reason)
            body = status_body(self.status)
            return None if body == self._shown else body

    def on_event(self, event: Event) -> None:
        """A progress event of the agent (on the job's loop): the status follows it, its edit sent meanwhile."""
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
        update = asyncio.get_running_loop().create_task(self._quietly())
        self._updates.add(update)
        update.add_done_callback(self._updates.discard)

    async def _quietly(self) -> None:
        try:
            await self.show()
        except (EquitrError, aiohttp.ClientError) as exc:  # progress is best effort; the final update is not
            log.warning("status update for job %s failed: %s", self.ctx.job.id, exc)


MAX_ISSUE_CHARS = 8_000  # an outsider's 65 000-character issue would otherwise cost money on every job
MAX_COMMENT_CHARS = 2_000
EDITED = "(edited after the command; not shown)"


def issue_task(issue: dict[str, Any], thread: list[dict[str, Any]], instructions: str) -> str:
    """The request the agent works on: the issue as it was when the command came, and the instructions."""
    body = str(issue.get("body") or "").strip()
    if len(body) > MAX_ISSUE_CHARS:
        body = body[:MAX_ISSUE_CHARS] + f"\n\n(The issue text is cut here, at {MAX_ISSUE_CHARS:,} characters.)"
    parts = [f"Issue #{issue.get('number')}: {issue.get('title', '')}", "", body]
    for c in thread:
        body = str(c.get("body") or "")
        if "<!-- equitr:" in body or body.lstrip().startswith("/equitr"):
            continue
        parts += ["", f"Comment by @{(c.get('user') or {}).get('login', '?')}:", body.strip()[:MAX_COMMENT_CHARS]]
    if instructions.strip():
        parts += ["", f"Instructions from the maintainer: {instructions.strip()}"]
    return "\n".join(parts).strip()


async def thread_at_trigger(gh: GitHubAPI, ctx: JobContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    issue = dict(await gh.getitem(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}"))
    for key, field_name in (("title", "title"), ("body", "issue_body")):
        if ctx.job.args.get(field_name):  # as delivered with the event, before any later edit
            issue[key] = ctx.job.args[field_name]
    listed = [dict(c) async for c in gh.getiter(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}/comments?per_page=100")]
    thread = thread_until(listed, before_id=ctx.job.comment_id, trigger_at=parse_time(ctx.job.args.get("trigger_at")))
    return issue, thread[-20:]


def thread_until(
    comments: list[dict[str, Any]], *, before_id: int | None, trigger_at: dt.datetime | None
) -> list[dict[str, Any]]:
    """The comments as they stood when equitr was asked (the command's comment, or the trigger label).

    What came after is not part of the request: comments numbered from the command's on, and comments made
    after the trigger time. A comment edited after it is shown as EDITED, since only its new text is left.
    """
    kept: list[dict[str, Any]] = []
    for c in comments:
        if before_id is not None and int(c["id"]) >= before_id:
            break
        if trigger_at is not None:
            created, updated = parse_time(c.get("created_at")), parse_time(c.get("updated_at"))
            if created is None or created > trigger_at:
                break  # listed in the order they were made
            if updated is None or updated > trigger_at:
                c = {**c, "body": EDITED}
        kept.append(c)
    return kept


def tool_context(checkout: Checkout, env: WorkEnv, effective: EffectiveSettings) -> ToolContext:
    from equitr.agent.testcmd import detect

    return ToolContext(
        root=checkout.root,
        sandbox_mode=env.settings.sandbox,
        test_command=effective.test_command or detect(checkout.root),
        setup_command=effective.setup_command,
        setup_network=env.settings.setup_network,
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
