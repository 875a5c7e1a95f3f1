"""R3: SIGTERM is a deploy, not a crash. A running job is given the grace period, then handed back to the
queue without counting an attempt, and the next process runs it to its end (once). Its status comment says
so meanwhile ("⏸️ paused: equitr restarted; it resumes by itself"), and shows the ending at the end."""

from __future__ import annotations

import signal

import pytest

from tests.fakes.model_server import Fault
from tests.integration.test_github_e2e import ACCEPT, PLAN
from tests.reliability.harness import Stack, wait_for

pytestmark = pytest.mark.slow




async def test_sigterm_to_serve_hands_the_running_job_back_uncounted(stack: Stack) -> None:
    server = await stack.serve()
    status, answer, _ = await server.post("issue_comment", stack.help_comment(), "term-serve-1")
    assert status == 202
    job_id = answer["jobs"][0]
    stack.hold_the_job()
    await stack.job_held()
    for _deploy in range(3):  # three deploys in a row would have failed the job as three crashes
        took = server.signal(signal.SIGTERM)
        print(f"\nserve exited {took:.2f} s after SIGTERM (grace 1 s)")
        job = stack.job(job_id)
        assert job.state == "queued" and job.attempts == 0, job
        assert "handed back" in server.output()
        stack.hold_the_job()  # before the restart: its start-up sweep takes the job up at once
        server = await stack.serve()
        await stack.job_held()
    stack.github.clear_failures()
    took = server.signal(signal.SIGTERM)
    server = await stack.serve()
    await wait_for(lambda: stack.job(job_id).state == "done", what="the job to end")
    job = stack.job(job_id)
    assert job.attempts == 1, job
    assert len(stack.answers(job)) == 1
    server.signal(signal.SIGTERM)
    assert "Traceback" not in server.output()


async def test_sigterm_to_a_worker_hands_the_job_back_within_the_grace_period(stack: Stack) -> None:
    web = await stack.serve("--no-workers")
    worker = stack.worker()
    status, answer, _ = await web.post("issue_comment", stack.help_comment(), "term-worker-1")
    assert status == 202
    job_id = answer["jobs"][0]
    stack.hold_the_job()
    await stack.job_held()
    took = worker.signal(signal.SIGTERM, wait_s=20)
    print(f"\nequitr worker exited {took:.2f} s after SIGTERM (grace 1 s)")
    job = stack.job(job_id)
    assert job.state == "queued" and job.attempts == 0, job
    stack.github.clear_failures()
    worker = stack.worker()
    await wait_for(lambda: stack.job(job_id).state == "done", what="the job to end on the next worker")
    job = stack.job(job_id)
    assert job.attempts == 1 and len(stack.answers(job)) == 1, job
    worker.signal(signal.SIGTERM)
    assert "Traceback" not in worker.output()


async def test_the_status_of_a_job_handed_back_says_paused_until_it_resumes(stack: Stack) -> None:
    # The first plan call takes its time: SIGTERM comes while the model works on it.
    with stack.models([Fault(delay_s=30, content=PLAN), PLAN, ACCEPT]) as model:
        server = await stack.serve()
        status, answer, _ = await server.post("issue_comment", stack.fix_comment(), "term-status-1")
        assert status == 202
        job_id = answer["jobs"][0]
        await wait_for(lambda: len(model.requests) == 1, what="the job's first model call")
        job = stack.job(job_id)
        (working,) = stack.status_comments(job)
        assert "⏳" in working and "paused" not in working, working
        took = await server.stop(signal.SIGTERM)  # GitHub answers meanwhile: the status is edited on the way out
        print(f"\nserve exited {took:.2f} s after SIGTERM (grace 1 s), the status edited")
        job = stack.job(job_id)
        assert job.state == "queued" and job.attempts == 0, job
        (paused,) = stack.status_comments(job)
        assert "### ⏸️ equitr `fix` — paused: equitr restarted; it resumes by itself" in paused, paused
        server = await stack.serve()
        await wait_for(lambda: stack.job(job_id).state == "done", timeout=120, what="the job to end")
        job = stack.job(job_id)
        assert job.attempts == 1, job
        (done,) = stack.status_comments(job)  # the same comment, edited: paused no more
        assert "### ✅ equitr `fix` — done" in done and "paused" not in done, done
        server.signal(signal.SIGTERM)
    assert "Traceback" not in server.output()
