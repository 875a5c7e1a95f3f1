"""`/equitr ask` (an answer from a read-only look at the code) and `/equitr plan` (the plan and its cost)."""

from __future__ import annotations

from equitr.agent.ledger import Ledger
from equitr.agent.loop import Agent, AgentResult, Task
from equitr.agent.report import cost_details
from equitr.errors import ValidationError
from equitr.github import comments
from equitr.handlers.prepare import Prepared, WorkEnv, agent_for, prepare, tool_context
from equitr.handlers.record import record_result
from equitr.handlers.render import plan_body
from equitr.handlers.task import issue_task, thread_at_trigger
from equitr.jobs.runner import JobContext, Outcome
from equitr.models.manager import ModelManager
from equitr.sandbox.workspace import Workspace
from equitr.text.sanitize import sanitize, sanitize_inline


async def _read_only(ctx: JobContext, env: WorkEnv, mode: str) -> tuple[Prepared, Agent, str, AgentResult]:
    p = await prepare(ctx, env)
    issue, thread = await thread_at_trigger(p.gh, ctx)
    question = str(ctx.job.args.get("text") or "")
    task = question if mode == "ask" else issue_task(issue, thread, question)
    token = await env.access.git_token(ctx.session, ctx.job.installation_id, scope=ctx.scope)
    url = str(p.repo["clone_url"])
    async with Workspace(env.workdir).checkout(ctx.job.repo, url, token=token) as checkout:
        agent = agent_for(ctx.session, p, env, tool_context(checkout, env, p.effective))
        if mode == "ask":
            answer, result = await agent.answer(task)
        else:
            answer, result = "", await agent.run(Task(task, mode="plan"))
    record_result(result)
    return p, agent, answer, result


async def ask(ctx: JobContext, env: WorkEnv) -> Outcome:
    p, _, answer, result = await _read_only(ctx, env, "ask")
    if not answer:
        raise result.error or ValidationError(f"No answer: {result.reason}", hint=result.hint or None)
    await post_answer(ctx, p, answer, result.ledger)
    return Outcome("done", "answered", result.ledger.total_usd)


async def post_answer(ctx: JobContext, p: Prepared, answer: str, ledger: Ledger) -> None:
    """The job's answer comment: what was asked (quoted), the model's answer, and what it cost. Both come
    from outside (a commenter, a model), so both are sanitised."""
    body = "\n".join(
        [
            f"> {sanitize_inline(' '.join(str(ctx.job.args.get('text') or '').split())[:500])}",
            "",
            sanitize(answer),
            "",
            *cost_details(ledger, budget_usd=p.effective.budget_usd),
        ]
    )
    await comments.upsert(p.gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.ref, body, author=ctx.identity)


async def plan(ctx: JobContext, env: WorkEnv) -> Outcome:
    p, _, _, result = await _read_only(ctx, env, "plan")
    if result.status == "failed":
        raise result.error or ValidationError(f"No plan: {result.reason}", hint=result.hint or None)
    # A rough estimate: each step costs about one worker call and the run one supervisor review per round.
    manager = ModelManager()
    steps = len(result.plan)
    estimate = manager.estimate_cost(p.worker, 2500 * steps, 400 * steps) + manager.estimate_cost(
        p.supervisor, 4000 * 2, 300 * 2
    )
    fallback = result.ledger.fallbacks > 0
    body = plan_body(
        steps=result.plan,
        estimate_usd=estimate,
        model=f"{p.supervisor} + {p.worker}",
        fallback=fallback,
        ledger=result.ledger,
    )
    await comments.upsert(p.gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.ref, body, author=ctx.identity)
    return Outcome("done", f"plan with {steps} steps", result.ledger.total_usd)
