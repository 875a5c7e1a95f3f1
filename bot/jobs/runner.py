"""The job runner: claim a job, hold its lease, run the handler for its kind, record and report how it ended.

    run(job_id) → claim → [watch ⟂ handler] → finish + report → deliver

Limits and cancellation are checked in one place (the watch): a cancel request or a lost lease cancels the
handler's task within about a second; the job then ends `cancelled` (or is left to its new owner). Every
ending is reported on the issue by the runner, whatever the handler did: the status comment's last edit and,
for a failure, the formatted error (`equitr.jobs.endings`). The report is stored with the end state, and one that
GitHub did not take is delivered later by the sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr.errors import ConfigError, EquitrError, GitHubError, JobBusy, Parked
from equitr.errors.render import format_error
from equitr.events.commands import COMMANDS, EXCLUSIVE
from equitr.events.decisions import Identity
from equitr.github import comments
from equitr.github import retry as github_retry
from equitr.github.permissions import Permissions
from equitr.github.scope import Scope, for_job
from equitr.jobs import endings, metrics
from equitr.jobs.model import Job, State, needs_write_permission
from equitr.jobs.status import RESTARTED, rate_limit_pause
from equitr.jobs.store import JobStore
from equitr.jobs.store.rules import gave_up, is_stale
from equitr.monitor import records as monitor
from equitr.redact import redact

log = logging.getLogger(__name__)


class SessionGitHub(Protocol):
    """(session, installation id, scope of the token) → a GitHub client (`GitHubAccess.api`)."""

    def __call__(
        self, session: aiohttp.ClientSession, installation_id: int | None, /, *, scope: Scope | None = None
    ) -> Awaitable[GitHubAPI]: ...


WhoAmI = Callable[[aiohttp.ClientSession], Awaitable[Identity]]

# A GitHub rate-limit wait longer than PARK_AFTER_S parks the job: back in the queue until the limit resets,
# its worker free for other jobs. Only while a run again costs nothing: kinds without a model (PARKABLE), and
# the others until their first model call of the attempt. A job that has paid for model work waits in place (a
# run again would pay again), unless the wait is longer than the retry policy's `max_wait_s`: then it is parked
# too (rescheduled, not failed; that attempt's model work is lost either way).
PARKABLE: frozenset[str] = frozenset(name for name, spec in COMMANDS.items() if not spec.uses_model)
PARK_AFTER_S = 10.0
PAUSE_EDIT_S = 3.0  # the status edit that shows a pause, when the job leaves the worker: at most this long
PARK_MAX_AGE_S = 6 * 3600.0  # a job parked for longer than this since it was stored fails instead


@dataclass(slots=True)
class Outcome:
    state: State = "done"
    reason: str = ""
    cost_usd: float = 0.0
    # What made a failed job fail, for the formatted error comment (none for a failure the status shows).
    error: BaseException | None = field(default=None, compare=False)


def outlasted(parked: Parked) -> GitHubError:
    """The error of a job whose rate limit outlasted parking (`PARK_MAX_AGE_S`, or no delayed queue): Parked's
    hint says equitr runs the job again, which is no longer so."""
    resets = time.strftime("%H:%M UTC", time.gmtime(parked.until))
    return GitHubError(
        parked.message,
        status=parked.status,
        hint=f"Comment `/equitr retry` after GitHub's limit resets (at {resets}).",
        kind="rate-limited",
    )


class StatusView(Protocol):
    """A job's status comment, as the runner needs it at the end."""

    comment_id: int | None

    async def final(self, outcome: Outcome) -> str | None:
        """The comment's final text for this ending; None when it already shows it."""
        ...

    async def pause(self, why: str, *, wait_s: float, resume_after_s: float | None = None) -> None:
        """Show the job paused, for `why` (best effort, never waiting for a rate limit)."""
        ...


@dataclass(slots=True)
class JobContext:
    job: Job
    store: JobStore
    session: aiohttp.ClientSession
    _github: SessionGitHub
    extra: dict[str, Any] = field(default_factory=dict)
    _gh: GitHubAPI | None = None
    _gh_scope: Scope | None = None
    status: StatusView | None = None  # set by a handler that shows a status comment
    # Who equitr writes as: only comments it wrote itself are found again by their markers.
    identity: Identity = field(default_factory=Identity)

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


