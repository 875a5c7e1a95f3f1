"""The job's one status comment, edited in place as the agent's progress events come, on the job's event loop.
What it shows is `equitr.jobs.status` (pure); its last edit is the runner's (`equitr.jobs.endings`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr.agent.loop import Event
from equitr.errors import EquitrError
from equitr.github import comments
from equitr.github.retry import without_waiting
from equitr.jobs.runner import JobContext, Outcome
from equitr.jobs.status import ICON, PAUSED, Status, status_body
from equitr.text.sanitize import public_text

log = logging.getLogger(__name__)

STATUS_EVERY_S = 2.0


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
            await self._edit(body)

    async def _edit(self, body: str) -> None:
        """Write `body` into this job's status comment (made on the first edit); callers hold `_editing`."""
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

    async def pause(self, why: str, *, wait_s: float, resume_after_s: float | None = None) -> None:
        """Show the job paused (`why`) in the comment already shown (none is made for it). Best effort: one
        try that never waits for a rate limit, all of it (an edit under way landing first included) within
        `wait_s`. The status itself is unchanged, so the next edit (the job going on, or its ending) replaces
        the pause; `resume_after_s`: the job waits in place, and that edit is sent by itself after the wait."""
        if self._ended or self.comment_id is None:
            return
        if resume_after_s is None:  # the job leaves this worker: no progress edit of ours comes after this one
            self._ended = True
        body = status_body(dataclasses.replace(self.status, phase=PAUSED, detail=why))
        try:
            async with asyncio.timeout(wait_s):
                # A progress edit under way lands first. When the rate-limited request is that very edit, this
                # times out: no pause is shown, and the edit goes on after its wait.
                async with self._editing:
                    with without_waiting():
                        await self._edit(body)
        except (EquitrError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("job %s: the status could not show the pause (%r)", self.ctx.job.id, exc)
        if resume_after_s is not None:
            self._later(self._resume(resume_after_s))

    async def _resume(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        self._last_phase = ""  # shown again even within the throttle
        await self._quietly()

    def _later(self, edit: Coroutine[Any, Any, None]) -> None:
        update = asyncio.get_running_loop().create_task(edit)
        self._updates.add(update)
        update.add_done_callback(self._updates.discard)

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
        self._later(self._quietly())

    async def _quietly(self) -> None:
        try:
            await self.show()
        except (EquitrError, aiohttp.ClientError) as exc:  # progress is best effort; the final update is not
            log.warning("status update for job %s failed: %s", self.ctx.job.id, exc)
