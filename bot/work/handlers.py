"""The job handlers, assembled once per worker: run control from `bot.control`, GitHub work from
`fix`, `review` and `answer`. A handler raises what stops it; the runner turns every ending into the
status comment's last edit and, for a failure, a formatted error comment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.errors import ValidationError
from bot.runner import Handler, JobContext, Outcome
from bot.work.answer import ask, plan
from bot.work.common import WorkEnv
from bot.work.fix import fix
from bot.work.review import review

__all__ = ["WorkEnv", "handlers"]


async def retry(ctx: JobContext, env: WorkEnv, table: dict[str, Handler]) -> Outcome:
    previous = [
        j
        for j in await asyncio.to_thread(ctx.store.jobs, repo=ctx.job.repo, number=ctx.job.number, limit=50)
        if j.id != ctx.job.id and j.state == "failed" and j.kind in ("fix", "review", "ask", "plan")
        # Its arguments are run again: only a record equitr itself stored (bot.seal).
        and ctx.store.authentic(j)
    ]
    if not previous:
        raise ValidationError(
            "There is no failed equitr job here to retry.",
            hint="Start a new one with `/equitr fix` (or `review`, `ask`, `plan`).",
        )
    last = previous[0]
    args = {**last.args, **{k: v for k, v in ctx.job.args.items() if v not in (None, "") and k != "text"}}
    ctx.job = ctx.job.with_(kind=last.kind, args=args, comment_id=last.comment_id or ctx.job.comment_id)
    return await table[last.kind](ctx)


def handlers(env: WorkEnv) -> dict[str, Handler]:
    from bot.control import HANDLERS as control

    table: dict[str, Handler] = dict(control)
    for name, body in (("fix", fix), ("review", review), ("ask", ask), ("plan", plan)):
        table[name] = _bind(body, env)
    table["retry"] = lambda ctx: retry(ctx, env, table)
    return table


def _bind(
    body: Callable[[JobContext, WorkEnv], Awaitable[Outcome]], env: WorkEnv
) -> Callable[[JobContext], Awaitable[Outcome]]:
    async def call(ctx: JobContext) -> Outcome:
        return await body(ctx, env)

    return call