def busy_error(job: Job, ahead: Job) -> JobBusy:
    doing = "working on" if ahead.state == "running" else "waiting to work on"
    return JobBusy(
        f"Job {ahead.id} (`{ahead.kind}`) is already {doing} this issue, so this `{job.kind}` did not start.",
        running_id=ahead.id,
        running_kind=ahead.kind,
    )


def ahead_of(job: Job, others: list[Job]) -> Job | None:
    """The job that must end before `job` may change the issue: the oldest active exclusive one before it.
    Only older jobs count, so of two racing commands exactly the first one runs."""
    if job.kind not in EXCLUSIVE:
        return None
    before = [j for j in others if j.id < job.id and j.kind in EXCLUSIVE and j.state in ("queued", "running")]
    return min(before, key=lambda j: j.id) if before else None


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
        enqueue_later: Callable[[int, float], None] | None = None,
        permissions: Permissions | None = None,
        docs_url: str | None = None,
        cancel_poll_s: float = 1.0,
        identity: WhoAmI | None = None,
        web_url: str = "https://github.com",
    ) -> None:
        self.store = store
        self.github = github
        self.handlers = handlers
        self.owner = owner
        self.lease_s = lease_s
        self.enqueue = enqueue
        self.enqueue_later = enqueue_later
        # Installation → when GitHub's rate limit lets it go on (this process's view): parkable jobs of a
        # paused installation go back to the queue without a request.
        self._paused: dict[int | None, float] = {}
        self.permissions = permissions or Permissions()
        self.docs_url = docs_url
        # How soon a cancel request is seen: one read of the job's row per interval (the lease is renewed,
        # a write, every lease_s / 3).
        self.cancel_poll_s = cancel_poll_s
        self.identity = identity
        self.web_url = web_url.rstrip("/")  # for the links in the monitor's record
        # Shutdown (`drain`): no new claims once `stopping` is set; jobs still running at the deadline are
        # cancelled and handed back to the queue without counting an attempt.
        self.stopping = threading.Event()
        self._running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[Outcome] | None]] = {}
        self._interrupted: set[int] = set()
        self._lock = threading.Lock()

    # -- entry points for the queue (called in a worker thread) ------------------------------------

    def execute(self, job_id: int) -> None:
        asyncio.run(self.run(job_id))

    def notify(self, notice: dict[str, Any]) -> None:
        asyncio.run(self.post_notice(notice))

    def sweep(self, *, startup: bool = False) -> list[int]:
        """Re-enqueue jobs the queue may have lost (crashed worker, lost message), and deliver the reports
        GitHub did not take. Safe to run anywhere: claiming is atomic, so a job enqueued twice still runs
        once, and a report delivered twice edits the same comments. At `startup` every queued job is sent
        again whatever its age: one stored just before a crash may never have reached the queue."""
        now = time.time()
        again: list[int] = []
        for job in self.store.active():
            if not is_stale(job, now, queued_grace_s=0.0 if startup else 30.0):
                continue
            if job.state == "running" and not self.store.requeue(job.id, job.owner):
                continue
            log.warning("job %s (%s) was %s with no live worker; queued again", job.id, job.kind, job.state)
            if self.enqueue is not None:
                self.enqueue(job.id)
            again.append(job.id)
        self.store.prune()
        if self.store.reports_due(now, limit=1):
            asyncio.run(self.deliver_reports())
        return again

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, job_id: int) -> Outcome | None:
        if self.stopping.is_set():
            # Shutting down: the job stays `queued` in the store; the next process (or another worker) runs it.
            if self.enqueue is not None:
                await asyncio.to_thread(self.enqueue, job_id)
            return None
        job = await asyncio.to_thread(self.store.claim, job_id, self.owner, self.lease_s)
        paused_until = self._paused.get(job.installation_id, 0.0) if job is not None else 0.0
        if job is not None and paused_until > time.time() and await self._park(job, paused_until):
            return None  # its installation is stopped by a rate limit: not even tried (nothing spent yet)
        if job is None:
            # Someone else has it, it was cancelled or already ended, or the claim gave it up after it crashed
            # its workers: then that ending's report is waiting, due now.
            await self._record_given_up(job_id)
            await self.deliver_reports()
            return None
        log.info("job %s (%s on %s#%s) started", job.id, job.kind, job.repo, job.number)
        loop = asyncio.get_running_loop()
        with self._lock:
            self._running[job.id] = (loop, None)  # seen by `drain` from the claim on
        try:
            return await self._run_claimed(job, loop)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
                self._interrupted.discard(job.id)

    async def _run_claimed(self, job: Job, loop: asyncio.AbstractEventLoop) -> Outcome | None:
        mon = monitor.PerformanceMonitor(job.id)
        earlier = await asyncio.to_thread(self.store.record, job.id)  # kept by an attempt handed back or parked
        if earlier is not None:
            mon.carry(earlier)
        if job.attempts == 1 and job.started_at is not None:
            mon.add_phase("queue_wait", job.created_at, job.started_at - job.created_at)
        outcome: Outcome | None = None
        ctx: JobContext | None = None
        ended = False  # whether this runner ended the job (and so counts it in the metrics)
        try:
            with mon.active():  # the model and GitHub clients' seams record into it (`monitor.current()`)
                async with aiohttp.ClientSession() as session:
                    me = await self._whoami(session)
                    ctx = JobContext(job=job, store=self.store, session=session, _github=self.github, identity=me)
                    outcome, ended = await self._run(ctx, mon, me, loop)
        finally:
            await self._keep_record(job, ctx, mon, outcome, counted=ended)
        return outcome

    async def _run(
        self, ctx: JobContext, mon: monitor.PerformanceMonitor, me: Identity, loop: asyncio.AbstractEventLoop
    ) -> tuple[Outcome | None, bool]:
        """Run the handler and end the job: its outcome (None when it was handed back or parked, not over),
        and whether this runner ended it (False when the job lost its lease to another runner, or had already
        ended)."""
        job = ctx.job
        work = asyncio.create_task(self._handle(ctx))
        watch = asyncio.create_task(self._watch(job, work))
        with self._lock:
            self._running[job.id] = (loop, work)
            if job.id in self._interrupted:  # `drain` gave up on it before its work began
                work.cancel()
        try:
            outcome = await work
        except asyncio.CancelledError:
            outcome = Outcome("cancelled", "cancelled on request")
        finally:
            watch.cancel()
        with self._lock:
            interrupted = job.id in self._interrupted and outcome.state == "cancelled"
        if interrupted:  # by shutdown, not by a user: the job is not over
            await self._show_paused(ctx, RESTARTED)
            await self._hand_back(job, mon.cost_usd)
            return None, False
        if isinstance(outcome.error, Parked) and time.time() - job.created_at < PARK_MAX_AGE_S:
            self._pause_installation(job.installation_id, outcome.error.until)
            if await self._park(job, outcome.error.until, ctx, mon.cost_usd):
                return None, False
        if isinstance(outcome.error, Parked):  # not parked after all: the job ends here, and nothing runs it again
            outcome.error = outlasted(outcome.error)
        latest = await asyncio.to_thread(self.store.get, job.id)
        if latest is not None and latest.owner != self.owner:
            log.warning("job %s lost its lease while running; its new owner finishes it", job.id)
            return outcome, False
        with mon.phase("comment"):
            report = await self._report(ctx, outcome)
            finished = await asyncio.to_thread(
                lambda: self.store.finish(
                    job.id,
                    self.owner,
                    outcome.state,
                    redact(outcome.reason),
                    outcome.cost_usd,
                    report=report.to_json(),
                )
            )
            log.info("job %s ended %s %s", job.id, outcome.state, outcome.reason)
            if finished and not await self._deliver(job, report, ctx.github, me):
                await self._failed_delivery(job.id, 1)
        return outcome, finished

    async def _hand_back(self, job: Job, cost_usd: float) -> None:
        """A job interrupted by shutdown goes back to the queue, its attempt not counted."""
        if await asyncio.to_thread(partial(self.store.release, job.id, self.owner, cost_usd=cost_usd)):
            log.warning(
                "job %s (%s) handed back to the queue at shutdown; the next worker resumes it",
                job.id,
                job.kind,
            )
            if self.enqueue is not None:
                try:
                    await asyncio.to_thread(self.enqueue, job.id)
                except Exception:  # the sweeper finds it `queued` in the store
                    log.exception("job %s handed back but not enqueued; the sweeper will enqueue it", job.id)

    async def _show_paused(self, ctx: JobContext, why: str) -> None:
        """The status comment says why the job stopped and that it goes on by itself, before the job leaves
        the worker (so that no later edit of this runner's overwrites the next runner's). Best effort: when
        GitHub does not take it, the next attempt's first edit (or the ending) replaces the text anyway."""
        if ctx.status is None:
            return
        try:
            await ctx.status.pause(why, wait_s=PAUSE_EDIT_S)
        except Exception:  # never keeps the job from going back to the queue
            log.exception("job %s: the pause could not be shown", ctx.job.id)

    def _pause_installation(self, installation_id: int | None, until: float) -> None:
        """GitHub stops this installation until `until`: its other jobs are parked without a request."""
        self._paused[installation_id] = max(self._paused.get(installation_id, 0.0), until)

    async def _park(self, job: Job, until: float, ctx: JobContext | None = None, cost_usd: float = 0.0) -> bool:
        """Back to the queue until GitHub's rate limit resets (and a few random seconds, so that parked jobs
        do not all return at once), its attempt not counted; the worker goes on with other jobs. False when
        it cannot be parked (no delayed queue here): the job then ends as it is."""
        if self.enqueue_later is None:
            return False
        delay = max(until - time.time(), 0.0) + random.uniform(1.0, 5.0)
        if ctx is not None:
            await self._show_paused(ctx, rate_limit_pause(time.time() + delay))
        released = partial(self.store.release, job.id, self.owner, hold_until=time.time() + delay, cost_usd=cost_usd)
        if await asyncio.to_thread(released):
            log.info("job %s (%s) parked for %.0f s: GitHub's rate limit", job.id, job.kind, delay)
            try:
                await asyncio.to_thread(self.enqueue_later, job.id, delay)
            except Exception:  # queued in the store: the sweeper sends it once the hold is over
                log.exception("job %s parked but its message not scheduled; the sweeper will enqueue it", job.id)
        return True

    async def _keep_record(
        self,
        job: Job,
        ctx: JobContext | None,
        mon: monitor.PerformanceMonitor,
        outcome: Outcome | None,
        *,
        counted: bool,
    ) -> None:
        """Save the monitor's record with the job, whatever happened, and add the job to the metrics when this
        runner ended it (a crash in here never fails the job)."""
        issue_url = f"{self.web_url}/{job.repo}/issues/{job.number}"
        comment_id = ctx.status.comment_id if ctx is not None and ctx.status is not None else None
        had = mon.outcome().links
        on_pull = job.kind == "review" or bool(job.args.get("is_pull_request"))
        links: monitor.Links = {
            "issue_url": had["issue_url"] or issue_url,
            "pr_url": had["pr_url"] or (f"{self.web_url}/{job.repo}/pull/{job.number}" if on_pull else None),
            "comment_url": had["comment_url"] or (f"{issue_url}#issuecomment-{comment_id}" if comment_id else None),
        }
        if outcome is None:
            error: str | None = "the run stopped before it ended (the worker was stopped or crashed)"
        else:
            error = outcome.reason if outcome.state != "done" else None
        mon.outcome(links=links, error=error)
        record = mon.record()
        try:
            await asyncio.to_thread(self.store.save_record, job.id, record)
            if counted and outcome is not None:
                share = metrics.fold(job, record, outcome.state)
                await asyncio.to_thread(self.store.add_metrics, job.id, share.inc, share.set)
        except Exception:
            log.exception("job %s: its monitor record could not be saved", job.id)

    async def _record_given_up(self, job_id: int) -> None:
        """A job the claim gave up (its workers kept dying) has no runner to record its ending: record it here,
        so that it has a record and counts as failed in the metrics (once, whichever runner sees it first)."""
        try:
            job = await asyncio.to_thread(self.store.get, job_id)
            if job is None or not gave_up(job) or await asyncio.to_thread(self.store.record, job_id) is not None:
                return
            await self._keep_record(job, None, monitor.PerformanceMonitor(job.id), Outcome("failed", job.reason),
                                    counted=True)  # fmt: skip
        except Exception:
            log.exception("job %s: the record of its giving up could not be saved", job_id)

    def running(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def drain(self, grace_s: float, *, hand_back_s: float = 5.0) -> list[int]:
        """Stop taking jobs; let running ones end within `grace_s`; then cancel the rest and hand them back
        to the queue (not counted as an attempt). Returns the ids handed back. Called from any thread."""
        self.stopping.set()
        deadline = time.monotonic() + grace_s
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            left = dict(self._running)
            self._interrupted.update(left)
        for loop, task in left.values():
            if task is not None:  # one without its task yet cancels itself when it registers
                loop.call_soon_threadsafe(task.cancel)
        deadline = time.monotonic() + hand_back_s
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            log.warning("shutdown: %d running job(s) handed back to the queue: %s", len(left), sorted(left))
        return sorted(left)

    async def _handle(self, ctx: JobContext) -> Outcome:
        handler = self.handlers.get(ctx.job.kind)
        try:
            if handler is None:
                raise ConfigError(f"equitr does not know how to run a `{ctx.job.kind}` job.")
            if self.enqueue_later is not None:  # parking needs a delayed queue; without one, waits are in place
                self._parking(ctx)
            if needs_write_permission(ctx.job):
                allowed = await self.permissions.allowed(await ctx.github(), ctx.job.repo, ctx.job.requester)
                if not allowed:
                    return Outcome("failed", f"@{ctx.job.requester} lacks write permission on {ctx.job.repo}.")
            if ctx.job.kind in EXCLUSIVE:
                others = await asyncio.to_thread(self.store.jobs, repo=ctx.job.repo, number=ctx.job.number, limit=50)
                ahead = ahead_of(ctx.job, others)
                if ahead is not None:
                    raise busy_error(ctx.job, ahead)
            return await handler(ctx)
        except asyncio.CancelledError:
            raise
        except EquitrError as exc:
            return Outcome("failed", exc.message, error=exc)
        except Exception as exc:
            log.exception("job %s failed unexpectedly", ctx.job.id)
            reason = f"internal error ({type(exc).__name__}); the details are in equitr's log."
            return Outcome("failed", reason, error=exc)

    def _parking(self, ctx: JobContext) -> None:
        """How this job's GitHub rate-limit waits go (`equitr.github.retry`; set in this task's context only)."""
        job = ctx.job

        def unpaid() -> bool:  # nothing spent on a model in this attempt: a run again costs nothing more
            mon = monitor.current()
            return job.kind in PARKABLE or mon is None or not mon.paid_models

        async def waiting(seconds: float) -> None:  # a paid job waits in place: say so, and hold the others back
            until = time.time() + seconds
            self._pause_installation(job.installation_id, until)
            if ctx.status is not None:  # (the limited request may be a status edit: then no pause is shown)
                await ctx.status.pause(rate_limit_pause(until), wait_s=2.0, resume_after_s=seconds)

        github_retry.PARK_AFTER_S.set(PARK_AFTER_S)
        github_retry.MAY_PARK.set(unpaid)
        github_retry.ON_WAIT.set(waiting)

    async def _watch(self, job: Job, work: asyncio.Task[Outcome]) -> None:
        """Renew the lease every lease_s / 3; look for a cancel request (or a lost lease) every poll."""
        beat_every = max(self.lease_s / 3, 0.05)
        poll = min(self.cancel_poll_s, beat_every)
        last_beat = time.monotonic()
        while not work.done():
            await asyncio.sleep(poll)
            latest: Job | None
            if time.monotonic() - last_beat >= beat_every:
                latest = await asyncio.to_thread(self.store.heartbeat, job.id, self.owner, self.lease_s)
                last_beat = time.monotonic()
            else:
                latest = await asyncio.to_thread(self.store.get, job.id)
                if latest is not None and (latest.owner != self.owner or latest.state != "running"):
                    latest = None
            if latest is None or latest.cancel_requested:
                work.cancel()
                return

    # -- reporting the ending ----------------------------------------------------------------------

    async def _report(self, ctx: JobContext, outcome: Outcome) -> endings.Report:
        status = None
        if ctx.status is not None:
            try:
                status = await ctx.status.final(outcome)
            except Exception:  # a report without the status line beats no report
                log.exception("job %s: the final status could not be rendered", ctx.job.id)
        error = None
        if outcome.state == "failed" and outcome.error is not None:
            context = endings.error_context(ctx.job, outcome.error, docs_url=self.docs_url)
            error = format_error(outcome.error, job_id=ctx.job.id, context=context)
        comment_id = ctx.status.comment_id if ctx.status is not None else None
        # The kinds that show a status comment (fix, retry): one an earlier attempt left (paused, or cut short)
        # must not keep saying so when this attempt ends before showing its own.
        settle = ctx.status is None and ctx.job.kind in EXCLUSIVE
        return endings.Report(outcome.state, outcome.reason, status, comment_id, error, settle=settle)

    async def _deliver(
        self, job: Job, report: endings.Report, github: Callable[[], Awaitable[GitHubAPI]], author: Identity
    ) -> bool:
        """Post one report; True when GitHub took it (or it can never be posted), False to try again."""
        if report.empty:
            await asyncio.to_thread(self.store.report_done, job.id)
            return True
        try:
            await endings.deliver(await github(), job, report, docs_url=self.docs_url, author=author)
        except Exception as exc:  # GitHub down, a token that cannot be minted, … : the outbox keeps it
            log.warning("the ending of job %s is not on GitHub yet (%s); it is kept and sent again", job.id, exc)
            return False
        await asyncio.to_thread(self.store.report_done, job.id)
        return True

    async def deliver_reports(self, *, now: float | None = None) -> int:
        """Deliver the stored reports that are due. One GitHub does not take is tried again later: 30 s after
        the first failure, then twice as long each time, at most hourly. Each report is taken first (a
        compare-and-set on its time), so two sweepers never post the same one."""
        due = await asyncio.to_thread(self.store.reports_due, time.time() if now is None else now, 20)
        if not due:
            return 0
        sent = 0
        async with aiohttp.ClientSession() as session:
            me = await self._whoami(session)
            cache: dict[tuple[int | None, str], GitHubAPI] = {}
            for pending in due:
                job = await asyncio.to_thread(self.store.get, pending.job_id)
                if job is None or job.state not in ("done", "failed", "cancelled"):
                    continue
                if not self.store.authentic(job):  # a forged record names an issue no one asked us to write to
                    await asyncio.to_thread(self.store.report_done, job.id)
                    continue
                held = time.time() + endings.next_try_s(pending.tries + 1)
                if not await asyncio.to_thread(self.store.take_report, job.id, pending.next_at, held):
                    continue  # another worker has it

                async def github(installation: int | None = job.installation_id, repo: str = job.repo) -> GitHubAPI:
                    if (installation, repo) not in cache:  # comments on one repository: that token is enough
                        scope = for_job("notice", repo)
                        cache[installation, repo] = await self.github(session, installation, scope=scope)
                    return cache[installation, repo]

                if await self._deliver(job, endings.Report.from_json(pending.report), github, me):
                    sent += 1
                    continue
                await self._failed_delivery(job.id, pending.tries + 1)
        return sent

    async def _failed_delivery(self, job_id: int, tries: int) -> None:
        if tries >= endings.GIVE_UP_TRIES:
            log.error("the ending of job %s was never taken by GitHub; giving up on it", job_id)
            await asyncio.to_thread(self.store.report_done, job_id)
            return
        next_at = time.time() + endings.next_try_s(tries)
        await asyncio.to_thread(self.store.report_failed, job_id, tries, next_at)

    async def _whoami(self, session: aiohttp.ClientSession) -> Identity:
        return await self.identity(session) if self.identity is not None else Identity()

    async def post_notice(self, notice: dict[str, Any]) -> None:
        """Post a one-off reply; one with a `once` key is posted only if equitr has not posted it there yet
        (the store's dedupe key may be gone: every Action run starts with an empty store)."""
        repo, number = str(notice["repo"]), int(notice["number"])
        body, once = redact(str(notice["body"])), notice.get("once")
        async with aiohttp.ClientSession() as session:
            scope = for_job("notice", repo)  # one comment on one repository
            gh = await self.github(session, notice.get("installation_id"), scope=scope)
            if once:
                me = await self._whoami(session)
                if await comments.find_comment(gh, repo, number, "notice", once, author=me) is not None:
                    return
                body = comments.render("notice", once, body)
            await gh.post(f"/repos/{repo}/issues/{number}/comments", data={"body": body})
