"""R9: a rate limit does not hold a worker. A help job stopped by a secondary limit (retry-after 20 s) is
parked in the queue until the limit resets, its attempt not counted; meanwhile the only worker runs another
installation's job. Then the parked job runs, once."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import comment_payload
from tests.reliability.harness import REPO, Stack, wait_for

pytestmark = pytest.mark.slow

OTHER = "octo/other"


async def test_a_rate_limited_job_is_parked_and_frees_the_worker(stack: Stack) -> None:
    stack.env["EQUITR_WORKERS"] = "1"
    gh = stack.github
    gh.add_repo(OTHER)
    gh.add_installation(8, repos=[OTHER])
    gh.add_issue(OTHER, title="Another", user="alice")
    gh.set_permission(OTHER, "alice", "write")
    other = gh.add_comment(OTHER, 1, "/equitr help", user="alice")
    server = await stack.serve()
    gh.secondary_rate_limit_next("POST", f"/repos/{REPO}/issues/1/comments", retry_after=20)
    _, first, _ = await server.post("issue_comment", stack.help_comment(), "r9-limited")
    limited = first["jobs"][0]
    await wait_for(lambda: any(c.status == 403 for c in gh.calls_to("POST", f"/repos/{REPO}/issues/1/comments")))
    data = comment_payload(OTHER, number=1, comment_id=other["id"], body="/equitr help", installation=8)
    _, second, _ = await server.post("issue_comment", data, "r9-other")
    free = second["jobs"][0]
    await wait_for(lambda: stack.job(free).state == "done", timeout=15, what="the other installation's job")
    assert stack.job(limited).state == "queued" and stack.job(limited).attempts == 0  # parked, not running
    await wait_for(lambda: stack.job(limited).state == "done", timeout=60, what="the parked job after the reset")
    job = stack.job(limited)
    assert job.attempts == 1 and len(stack.answers(job)) == 1
    server.signal(signal.SIGTERM)
