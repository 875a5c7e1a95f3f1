"""The job handlers, assembled once per worker from the command table (`equitr.events.commands.COMMANDS`): each row
names its handler, `async def (ctx, env) -> Outcome`. A handler raises what stops it; the runner turns every
ending into the status comment's last edit and, for a failure, a formatted error comment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from equitr.errors import CommandError, DryRunStop, GitHubError, ValidationError
from equitr.events import commands
from equitr.handlers.prepare import WorkEnv
from equitr.jobs.model import Job
from equitr.jobs.runner import Handler, JobContext, Outcome

__all__ = ["WorkEnv", "handlers"]


def _also() -> str:
    """The other commands retry can run, for the hints: "`review`, `ask`, `plan`"."""
    return ", ".join(f"`{name}`" for name in commands.RETRYABLE if name != "fix")


def retry_target(jobs: Sequence[Job], *, current: int) -> Job:
    """The job `/equitr retry` runs again: the latest work here, if it failed or was cancelled.

    `jobs` newest first. A retry that ended `done` succeeded, so there is nothing left to retry; a retry that
    failed is passed over, to what it retried. Anything else is a ValidationError that says why."""
    for job in jobs:
        if job.id == current or job.kind not in (*commands.RETRYABLE, "retry"):
            continue
        if job.state in ("queued", "running"):
            raise ValidationError(
                f"Job {job.id} (`{job.kind}`) is still {job.state} here, so there is nothing to retry yet.",
                hint="Wait for it to end (`/equitr status`), or stop it with `/equitr cancel` and then retry.",
            )
        if job.kind == "retry" and job.state != "done":
            continue
        if job.state == "done":
            what = "retry" if job.kind == "retry" else f"`{job.kind}`"
            raise ValidationError(
                f"The latest equitr work here (job {job.id}, {what}) succeeded, so there is nothing to retry.",
                hint=f"Start new work with `/equitr fix` (or {_also()}); retry only runs a job that failed or was "
                "cancelled.",
            )
        return job
    raise ValidationError(
        "There is no failed equitr job here to retry.",
        hint=f"Start a new one with `/equitr fix` (or {_also()}).",
    )


async def from_command(ctx: JobContext, job: Job) -> Job:
    """A job read from the Action's history (`equitr.action.history`) carries no seal: what it asked for is read again
    from the command comment that started it, which only its author can have written or edited. Anything
    else is refused with the way out."""
    again = ValidationError(
        f"Job {job.id} (`{job.kind}`) cannot be run again from its record.",
        hint=f"Start it anew with `/equitr {job.kind}` (or the trigger label).",
    )
    if job.comment_id is None or not job.delivery_id.startswith("history:"):
        raise again
    gh = await ctx.github()
    try:
        comment = await gh.getitem(f"/repos/{ctx.job.repo}/issues/comments/{job.comment_id}")
    except GitHubError as exc:
        if exc.status == 404:
            raise again from None
        raise
    on = str(comment.get("issue_url") or "").rsplit("/", 1)[-1]
    login = str((comment.get("user") or {}).get("login") or "")
    body = str(comment.get("body") or "")
    try:
        command = commands.parse(body) if commands.is_command(body) else None
    except CommandError:
        command = None
    if command is None or command.name != job.kind or login.lower() != job.requester.lower() or on != str(job.number):
        raise again
    asked = {"text": command.text, "budget_usd": command.budget_usd, "model": command.model}
    asked["worker_model"] = command.worker_model
    return job.with_(args={**job.args, **asked})


async def retry(ctx: JobContext, env: WorkEnv) -> Outcome:
    history = await asyncio.to_thread(ctx.store.jobs, repo=ctx.job.repo, number=ctx.job.number, limit=None)
    last = retry_target(history, current=ctx.job.id)
    if not ctx.store.authentic(last):
        # Its arguments would run again: only a record equitr itself stored (equitr.jobs.seal), or, for a job read
        # from the Action's history, what its command comment asks for.
        last = await from_command(ctx, last)
    args = {**last.args, **{k: v for k, v in ctx.job.args.items() if v not in (None, "") and k != "text"}}
    ctx.job = ctx.job.with_(kind=last.kind, args=args, comment_id=last.comment_id or ctx.job.comment_id)
    again: Callable[[JobContext, WorkEnv], Awaitable[Outcome]] = commands.resolve(last.kind)
    return await again(ctx, env)


def handlers(env: WorkEnv) -> dict[str, Handler]:
    """One handler per row of the command table, bound to this worker's environment."""
    return {name: _bind(commands.resolve(name), env) for name in commands.COMMANDS}


def _bind(
    body: Callable[[JobContext, WorkEnv], Awaitable[Outcome]], env: WorkEnv
) -> Callable[[JobContext], Awaitable[Outcome]]:
    async def call(ctx: JobContext) -> Outcome:
        try:
            return await body(ctx, env)
        except DryRunStop as exc:  # `replay --dry-run` went as far as it can: not a failure
            return Outcome("done", exc.message)

    return call
