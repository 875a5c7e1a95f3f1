"""Real `equitr serve` / `equitr worker` processes against the fake GitHub over HTTP, for the fault suite.

A `Stack` owns the environment (App credentials, webhook secret, the store) shared by its processes; the
fake GitHub injects faults (`fail_next`, `hang_next`, `fail_after_next`) and signals do the rest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from equitr.jobs.model import Job
from equitr.jobs.store import open_store
from equitr.sandbox import binaries
from tests.conftest import SECRET, comment_payload, free_port, headers, make_repo
from tests.fakes.fixtures import AppKey
from tests.fakes.git_remote import GitRemote
from tests.fakes.github import FakeGitHub
from tests.fakes.model_server import Fault, ModelServer, serve

REPO = "octo/repo"
MODEL = "openai-compatible/scripted"


class Proc:
    """One equitr process (`serve` or `worker`), its output in `log`."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "equitr", *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def signal(self, sig: int, *, wait_s: float = 60) -> float:
        """Send `sig`, wait for the exit; seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(wait_s)
        return time.monotonic() - started

    async def stop(self, sig: int, *, wait_s: float = 60) -> float:
        """`signal`, with the test's event loop (the fake GitHub's) running meanwhile: for a process that still
        talks to GitHub on its way out."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        while self.proc.poll() is None:
            assert time.monotonic() - started < wait_s, f"still running {wait_s:g} s after signal {sig}"
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Server(Proc):
    def __init__(self, env: dict[str, str], log: Path, *extra: str) -> None:
        self.port = free_port()
        super().__init__(["serve", "--host", "127.0.0.1", "--port", str(self.port), *extra], env, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> Server:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.alive(), self.output()
                try:
                    async with session.get(f"{self.url}/healthz") as r:
                        if r.status in (200, 503):
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("equitr serve did not start:\n" + self.output())

    async def post(self, event: str, data: dict[str, Any], delivery: str) -> tuple[int, Any, float]:
        """(status, JSON answer, seconds to the answer)."""
        body = json.dumps(data).encode()
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/webhook", data=body, headers=headers(body, event, delivery)) as r,
        ):
            answer = await r.json()
            return r.status, answer, time.monotonic() - started

    async def health(self) -> tuple[int, Any, float]:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/healthz") as r:
            return r.status, await r.json(), time.monotonic() - started


class Stack:
    def __init__(self, tmp: Path, github: FakeGitHub, key: AppKey, **env: str) -> None:
        self.tmp = tmp
        self.github = github
        github.add_repo(REPO)
        github.add_installation(7, repos=[REPO])
        github.add_issue(REPO, title="Crash on start", user="alice")
        github.set_permission(REPO, "alice", "write")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
            "GH_APP_ID": str(key.app_id),
            "GH_PRIVATE_KEY": key.pem.get_secret_value(),
            "GH_SECRET": SECRET,
            "GITHUB_API_URL": github.base_url,
            "EQUITR_DB": str(tmp / "equitr.db"),
            "EQUITR_WORKERS": "2",
            "EQUITR_LEASE_SECONDS": "30",
            **env,
        }
        self.procs: list[Proc] = []
        self._logs = 0
        self.held = 0  # a test's bookmark in the fake's call log

    def _log(self, name: str) -> Path:
        self._logs += 1
        return self.tmp / f"{self._logs:02d}-{name}.log"

    async def serve(self, *extra: str) -> Server:
        server = Server(self.env, self._log("serve"), *extra)
        self.procs.append(server.start())
        return await server.ready()

    def worker(self) -> Proc:
        worker = Proc(["worker"], self.env, self._log("worker"))
        self.procs.append(worker.start())
        return worker

    def help_comment(self, number: int = 1) -> dict[str, Any]:
        made = self.github.add_comment(REPO, number, "/equitr help", user="alice")
        return comment_payload(REPO, number=number, comment_id=made["id"], body="/equitr help")

    @contextmanager
    def models(self, script: list[str | Fault]) -> Iterator[ModelServer]:
        """For jobs that use a model: the scripted model server, and the repository on a real git remote."""
        with (
            GitRemote(self.tmp / "served", token_ok=lambda t: t in self.github.tokens) as remote,
            serve(script) as model,
        ):
            bare = remote.add_bare(f"{REPO}.git", make_repo(self.tmp))
            self.github.link_git_remote(REPO, str(bare), clone_url=remote.url(f"{REPO}.git"))
            self.env.update(
                EQUITR_SUPERVISOR_MODEL=MODEL,
                EQUITR_WORKER_MODEL=MODEL,
                OPENAI_BASE_URL=model.url,
                EQUITR_WORKDIR=str(self.tmp / "work"),
                EQUITR_SANDBOX="bwrap" if binaries.bwrap().path else "none",
            )
            yield model

    def fix_comment(self, number: int = 1) -> dict[str, Any]:
        made = self.github.add_comment(REPO, number, "/equitr fix", user="alice")
        return comment_payload(REPO, number=number, comment_id=made["id"], body="/equitr fix")

    def status_comments(self, job: Job, number: int = 1) -> list[str]:
        return [c["body"] for c in self.github.issue_comments(REPO, number) if f"equitr:status:{job.uid}" in c["body"]]

    def store(self) -> Any:
        return open_store(db=self.tmp / "equitr.db", redis_url=self.env.get("EQUITR_QUEUE_URL") or None)

    def jobs(self) -> list[Job]:
        store = self.store()
        try:
            return list(store.jobs(limit=None))
        finally:
            store.close()

    def job(self, job_id: int) -> Job:
        (job,) = [j for j in self.jobs() if j.id == job_id]
        return job

    def answers(self, job: Job, number: int = 1) -> list[dict[str, Any]]:
        return [c for c in self.github.issue_comments(REPO, number) if f"equitr:answer:{job.uid}" in c["body"]]

    def _held(self) -> int:
        return sum(c.status == 503 for c in self.github.calls_to("GET", f"/repos/{REPO}/issues/1/comments"))

    def hold_the_job(self) -> None:
        """GitHub asks the next job to come back in a minute: it waits, `running`, inside its first GitHub call."""
        self.github.fail_next("GET", f"/repos/{REPO}/issues/1/comments", status=503, headers={"retry-after": "60"})
        self.held = self._held()

    async def job_held(self, what: str = "the job to wait on GitHub") -> None:
        """Until the job `hold_the_job` set up for is waiting on GitHub."""
        await wait_for(lambda: self._held() > self.held, what=what)

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.signal(signal.SIGKILL)


async def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
