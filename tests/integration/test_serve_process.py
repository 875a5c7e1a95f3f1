"""A real `equitr serve` process: deliveries deduplicated across a restart, and a job whose process is
killed with SIGKILL while it runs is taken up again after the restart and run to an end state."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.jobs.store.sqlite import SqliteStore
from tests.conftest import SECRET, comment_payload, free_port, headers, payload
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub

REPO = "octo/repo"


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_args: list[str] = []

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "equitr",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.start_args,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("equitr serve did not start:\n" + self.log.read_text())

    async def post(self, event: str, data: dict[str, Any], delivery: str) -> tuple[int, Any]:
        body = json.dumps(data).encode()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{self.port}/webhook", data=body, headers=headers(body, event, delivery)
            ) as r,
        ):
            return r.status, await r.json()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)


@pytest.fixture
async def server(tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey) -> AsyncIterator[Server]:
    fake_github.add_repo(REPO)
    fake_github.add_installation(7, repos=[REPO])
    fake_github.add_issue(REPO, title="Crash on start", user="alice")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
        "GH_APP_ID": str(github_app_key.app_id),
        "GH_PRIVATE_KEY": github_app_key.pem.get_secret_value(),
        "GH_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.base_url,
        "EQUITR_DB": str(tmp_path / "equitr.db"),
        "EQUITR_WORKERS": "2",
        "EQUITR_LEASE_SECONDS": "30",
        # A stop hands running jobs back after this grace (a deploy); these tests restart servers often.
        "EQUITR_SHUTDOWN_GRACE": "2",
    }
    srv = Server(env, tmp_path / "serve.log")
    await srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.stop()


def jobs(tmp_path: Path) -> list[Any]:
    store = SqliteStore(tmp_path / "equitr.db")
    try:
        return store.jobs()
    finally:
        store.close()


async def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting")


async def test_same_delivery_three_times_and_after_a_restart_is_one_job(server: Server, tmp_path: Path) -> None:
    data = payload("pull_request", "opened")
    data["pull_request"]["draft"] = False
    data["repository"]["full_name"] = REPO
    data["installation"] = {"id": 7, "node_id": "x"}
    answers = [(await server.post("pull_request", data, "dup-1"))[0] for _ in range(3)]
    assert answers == [202, 200, 200]
    server.stop()
    await server.start()
    assert (await server.post("pull_request", data, "dup-1"))[0] == 200
    assert len(jobs(tmp_path)) == 1


async def test_sigkill_while_running_then_restart_runs_the_job_to_its_end(
    server: Server, tmp_path: Path, fake_github: FakeGitHub
) -> None:
    fake_github.set_permission(REPO, "alice", "write")
    made = fake_github.add_comment(REPO, 1, "/equitr help", user="alice")
    # GitHub asks the job to come back in a minute: it sleeps while `running`, and we kill it there.
    fake_github.fail_next("GET", f"/repos/{REPO}/issues/1/comments", status=503, headers={"retry-after": "60"})
    data = comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr help")
    status, answer = await server.post("issue_comment", data, "kill-1")
    assert status == 202
    job_id = answer["jobs"][0]
    await wait_for(
        lambda: any(c.status == 503 for c in fake_github.calls_to("GET", f"/repos/{REPO}/issues/1/comments"))
    )
    assert jobs(tmp_path)[0].state == "running"

    server.stop(signal.SIGKILL)
    (job,) = jobs(tmp_path)
    assert job.state == "running" and job.attempts == 1  # nothing finished it: the process just vanished

    await server.start()
    await wait_for(lambda: jobs(tmp_path)[0].state in ("done", "failed"))
    (job,) = jobs(tmp_path)
    assert job.id == job_id and job.state == "done" and job.attempts == 2, job
    answers = [c for c in fake_github.issue_comments(REPO, 1) if c["body"].startswith(f"<!-- equitr:answer:{job.uid}")]
    assert len(answers) == 1
    # Nothing left behind in the queue.
    from huey import SqliteHuey

    assert SqliteHuey("equitr", filename=str(tmp_path / "equitr.db")).pending_count() == 0
    server.stop()
    assert "Traceback" not in server.log.read_text()


async def test_scale_out_over_redis_webhook_process_and_worker_process(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, redis_url: str
) -> None:
    """`equitr serve --no-workers` takes the webhook; a separate `equitr worker` process runs the job."""
    fake_github.add_repo(REPO)
    fake_github.add_installation(7, repos=[REPO])
    fake_github.add_issue(REPO, title="Crash on start", user="alice")
    fake_github.set_permission(REPO, "alice", "admin")
    made = fake_github.add_comment(REPO, 1, "/equitr help", user="alice")
    db = str(redis_url.rsplit("/", 1)[0] + "/3")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
        "GH_APP_ID": str(github_app_key.app_id),
        "GH_PRIVATE_KEY": github_app_key.pem.get_secret_value(),
        "GH_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.base_url,
        "EQUITR_QUEUE_URL": db,
        "EQUITR_DB": str(tmp_path / "unused.db"),
    }
    web = Server(env, tmp_path / "web.log")
    web.start_args = ["--no-workers"]
    await web.start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "equitr", "worker"],
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        data = comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr help")
        status, answer = await web.post("issue_comment", data, "redis-1")
        assert status == 202
        from equitr.jobs.store.redis import RedisStore

        store = RedisStore(db)

        def state() -> str:
            job = store.get(answer["jobs"][0])
            return job.state if job else ""

        await wait_for(lambda: state() == "done", timeout=30)
        assert any(c["body"].startswith("<!-- equitr:answer:") for c in fake_github.issue_comments(REPO, 1))
        store.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        web.stop()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
