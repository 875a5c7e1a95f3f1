"""One Action run, start to end: the services in this process, then the work the event asks for.

An `issue_comment`, `issues` or `pull_request` event goes through the webhook server's own Dispatcher and its
jobs run here; a manual task or the backlog is the scheduler's (`equitr.action.backlog`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp

from equitr.action import backlog
from equitr.action.env import DISPATCHED_EVENTS, Options, RunnerEnv
from equitr.action.run import Run, load_history, run_job
from equitr.action.summary import Report

if TYPE_CHECKING:
    from equitr.config.settings import Settings


async def execute(env: RunnerEnv, options: Options, settings: Settings) -> Report:
    from equitr.web import services as services_mod

    report = Report(env=env, options=options)
    services = services_mod.build(settings)
    try:
        async with aiohttp.ClientSession() as session:
            github = services_mod.session_factory(services, session)
            runner = services.runner()
            # Nothing runs a job after this run ends (its store is gone): GitHub's rate limits are waited out
            # here, never parked for later.
            runner.enqueue_later = None
            run = Run(services, runner, await github(None), await services.access.identity(session))
            if env.event_name in DISPATCHED_EVENTS:
                job_ids = await _dispatch(env, options, run, github, report)
                # Replies that are not jobs (usage help, the polite refusal), posted now.
                for notice in services.queue.drain_notices():
                    await run.runner.post_notice(notice)
                for job_id in job_ids:
                    await run_job(run, job_id, report)
            elif options.task:
                await backlog.task(env, options, run, report)
            else:
                await backlog.backlog(env, options, run, report)
    finally:
        services.close()
    return report


def _target(env: RunnerEnv) -> int | None:
    """The issue or pull request the event is about, if any."""
    for key in ("issue", "pull_request"):
        item = env.payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            return int(item["number"])
    return None


async def _dispatch(env: RunnerEnv, options: Options, run: Run, github: Any, report: Report) -> list[int]:
    """The webhook server's own path: feature routers, permission check, durable job, 👀; first, when the
    event asks for work, the job history (an event for someone else costs no GitHub call for it)."""
    from equitr.web.dispatch import Dispatcher

    services = run.services

    dispatcher = Dispatcher(
        store=services.store,
        queue=services.queue,
        github=github,
        permissions=services.permissions,
        identity=services.identity,
        trigger_label=options.label,
        max_age_s=None,  # the runner's event comes from GitHub itself: it cannot be a replay
    )
    if await dispatcher.asks_for_work(env.event_name, env.delivery_id, env.payload):
        await load_history(env, run, report, _target(env))
    outcome = await dispatcher.dispatch(env.event_name, env.delivery_id, env.payload)
    await dispatcher.acknowledge(outcome.acks)
    if not outcome.job_ids:
        report.notes.append(f"No job for this `{env.event_name}` event: {outcome.message}.")
    return outcome.job_ids

