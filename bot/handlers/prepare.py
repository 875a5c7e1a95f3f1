"""What a GitHub job runs with: the worker's environment, the repository's configuration with the command's
flags applied (and this month's spending), the models, and the agent with its checkout's tools."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr.agent.asker import Calls
from equitr.agent.ledger import Guard, Ledger
from equitr.agent.loop import Agent, Event
from equitr.config.fetch import fetch_config
from equitr.config.flags import EffectiveSettings, month_start, resolve_flags
from equitr.config.repo import RepoConfig
from equitr.config.settings import Settings
from equitr.github.access import GitHubAccess
from equitr.github.permissions import Permissions
from equitr.jobs.runner import JobContext
from equitr.models.client import ModelClient
from equitr.models.manager import ModelManager, choose_model
from equitr.models.provider import ChatModel, Endpoints
from equitr.sandbox.quota import DiskQuota
from equitr.sandbox.workspace import Checkout
from equitr.tools.base import ToolContext

ModelFactory = Callable[[aiohttp.ClientSession, EffectiveSettings], ChatModel]


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


def month_spent(ctx: JobContext, *, fork_reviews: bool = False) -> float:
    """This month's spending of the repository's other jobs: automatic reviews of fork pull requests, which
    have their own budget (`review.forks_per_month_usd`), when `fork_reviews`, else everything else."""
    start = month_start()
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


def calls_for(
    session: aiohttp.ClientSession, p: Prepared, env: WorkEnv, ledger: Ledger, *, max_output_tokens: int | None = None
) -> Calls:
    """Single model calls of one GitHub job (explain, review), within its budget and limits."""
    return Calls(
        env.model(session, p.effective),
        supervisor=p.supervisor,
        worker=p.worker,
        guard=Guard(p.effective.limits(), ledger),
        ledger=ledger,
        max_output_tokens=max_output_tokens,
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
