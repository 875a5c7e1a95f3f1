"""R4: the answer to a delivery never waits on GitHub. Whatever GitHub does to the permission check (errors,
a hang, a rate limit), the delivery is stored and answered at once; the worker asks again and runs the job
once GitHub is back. The seconds are printed (GitHub gives up after 10 s); the bound asserted is generous."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.fakes.github import FakeGitHub
from tests.reliability.harness import REPO, Stack, wait_for

pytestmark = pytest.mark.slow

PERMISSION = f"/repos/{REPO}/collaborators/alice/permission"

FAULTS: dict[str, Callable[[FakeGitHub], None]] = {
    "500s": lambda gh: gh.fail_next("GET", PERMISSION, status=500, times=20),
    "hang": lambda gh: gh.hang_next("GET", PERMISSION, seconds=30),
    "secondary-limit": lambda gh: gh.secondary_rate_limit_next("GET", PERMISSION, retry_after=20, times=3),
    "primary-limit": lambda gh: gh.rate_limit_next("GET", PERMISSION, reset_in=30, times=3),
    "reset": lambda gh: gh.fail_next("GET", PERMISSION, disconnect=True, times=20),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_the_answer_does_not_wait_for_github(stack: Stack, fault: str) -> None:
    server = await stack.serve()
    FAULTS[fault](stack.github)
    status, answer, seconds = await server.post("issue_comment", stack.help_comment(), f"r4-{fault}")
    print(f"\nR4 {fault}: answered {status} in {seconds:.2f} s")
    assert status == 202 and seconds < 5.0
    stack.github.clear_failures()  # GitHub heals; the worker checks the permission and runs the job
    job_id = answer["jobs"][0]
    await wait_for(lambda: stack.job(job_id).state == "done", timeout=90, what="the job to end")
    assert len(stack.answers(stack.job(job_id))) == 1
    server.signal(signal.SIGTERM)
