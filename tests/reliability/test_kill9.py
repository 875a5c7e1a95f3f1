"""`kill -9` against a real `equitr serve`: nothing acknowledged is lost or run twice (SQLite, and Redis with
its append-only file), and a job whose workers keep dying ends on the issue even when GitHub is away at that
moment (R2).

The senders behave as GitHub does: a delivery that got no answer (the server died, or answered 503) is sent
again with the same delivery id until it is acknowledged; some acknowledged ones are sent again too, as
GitHub's "redeliver" button does."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.jobs.store.rules import MAX_ATTEMPTS
from tests.conftest import RedisServer
from tests.reliability.harness import REPO, Server, Stack, wait_for

pytestmark = pytest.mark.slow

DELIVERIES = 60
KILLS = 6


@contextlib.contextmanager
def _store(stack: Stack, kind: str, tmp_path: Path) -> Iterator[None]:
    if kind == "sqlite":
        yield
        return
    with RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always", "--save", "") as redis:
        stack.env["EQUITR_QUEUE_URL"] = redis.url
        yield


class Servers:
    """The one `equitr serve` of the moment; `kill` takes it down with SIGKILL and starts the next."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.current: Server | None = None
        self.kills = 0

    async def start(self) -> None:
        self.current = await self.stack.serve()

    async def kill(self) -> None:
        assert self.current is not None
        self.current.signal(signal.SIGKILL)
        self.kills += 1
        await asyncio.sleep(float(self.stack.env["EQUITR_LEASE_SECONDS"]) + 0.5)  # its leases run out
        await self.start()


async def _deliver(servers: Servers, data: dict[str, Any], delivery: str, acknowledged: dict[str, int]) -> None:
    """Send one delivery until it is acknowledged (200 or 202), as GitHub redelivers."""
    while True:
        server = servers.current
        if server is not None:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, AssertionError):
                status, _, _ = await server.post("issue_comment", data, delivery)
                if status in (200, 202):
                    acknowledged[delivery] = acknowledged.get(delivery, 0) + 1
                    return
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_kill_9_loses_nothing_acknowledged_and_runs_nothing_twice(
    stack: Stack, tmp_path: Path, kind: str
) -> None:
    stack.env["EQUITR_LEASE_SECONDS"] = "2"
    with _store(stack, kind, tmp_path):
        servers = Servers(stack)
        await servers.start()
        acknowledged: dict[str, int] = {}
        pace = random.Random(9)

        async def senders() -> None:
            for n in range(DELIVERIES):
                data = stack.help_comment()
                await _deliver(servers, data, f"kill9-{n}", acknowledged)
                if pace.random() < 0.2:  # GitHub's "redeliver": the same delivery again, already stored
                    await _deliver(servers, data, f"kill9-{n}", acknowledged)
                await asyncio.sleep(pace.uniform(0, 0.05))

        def progressed(done_before: int) -> bool:
            # A kill waits for progress since the last start, and for any job already interrupted once to
            # end: each kill may count an attempt, and a job killed three times is given up by design (the
            # other test), which a slow machine would otherwise reach by chance.
            jobs = stack.jobs()
            done = sum(j.state == "done" for j in jobs)
            moved = done > done_before or done == len(jobs)
            return moved and not any(j.state == "running" and j.attempts >= 2 for j in jobs)

        async def killer() -> None:
            while servers.kills < KILLS:
                done_before = sum(j.state == "done" for j in stack.jobs())
                await asyncio.sleep(pace.uniform(0.3, 1.5))
                await wait_for(lambda n=done_before: progressed(n), timeout=60, what="progress between kills")
                await servers.kill()

        await asyncio.gather(senders(), killer())
        await wait_for(
            lambda: all(j.state == "done" for j in stack.jobs()), timeout=120, what="every acknowledged job to end"
        )
        jobs = stack.jobs()
        answers = {job.uid: len(stack.answers(job)) for job in jobs}
        print(
            f"\n{kind}: {len(acknowledged)} deliveries acknowledged ({sum(acknowledged.values())} answers, "
            f"redeliveries included), {servers.kills} kill -9s, {len(jobs)} jobs, "
            f"attempts {sorted({j.attempts for j in jobs})}"
        )
        assert len(acknowledged) == DELIVERIES and servers.kills == KILLS
        assert len(jobs) == DELIVERIES  # one job per delivery: redeliveries and retries stored nothing twice
        assert len({j.id for j in jobs}) == DELIVERIES
        assert all(j.state == "done" for j in jobs)
        assert set(answers.values()) == {1}, answers  # each ran to one answer, none twice
        assert servers.current is not None
        servers.current.signal(signal.SIGTERM)



async def test_a_job_whose_workers_keep_dying_ends_on_the_issue_once_github_is_back(stack: Stack) -> None:
    """R2: three `kill -9`s while the job runs, then the fourth process gives it up while GitHub refuses
    every write; the ending is kept and posted by the minute sweep once GitHub answers again."""
    stack.env["EQUITR_LEASE_SECONDS"] = "2"
    servers = Servers(stack)
    await servers.start()
    assert servers.current is not None
    stack.hold_the_job()
    status, answer, _ = await servers.current.post("issue_comment", stack.help_comment(), "r2-1")
    assert status == 202
    job_id = answer["jobs"][0]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        await stack.job_held(f"attempt {attempt} to run")
        assert stack.job(job_id).state == "running"
        if attempt < MAX_ATTEMPTS:
            stack.hold_the_job()  # before the restart: its start-up sweep takes the job up at once
        else:  # GitHub goes away as the next process gives the job up
            for method in ("POST", "PATCH"):
                stack.github.fail_next(method, f"/repos/{REPO}/issues/*", status=502, times=1000)
        await servers.kill()

    await wait_for(lambda: stack.job(job_id).state == "failed", what="the job to be given up")
    job = stack.job(job_id)
    assert f"{MAX_ATTEMPTS} attempts" in job.reason
    await wait_for(lambda: _delivery_tries(stack, job_id) >= 1, timeout=90, what="a refused delivery")
    assert not _errors(stack, job.uid)  # GitHub refused it: kept in the outbox, not lost
    gone_at = time.monotonic()
    stack.github.clear_failures()
    await wait_for(lambda: _errors(stack, job.uid), timeout=150, what="the kept ending to be posted")
    print(f"\nR2: the ending reached the issue {time.monotonic() - gone_at:.0f} s after GitHub came back")
    (error,) = _errors(stack, job.uid)
    assert "Gave up after 3 attempts" in error and "/equitr retry" in error and "Traceback" not in error
    assert servers.current is not None
    servers.current.signal(signal.SIGTERM)


def _delivery_tries(stack: Stack, job_id: int) -> int:
    store = stack.store()
    try:
        return max((p.tries for p in store.reports_due(time.time() + 86_400, 100) if p.job_id == job_id), default=0)
    finally:
        store.close()


def _errors(stack: Stack, uid: str) -> list[str]:
    return [c["body"] for c in stack.github.issue_comments(REPO, 1) if f"equitr:error:{uid}" in c["body"]]
