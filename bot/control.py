"""Run-control commands that need no model: `help`, `status`, `cancel`, `cost`."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot import commands, comments
from bot.errorfmt import public_text
from bot.jobs import Job
from bot.money import usd
from bot.runner import JobContext, Outcome


async def on_help(ctx: JobContext) -> Outcome:
    gh = await ctx.github()
    await comments.upsert(gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.id, commands.help_markdown())
    return Outcome("done", "help posted")


def _others(ctx: JobContext) -> list[Job]:
    return [j for j in ctx.store.jobs(repo=ctx.job.repo, number=ctx.job.number, limit=20) if j.id != ctx.job.id]


def _line(job: Job) -> str:
    when = dt.datetime.fromtimestamp(job.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    reason = f" — {public_text(job.reason)}" if job.reason else ""
    cost = usd(job.cost_usd, places=4)
    return f"| {job.id} | `{job.kind}` | **{job.state}** | @{job.requester} | {when} | {cost} |{reason}"


_TABLE = "| job | kind | state | by | created | cost |\n|---|---|---|---|---|---|\n"


async def on_status(ctx: JobContext) -> Outcome:
    jobs = await asyncio.to_thread(_others, ctx)
    if not jobs:
        body = "No equitr jobs on this issue yet. Start one with `/equitr fix` (or `/equitr help`)."
    else:
        body = "### equitr jobs here\n\n" + _TABLE + "\n".join(_line(j) for j in jobs[:10])
    await comments.upsert(await ctx.github(), ctx.job.repo, ctx.job.number, "answer", ctx.job.id, body)
    return Outcome("done", "status posted")


async def on_cancel(ctx: JobContext) -> Outcome:
    # The dispatcher already asked every active job here to stop; this reports what happened.
    jobs = [j for j in await asyncio.to_thread(_others, ctx) if j.kind != "cancel"]
    touched = [j for j in jobs if j.cancel_requested or (j.state == "cancelled" and j.reason.startswith("cancelled"))]
    if touched:
        body = "Cancelling: " + ", ".join(f"job {j.id} (`{j.kind}`)" for j in touched[:10]) + "."
    else:
        body = "There was no running or queued equitr job here to cancel."
    await comments.upsert(await ctx.github(), ctx.job.repo, ctx.job.number, "answer", ctx.job.id, body)
    return Outcome("done", "cancel acknowledged")


async def on_cost(ctx: JobContext) -> Outcome:
    jobs = await asyncio.to_thread(_others, ctx)
    here = sum(j.cost_usd for j in jobs)
    month_start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    repo_jobs = await asyncio.to_thread(lambda: ctx.store.jobs(repo=ctx.job.repo, limit=10_000))
    month = sum(j.cost_usd for j in repo_jobs if j.created_at >= month_start)
    month_jobs = sum(1 for j in repo_jobs if j.created_at >= month_start)
    body = (
        "### equitr spending\n\n| scope | jobs | cost (USD) |\n|---|---|---|\n"
        f"| this issue | {len(jobs)} | {usd(here, places=4)} |\n"
        f"| {ctx.job.repo}, month to date | {month_jobs} | {usd(month, places=4)} |"
    )
    await comments.upsert(await ctx.github(), ctx.job.repo, ctx.job.number, "answer", ctx.job.id, body)
    return Outcome("done", "cost posted")


HANDLERS = {
    "help": on_help,
    "status": on_status,
    "cancel": on_cancel,
    "cost": on_cost,
}
