"""What the steps of one Action run share, and the two things every step does with it: read the job history
from GitHub before work starts, and run a job here, then write its record back (`equitr.action.history`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from gidgethub import GitHubException

from equitr.action.env import RunnerEnv
from equitr.action.summary import Report
from equitr.config.flags import month_start
from equitr.errors import EquitrError
from equitr.events.decisions import Identity
from equitr.jobs.model import Job
from equitr.jobs.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from gidgethub.abc import GitHubAPI

    from equitr.jobs.runner import Runner
    from equitr.web.services import Services

log = logging.getLogger("equitr.action")


@dataclass(slots=True)
class Run:
    """What every step of one Action run shares."""

    services: Services
    runner: Runner
    gh: GitHubAPI
    identity: Identity


async def load_history(env: RunnerEnv, run: Run, report: Report, number: int | None) -> None:
    """Earlier runs' jobs, read back from their records on GitHub (`equitr.action.history`): the issue's whole history
    (status, cost, retry), then this month's jobs in the repository (the month's spend and budget)."""
    from equitr.action import history

    assert isinstance(run.services.store, SqliteStore)  # the Action's store is always a local SQLite file
    store = run.services.store
    try:
        found = []
        if number is not None:
            found += await history.read_issue(run.gh, env.repository, number, author=run.identity)
        found += await history.read_repo(
            run.gh, env.repository, since=month_start(), author=run.identity
        )
    except (EquitrError, GitHubException, aiohttp.ClientError) as exc:
        # History is an aid, not a precondition: without it this run still does its work.
        report.notes.append(f"Earlier runs' job history could not be read from GitHub ({exc}).")
        log.warning("job history not read: %s", exc)
        return
    adopted = 0
    for job in sorted(found, key=lambda j: (j.number != number, j.created_at)):
        adopted += await asyncio.to_thread(store.adopt, job) is not None
    log.info("job history: %d earlier job(s) read from GitHub", adopted)


async def run_job(run: Run, job_id: int, report: Report) -> Job | None:
    """Run one job through the worker's runner, here; then its record goes to GitHub for later runs."""
    from equitr.action import history

    await run.runner.run(job_id)
    job = await asyncio.to_thread(run.services.store.get, job_id)
    if job is None:
        return None
    report.jobs.append(job)
    try:  # the record later runs read back: without it, this job is missing from their history
        await history.write(run.gh, job, author=run.identity)
    except (EquitrError, GitHubException, aiohttp.ClientError) as exc:
        report.notes.append(f"Job {job.id}'s record could not be written to GitHub ({exc}).")
        log.warning("job %s: record not written: %s", job.id, exc)
    return job
