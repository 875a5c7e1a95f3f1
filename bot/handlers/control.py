"""Run-control commands that need no model: `help`, `status`, `cancel`, `cost`.

Like every handler in the command table they take the worker's environment too, and have no use for it."""

from __future__ import annotations

import asyncio
import datetime as dt

from equitr.config.flags import month_start
from equitr.events import commands
from equitr.github import comments
from equitr.jobs.model import Job
from equitr.jobs.runner import JobContext, Outcome
from equitr.text.money import usd
from equitr.text.sanitize import public_text

STATUS_ROWS = 10


async def reply(ctx: JobContext, body: str) -> None:
    """The job's answer comment, found again by the job's own marker."""
    gh = await ctx.github()
    await comments.upsert(gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.ref, body, author=ctx.identity)


async def on_help(ctx: JobContext, _env: object) -> Outcome:
    await reply(ctx, commands.help_markdown())
    return Outcome("done", "help posted")


def _others(ctx: JobContext) -> list[Job]:
    """Every other job on this issue or pull request, newest first."""
    return [j for j in ctx.store.jobs(repo=ctx.job.repo, number=ctx.job.number, limit=None) if j.id != ctx.job.id]


def _cell(text: str) -> str:
    """A job's reason as one table cell: fit for a public comment, one line, its pipes escaped."""
    return " ".join(public_text(text).split()).replace("|", "\\|")[:200]


def _line(job: Job) -> str:
    when = dt.datetime.fromtimestamp(job.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cost = usd(job.cost_usd, places=4)
    return f"| {job.id} | `{job.kind}` | **{job.state}** | @{job.requester} | {when} | {cost} | {_cell(job.reason)} |"


_TABLE = "| job | kind | state | by | created | cost | note |\n|---|---|---|---|---|---|---|\n"


def status_markdown(jobs: list[Job]) -> str:
    if not jobs:
        return "No equitr jobs on this issue yet. Start one with `/equitr fix` (or `/equitr help`)."
    body = "### equitr jobs here\n\n" + _TABLE + "\n".join(_line(j) for j in jobs[:STATUS_ROWS])
    if len(jobs) > STATUS_ROWS:
        body += f"\n\nThe latest {STATUS_ROWS} of {len(jobs)} jobs; `/equitr cost` counts them all."
    return body


async def on_status(ctx: JobContext, _env: object) -> Outcome:
    jobs = await asyncio.to_thread(_others, ctx)
    await reply(ctx, status_markdown(jobs))
    return Outcome("done", "status posted")


async def on_cancel(ctx: JobContext, _env: object) -> Outcome:
    # The dispatcher already asked every active job here to stop; this reports what happened.
    jobs = [j for j in await asyncio.to_thread(_others, ctx) if j.kind != "cancel"]
    touched = [j for j in jobs if j.cancel_requested or (j.state == "cancelled" and j.reason.startswith("cancelled"))]
    if touched:
        body = "Cancelling: " + ", ".join(f"job {j.id} (`{j.kind}`)" for j in touched[:10]) + "."
    else:
        body = "There was no running or queued equitr job here to cancel."
    await reply(ctx, body)
    return Outcome("done", "cancel acknowledged")


def spending(ctx: JobContext, now: float | None = None) -> tuple[list[Job], list[Job]]:
    """(every other job on this issue, every other job of the repository this month in UTC)."""
    start = month_start(now)
    month = [
        j
        for j in ctx.store.jobs(repo=ctx.job.repo, limit=None)
        if j.created_at >= start and j.id != ctx.job.id
    ]
    return _others(ctx), month


async def on_cost(ctx: JobContext, _env: object) -> Outcome:
    here, month = await asyncio.to_thread(spending, ctx)
    body = (
        "### equitr spending\n\n| scope | jobs | cost (USD) |\n|---|---|---|\n"
        f"| this issue | {len(here)} | {usd(sum(j.cost_usd for j in here), places=4)} |\n"
        f"| {ctx.job.repo}, month to date | {len(month)} | {usd(sum(j.cost_usd for j in month), places=4)} |"
    )
    await reply(ctx, body)
    return Outcome("done", "cost posted")
