"""From a verified webhook delivery to a durably stored, queued job — the same path for the server,
`equitr replay` and tests.

Order matters: dedupe first (cheap, no GitHub call), then the pure decisions of the feature routers, then
the permission check (one cached GitHub call, given at most `GITHUB_DEADLINE_S` in all, after which the worker
checks instead: the answer never waits on GitHub), then one transaction that stores the job together with its
dedupe keys, and only then the 202.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from gidgethub import GitHubException, sansio
from gidgethub.abc import GitHubAPI

from equitr.config.fetch import ConfigCache
from equitr.errors import EquitrError, MalformedPayload
from equitr.events import router
from equitr.events.commands import COMMANDS
from equitr.events.context import Routed
from equitr.events.decisions import Fields, Identity, Ignored, Installation, Notice, Trigger
from equitr.github.permissions import Permissions
from equitr.jobs.model import Job, NewJob
from equitr.jobs.queue import MessageRow, Queue
from equitr.jobs.store import JobStore
from equitr.jobs.store.rules import DEDUPE_TTL_S

log = logging.getLogger(__name__)

GitHubFactory = Callable[[int | None], Awaitable[GitHubAPI]]

DEFAULT_LABEL = "equitr"
GITHUB_DEADLINE_S = 0.8  # all GitHub calls made while a delivery waits for its answer, retries included
ACK_DEADLINE_S = 10.0  # the 👀 reaction, after the answer: best effort
REFUSAL = (
    "@{user} thanks for trying equitr! Only people with **write**, **maintain** or **admin** permission "
    "on this repository can start equitr work here, so I have not acted on this. A maintainer can run the "
    "command for you. (I will not repeat this note on this {thing}.)"
)


@dataclass(slots=True)
class Outcome:
    status: int
    message: str
    job_ids: list[int] = field(default_factory=list)
    # (repo, comment id, installation) of triggering comments to answer with 👀 once the response is sent.
    acks: list[tuple[str, int, int | None]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.message, "jobs": self.job_ids}


class Dispatcher:
    def __init__(
        self,
        *,
        store: JobStore,
        queue: Queue,
        github: GitHubFactory,
        permissions: Permissions | None = None,
        identity: Identity | None = None,
        trigger_label: str | None = None,
        inline_reads: bool = False,
        max_age_s: float | None = DEDUPE_TTL_S,
        github_deadline_s: float = GITHUB_DEADLINE_S,
    ) -> None:
        self.store = store
        self.queue = queue
        self.github = github
        self.permissions = permissions or Permissions()
        self.identity = identity or Identity()
        # None: each repository's `[trigger] label` from its `.equitr.toml` (read through `configs`).
        self.trigger_label = trigger_label
        self.configs = ConfigCache()
        # Writes always go to a thread: even without an fsync, a write can wait for another writer's lock.
        self.inline_reads = inline_reads
        # A signed delivery has no timestamp: once its dedupe keys expire, a captured one would be new work
        # again, so comments and labels older than that are refused. None where events cannot be replayed
        # (the Action gets its event from GitHub's runner).
        self.max_age_s = max_age_s
        # The answer to a delivery never waits on GitHub for longer than this (GitHub gives up after 10 s):
        # a permission check that takes longer is left to the worker, which can wait out GitHub's faults.
        self.github_deadline_s = github_deadline_s

    async def dispatch(self, name: str, delivery_id: str, payload: dict[str, Any]) -> Outcome:
        if name == "ping":
            return Outcome(200, "pong")
        delivery_key = f"delivery:{delivery_id}"
        # A primary-key lookup: in SQLite's WAL a read never waits for a writer, so microseconds, cheaper inline
        # than a hop to a thread; over the network (Redis) it goes to a thread, so a stalled Redis stalls no loop.
        seen = (
            self.store.seen(delivery_key)
            if self.inline_reads
            else await asyncio.to_thread(self.store.seen, delivery_key)
        )
        if seen:
            return Outcome(200, "duplicate delivery")
        oldest = None if self.max_age_s is None else dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.max_age_s)
        routed = Routed(identity=self.identity, trigger_label=self.trigger_label, not_before=oldest)
        try:
            Fields(payload).text("action")  # the router looks `action` up in a dict: it must be text
            await router.dispatch(sansio.Event(payload, event=name, delivery_id=delivery_id), routed)
        except MalformedPayload as exc:
            return Outcome(400, f"malformed `{name}` payload: {exc.message}")
        except (AttributeError, TypeError, KeyError, ValueError, RecursionError):
            # Routing is pure: whatever it raises comes from the payload's shape (or a bug of ours), and a
            # redelivery of the same bytes cannot fix either, so this is a 400, not a "redeliver later" 503.
            log.exception("delivery %s (%s): the payload could not be routed", delivery_id, name)
            return Outcome(400, f"malformed `{name}` payload: a field has an unexpected type")
        if not routed.decisions:
            return Outcome(200, "no work")
        outcome = Outcome(200, "no work")
        for decision in routed.decisions:
            if isinstance(decision, Installation):
                await asyncio.to_thread(
                    self.store.record_installation,
                    decision.installation_id,
                    decision.account,
                    decision.action,
                    list(decision.repos),
                )
                outcome.message = "installation recorded"
            elif isinstance(decision, Notice):
                outcome = await self._notice(decision, outcome)
            elif isinstance(decision, Ignored):
                outcome = Outcome(200, decision.reason) if outcome.status != 202 else outcome
            else:
                outcome = await self._trigger(decision, delivery_id, outcome)
        return outcome

    async def asks_for_work(self, name: str, delivery_id: str, payload: dict[str, Any]) -> bool:
        """Whether the event would make a job or a reply: the routers' decisions and the repository's trigger
        label, with no permission check and nothing stored (the Action reads its job history only then)."""
        routed = Routed(identity=self.identity, trigger_label=self.trigger_label)
        try:
            await router.dispatch(sansio.Event(payload, event=name, delivery_id=delivery_id), routed)
        except (MalformedPayload, AttributeError, TypeError, KeyError, ValueError, RecursionError):
            return False
        for decision in routed.decisions:
            if isinstance(decision, Notice):
                return True
            if isinstance(decision, Trigger):
                per_repo = decision.label is not None and self.trigger_label is None
                if not per_repo or str(decision.label).casefold() == (await self._repo_label(decision)).casefold():
                    return True
        return False

    async def _authorised(self, repo: str, login: str, installation_id: int | None) -> bool | None:
        """True/False from GitHub; None when GitHub could not be asked (the runner asks again later)."""
        try:
            async with asyncio.timeout(self.github_deadline_s):
                gh = await self.github(installation_id)
                return await self.permissions.allowed(gh, repo, login)
        except TimeoutError:
            log.warning(
                "permission check for %s on %s took over %gs; the worker checks it", login, repo, self.github_deadline_s
            )
            return None
        except (GitHubException, EquitrError, aiohttp.ClientError) as exc:
            log.warning("permission check for %s on %s failed: %s; the worker checks it", login, repo, exc)
            return None

    async def _refuse(self, repo: str, number: int, login: str, installation_id: int | None, thing: str) -> Outcome:
        once = f"refusal:{repo}#{number}:{login.lower()}"
        if await asyncio.to_thread(self.store.remember, once):
            await self._enqueue_notice(
                {
                    "repo": repo,
                    "number": number,
                    "installation_id": installation_id,
                    "body": REFUSAL.format(user=login, thing=thing),
                    # Posted once per person and issue, also when the store does not remember it.
                    "once": "refusal-" + re.sub(r"[^a-z0-9-]", "-", login.lower()),
                }
            )
        return Outcome(200, "not authorised")

    async def _notice(self, notice: Notice, outcome: Outcome) -> Outcome:
        if notice.needs_permission:
            allowed = await self._authorised(notice.repo, notice.requester, notice.installation_id)
            if allowed is False:
                return await self._refuse(notice.repo, notice.number, notice.requester, notice.installation_id, "issue")
        await self._enqueue_notice(
            {
                "repo": notice.repo,
                "number": notice.number,
                "installation_id": notice.installation_id,
                "body": notice.body,
            }
        )
        return Outcome(200, "replied") if outcome.status != 202 else outcome

    async def _enqueue_notice(self, notice: dict[str, Any]) -> None:
        await asyncio.to_thread(self.queue.enqueue_notice, notice)

    async def _repo_label(self, trigger: Trigger) -> str:
        """The repository's trigger label; the default when `.equitr.toml` cannot be read or is invalid
        (the job then reports the configuration error)."""
        try:
            async with asyncio.timeout(self.github_deadline_s):
                gh = await self.github(trigger.installation_id)
                branch = trigger.default_branch or str((await gh.getitem(f"/repos/{trigger.repo}"))["default_branch"])
                return (await self.configs.get(gh, trigger.repo, branch)).trigger.label
        except (TimeoutError, GitHubException, EquitrError, aiohttp.ClientError, KeyError) as exc:
            log.warning("the trigger label of %s is unknown, using %r: %s", trigger.repo, DEFAULT_LABEL, exc)
            return DEFAULT_LABEL

    async def _trigger(self, trigger: Trigger, delivery_id: str, outcome: Outcome) -> Outcome:
        per_repo = trigger.label is not None and self.trigger_label is None
        if per_repo and str(trigger.label).casefold() != (await self._repo_label(trigger)).casefold():
            return outcome  # some other label: not a request for work
        args = dict(trigger.args)
        if trigger.needs_permission:
            allowed = await self._authorised(trigger.repo, trigger.requester, trigger.installation_id)
            if allowed is False:
                thing = "pull request" if trigger.is_pull_request else "issue"
                return await self._refuse(
                    trigger.repo, trigger.number, trigger.requester, trigger.installation_id, thing
                )
            # Asked again when the job runs (cached, so usually free): a job may wait while permissions
            # change, and when GitHub could not be asked now (allowed is None) that is the only check.
            args["authorise_in_worker"] = True
        args["is_pull_request"] = trigger.is_pull_request
        new = NewJob(
            kind=trigger.kind,
            repo=trigger.repo,
            number=trigger.number,
            requester=trigger.requester,
            delivery_id=delivery_id,
            installation_id=trigger.installation_id,
            comment_id=trigger.comment_id,
            args=args,
        )
        keys = (f"delivery:{delivery_id}", *trigger.dedupe_keys)
        job = await asyncio.to_thread(self._store_and_enqueue, new, keys)
        if job is None:
            return Outcome(200, "duplicate") if outcome.status != 202 else outcome
        if _at_dispatch(trigger.kind):
            # Applied here, not by a worker, so a cancel lands within seconds even when every worker is busy.
            await asyncio.to_thread(self._cancel_active, trigger.repo, trigger.number, job.id)
        acks = list(outcome.acks)
        if trigger.comment_id is not None:
            acks.append((trigger.repo, trigger.comment_id, trigger.installation_id))
        return Outcome(202, "queued", [*outcome.job_ids, job.id], acks)

    async def acknowledge(self, acks: list[tuple[str, int, int | None]]) -> None:
        """👀 on each accepted comment. Best effort: the job is already queued, a missing emoji loses nothing."""
        for repo, comment_id, installation_id in acks:
            try:
                async with asyncio.timeout(ACK_DEADLINE_S):
                    gh = await self.github(installation_id)
                    await gh.post(f"/repos/{repo}/issues/comments/{comment_id}/reactions", data={"content": "eyes"})
            except (TimeoutError, GitHubException, EquitrError, aiohttp.ClientError) as exc:
                log.warning("could not add the 👀 reaction to %s comment %s: %s", repo, comment_id, exc)

    def _store_and_enqueue(self, new: NewJob, keys: tuple[str, ...]) -> Job | None:
        """One thread hop for both writes, and one transaction where the queue lives in the store's SQLite
        file. Otherwise the message is enqueued after the commit; if that fails, the job is still stored
        `queued`, and the sweeper enqueues it again."""
        written: list[int] = []

        def message(job_id: int, db: Path) -> MessageRow | None:
            row = self.queue.job_message_row(job_id, db)
            if row is not None:
                written.append(job_id)
            return row

        job = self.store.create(new, keys, message=message)
        if job is not None and not written:
            try:
                self.queue.enqueue_job(job.id)
            except Exception:
                log.exception("job %s stored but not enqueued; the sweeper will enqueue it", job.id)
        return job

    def _cancel_active(self, repo: str, number: int, except_id: int) -> None:
        for job in self.store.jobs(repo=repo, number=number, limit=50):
            if job.id != except_id and job.state in ("queued", "running") and not _at_dispatch(job.kind):
                self.store.request_cancel(job.id)


def _at_dispatch(kind: str) -> bool:
    """Whether jobs of `kind` stop the other active jobs here as the webhook arrives (`/equitr cancel`)."""
    spec = COMMANDS.get(kind)
    return spec is not None and spec.at_dispatch
