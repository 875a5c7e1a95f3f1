"""R5: comment writes are idempotent. When GitHub loses its answer to a POST (a 502 or a reset after the
comment was made) or the connection drops before it, the job still ends `done` with exactly one answer."""

from __future__ import annotations

import signal

import pytest

from tests.reliability.harness import REPO, Stack, wait_for

pytestmark = pytest.mark.slow

COMMENTS = f"/repos/{REPO}/issues/1/comments"


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("502 after the write", {"status": 502, "after": True}),
        ("500 after the write", {"status": 500, "after": True}),
        ("reset after the write", {"disconnect": True, "after": True}),
        ("reset before the write", {"disconnect": True}),
    ],
)
async def test_one_answer_whatever_happens_to_the_post(stack: Stack, fault: str, options: dict[str, object]) -> None:
    server = await stack.serve()
    stack.github.fail_next("POST", COMMENTS, **options)  # type: ignore[arg-type]
    status, answer, _ = await server.post("issue_comment", stack.help_comment(), "r5")
    assert status == 202
    job_id = answer["jobs"][0]
    await wait_for(lambda: stack.job(job_id).state in ("done", "failed"), timeout=60, what="the job to end")
    job = stack.job(job_id)
    assert job.state == "done", (fault, job.reason)
    assert len(stack.answers(job)) == 1, fault
    server.signal(signal.SIGTERM)
