"""The job runner: claim a job, hold its lease, run the handler for its kind, record how it ended.

    run(job_id) → claim → [heartbeat ⟂ handler] → finish

Limits and cancellation are checked in one place (the heartbeat): a cancel request or a lost lease cancels
the handler's task; the job then ends `cancelled` (or is left to its new owner).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from gidgethub.abc import GitHubAPI

from bot.errors import EquitrError
from bot.github.scope import Scope, for_job
from bot.jobs import Job, State, needs_write_permission
from bot.permissions import Permissions
from bot.redact import redact
from bot.store import JobStore, is_stale

log = logging.getLogger(__name__)


class SessionGitHub(Protocol):
    """(session, installation id, scope of the token) → a GitHub client (`GitHubAccess.api`)."""

    def __call__(
        self, session: aiohttp.ClientSession, installation_id: int | None, /, *, scope: Scope | None = None
    ) -> Awaitable[GitHubAPI]: ...


@dataclass(slots=True)
class Outcome:
    state: State = "done"
    reason: str = ""
    cost_usd: float = 0.0


@dataclass(slots=True)
class JobContext:
    job: Job
    store: JobStore
    session: aiohttp.ClientSession
    _github: SessionGitHub
    extra: dict[str, Any] = field(default_factory=dict)
    _gh: GitHubAPI | None = None
    _gh_scope: Scope | None = None

    @property
    def scope(self) -> Scope:
        """What this job's token may do: its repository, and the permissions its kind needs."""
        return for_job(self.job.kind, self.job.repo)

    async def github(self) -> GitHubAPI:
        scope = self.scope  # `retry` changes the job's kind, and so its scope
        if self._gh is None or self._gh_scope != scope:
            self._gh = await self._github(self.session, self.job.installation_id, scope=scope)
            self._gh_scope = scope
        return self._gh


Handler = Callable[[JobContext], Awaitable[Outcome]]


class Runner:
    def __init__(
        self,
        *,
        store: JobStore,
        github: SessionGitHub,
        handlers: dict[str, Handler],
        owner: str,
        lease_s: float = 60.0,
        enqueue: Callable[[int], None] | None = None,
        permissions: Permissions | None = None,
    ) -> None:
        self.store = store
        self.github = github
        self.handlers = handlers
        self.owner = owner
        self.lease_s = lease_s
        self.enqueue = enqueue
        self.permissions = permissions or Permissions()

    # -- entry points for the queue (called in a worker thread) ------------------------------------

    def execute(self, job_id: int) -> None:
        asyncio.run(self.run(job_id))

    def notify(self, notice: dict[str, Any]) -> None:
        asyncio.run(self._notify(notice))

    def sweep(self) -> list[int]:
        """Re-enqueue jobs the queue may have lost (crashed worker, lost message). Safe to run anywhere:
        claiming is atomic, so a job enqueued twice still runs once."""
        import time

        now = time.time()
        again: list[int] = []
        for job in self.store.active():
            if not is_stale(job, now):
                continue
            if job.state == "running" and not self.store.requeue(job.id, job.owner):
                continue
            log.warning("job %s (%s) was %s with no live worker; queued again", job.id, job.kind, job.state)
            if self.enqueue is not None:
                self.enqueue(job.id)
            again.append(job.id)
        self.store.prune()
        return again

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, job_id: int) -> Outcome | None:
        job = await asyncio.to_thread(self.store.claim, job_id, self.owner, self.lease_s)
        if job is None:
            return None  # someone else has it, it was cancelled, or it already ended
        log.info("job %s (%s on %s#%s) started", job.id, job.kind, job.repo, job.number)
        async with aiohttp.ClientSession() as session:
            ctx = JobContext(job=job, store=self.store, session=session, _github=self.github)
            work = asyncio.create_task(self._handle(ctx))
            beat = asyncio.create_task(self._heartbeat(job, work))
            try:
                outcome = await work
            except asyncio.CancelledError:
                outcome = Outcome("cancelled", "cancelled on request")
            finally:
                beat.cancel()
        latest = await asyncio.to_thread(self.store.get, job.id)
        if latest is not None and latest.owner != self.owner:
            log.warning("job %s lost its lease while running; its new owner finishes it", job.id)
            return outcome
        await asyncio.to_thread(
            self.store.finish, job.id, self.owner, outcome.state, redact(outcome.reason), outcome.cost_usd
        )
        log.info("job %s ended %s %s", job.id, outcome.state, outcome.reason)
        return outcome

    async def _handle(self, ctx: JobContext) -> Outcome:
        handler = self.handlers.get(ctx.job.kind)
        if handler is None:
            return Outcome("failed", f"equitr does not know how to run a `{ctx.job.kind}` job.")
        try:
            if needs_write_permission(ctx.job):
                allowed = await self.permissions.allowed(await ctx.github(), ctx.job.repo, ctx.job.requester)
                if not allowed:
                    return Outcome("failed", f"@{ctx.job.requester} lacks write permission on {ctx.job.repo}.")
            return await handler(ctx)
        except asyncio.CancelledError:
            raise
        except EquitrError as exc:
            return Outcome("failed", exc.message)
        except Exception as exc:
            log.exception("job %s failed unexpectedly", ctx.job.id)
            return Outcome("failed", f"internal error ({type(exc).__name__}); the details are in equitr's log.")

    async def _heartbeat(self, job: Job, work: asyncio.Task[Outcome]) -> None:
        interval = max(self.lease_s / 3, 0.05)
        while not work.done():
            await asyncio.sleep(interval)
            latest = await asyncio.to_thread(self.store.heartbeat, job.id, self.owner, self.lease_s)
            if latest is None or latest.cancel_requested:
                work.cancel()
                return

    async def _notify(self, notice: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as session:
            scope = for_job("notice", str(notice["repo"]))  # one comment on one repository
            gh = await self.github(session, notice.get("installation_id"), scope=scope)
            await gh.post(
                f"/repos/{notice['repo']}/issues/{int(notice['number'])}/comments",
                data={"body": redact(str(notice["body"]))},
            )
