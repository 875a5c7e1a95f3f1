"""R11: a job stored just before a crash, whose queue message was never written, runs as soon as equitr is
back (not after the minute sweep's grace)."""

from __future__ import annotations

import signal

import pytest

from equitr.config.settings import Settings
from equitr.jobs import seal
from equitr.jobs.model import NewJob
from equitr.jobs.store.sqlite import SqliteStore
from tests.reliability.harness import REPO, Stack, wait_for

pytestmark = pytest.mark.slow


async def test_a_job_stored_without_its_queue_message_runs_right_after_the_restart(stack: Stack) -> None:
    made = stack.github.add_comment(REPO, 1, "/equitr help", user="alice")
    settings = Settings(**{k: v for k, v in stack.env.items() if k.startswith(("GH_", "GITHUB_"))})
    store = SqliteStore(stack.tmp / "equitr.db", key=seal.derive(seal.master_key(settings), "job"))
    # What a crash between the store's commit and the queue's write leaves behind: the job, no message.
    job = store.create(
        NewJob("help", REPO, 1, "alice", "crash-1", installation_id=7, comment_id=made["id"]), ["delivery:crash-1"]
    )
    store.close()
    assert job is not None
    server = await stack.serve()
    # The minute sweep would take it only once it is 30 s old; the start-up sweep takes it at once.
    await wait_for(lambda: stack.job(job.id).state == "done", timeout=20, what="the stored job to run")
    assert len(stack.answers(stack.job(job.id))) == 1
    server.signal(signal.SIGTERM)
