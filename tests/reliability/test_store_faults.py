"""R6 and R8: the store misbehaves under a running `equitr serve`.

R6: a frozen Redis (SIGSTOP) must not stall the event loop: `/healthz` says 503 within seconds, a request
that needs no store is answered at once, deliveries get 503 (GitHub redelivers) instead of hanging; once
Redis is back, everything is stored. R8: when nothing can be written (a file-size limit of one byte on the
server process: every write fails with EFBIG, as on a full disk), `/healthz` says 503, not `ok: true`."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import RedisServer
from tests.reliability.harness import Server, Stack

pytestmark = pytest.mark.slow


async def _unsigned(server: Server) -> tuple[int, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(f"{server.url}/webhook", data=b"{}") as r:
        return r.status, time.monotonic() - started


async def test_a_frozen_redis_stalls_nothing(stack: Stack, tmp_path: Path) -> None:
    settings = ("--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction")
    with RedisServer(tmp_path / "redis", *settings) as redis:
        stack.env["EQUITR_QUEUE_URL"] = redis.url
        server = await stack.serve()
        assert redis.proc is not None
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            sends = [server.post("issue_comment", stack.help_comment(), f"r6-{i}") for i in range(10)]
            health, unsigned, *answers = await asyncio.wait_for(
                asyncio.gather(server.health(), _unsigned(server), *sends), 60
            )
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        print(
            f"\nR6 frozen Redis: /healthz {health[0]} in {health[2]:.2f} s; unsigned {unsigned[0]} in "
            f"{unsigned[1]:.2f} s; deliveries {sorted({a[0] for a in answers})} in at most "
            f"{max(a[2] for a in answers):.2f} s"
        )
        assert health[0] == 503 and health[2] < 5.0
        assert unsigned[0] == 401 and unsigned[1] < 5.0
        assert all(a[0] in (202, 503) for a in answers)
        # Redis is back: /healthz recovers, and GitHub's redeliveries are stored (once each).
        deadline = time.monotonic() + 30
        while (await server.health())[0] != 200:
            assert time.monotonic() < deadline, "healthz did not recover"
            await asyncio.sleep(0.2)
        again = [server.post("issue_comment", stack.help_comment(), f"r6-{i}") for i in range(10)]
        statuses = [a[0] for a in await asyncio.gather(*again)]
        assert all(s in (200, 202) for s in statuses)
        assert len(stack.jobs()) == 10
        server.signal(signal.SIGTERM)


async def test_healthz_is_not_ok_while_nothing_can_be_stored(stack: Stack) -> None:
    server = await stack.serve("--no-workers")
    assert (await server.health())[0] == 200
    assert server.proc is not None
    pid = server.proc.pid
    before = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, before[1]))  # every write past byte 1 fails: EFBIG
    try:
        status, _, _ = await server.post("issue_comment", stack.help_comment(), "r8-1")
        health = await server.health()
        print(f"\nR8 unwritable store: delivery {status}, /healthz {health[0]} {health[1]}")
        assert status == 503  # never a 202 for a job that was not stored
        assert health[0] == 503 and health[1] == {"ok": False}
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, before)
    assert (await server.health())[0] == 200  # recovers without a restart
    status, _, _ = await server.post("issue_comment", stack.help_comment(), "r8-1")
    assert status == 202
    server.signal(signal.SIGTERM)
