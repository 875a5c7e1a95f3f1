"""R9: a rate limit does not hold a worker. A help job stopped by a secondary limit (retry-after 20 s) is
parked in the queue until the limit resets, its attempt not counted; meanwhile the only worker runs another
installation's job. Then the parked job runs, once. So is a `fix` job stopped before its first model call
(a re-run costs nothing more): it is parked the same way, and later runs once, paying the model once."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import comment_payload
from tests.integration.test_github_e2e import ACCEPT, PLAN
from tests.reliability.harness import REPO, Server, Stack, wait_for

pytestmark = pytest.mark.slow

OTHER = "octo/other"


def _other_installation(stack: Stack) -> dict[str, object]:
    """Another installation's repository, with a `/equitr help` comment to run there."""
    gh = stack.github
    gh.add_repo(OTHER)
    gh.add_installation(8, repos=[OTHER])
    gh.add_issue(OTHER, title="Another", user="alice")
    gh.set_permission(OTHER, "alice", "write")
    other = gh.add_comment(OTHER, 1, "/equitr help", user="alice")
    return comment_payload(OTHER, number=1, comment_id=other["id"], body="/equitr help", installation=8)


async def _limited_while_another_runs(
    stack: Stack, server: Server, limited: dict[str, Any], other: dict[str, Any], name: str
) -> int:
    """Send `limited`, whose first comment write meets a secondary rate limit (a 20 s wait), then `other`
    (another installation's), and wait until `other`'s job is done; the limited job's id."""
    posts = f"/repos/{REPO}/issues/1/comments"
    stack.github.secondary_rate_limit_next("POST", posts, retry_after=20)
    _, first, _ = await server.post("issue_comment", limited, f"{name}-limited")
    await wait_for(lambda: any(c.status == 403 for c in stack.github.calls_to("POST", posts)))
    _, second, _ = await server.post("issue_comment", other, f"{name}-other")
    free = second["jobs"][0]
    await wait_for(lambda: stack.job(free).state == "done", timeout=15, what="the other installation's job")
    return int(first["jobs"][0])


async def test_a_rate_limited_job_is_parked_and_frees_the_worker(stack: Stack) -> None:
    stack.env["EQUITR_WORKERS"] = "1"
    data = _other_installation(stack)
    server = await stack.serve()
    limited = await _limited_while_another_runs(stack, server, stack.help_comment(), data, "r9")
    assert stack.job(limited).state == "queued" and stack.job(limited).attempts == 0  # parked, not running
    await wait_for(lambda: stack.job(limited).state == "done", timeout=60, what="the parked job after the reset")
    job = stack.job(limited)
    assert job.attempts == 1 and len(stack.answers(job)) == 1
    server.signal(signal.SIGTERM)


async def test_a_fix_job_limited_before_its_first_model_call_is_parked_too(stack: Stack) -> None:
    stack.env["EQUITR_WORKERS"] = "1"
    gh = stack.github
    data = _other_installation(stack)
    with stack.models([PLAN, ACCEPT]) as model:
        server = await stack.serve()
        # Its first write (the status comment) meets a secondary limit: a 20 s wait, before any model call.
        limited = await _limited_while_another_runs(stack, server, stack.fix_comment(), data, "r9-fix")
        job = stack.job(limited)
        assert job.state == "queued" and job.attempts == 0, job  # parked, not holding the worker
        assert model.requests == []  # stopped before any model work: parking cost nothing
        assert "parked" in server.output()
        await wait_for(lambda: stack.job(limited).state == "done", timeout=120, what="the parked fix after the reset")
        job = stack.job(limited)
        assert job.attempts == 1, job
        assert len(model.requests) == 2  # the plan and the review, once
        (status,) = stack.status_comments(job)  # one status comment, edited in place
        assert "### ✅ equitr `fix` — done" in status, status
        assert len(gh.repos[REPO].pulls) == 1
        server.signal(signal.SIGTERM)
    assert "Traceback" not in server.output()
