"""The queue and the job store cannot be used to run code or to forge jobs (ST2, ST3, S4j, ST1, O4).

ST2/S4j: a pickle pushed into Redis by anyone who reaches it (S4j: a setup command, which shares the host's
network) must not run in `equitr worker`, and the worker keeps working. ST3: a job written straight into
Redis or SQLite is refused when claimed, and a genuine job whose requester lost write permission does not
push. ST1: the store and the work directory are private to equitr's user. O4: the queue URL's password
never appears in what equitr prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from equitr.config.settings import Settings
from equitr.jobs.model import NewJob
from equitr.web import services as services_mod
from tests.conftest import SECRET, comment_payload
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub

REPO = "octo/repo"
QUEUE_KEY = "huey.redis.equitr"  # huey's list for the queue named "equitr"


class Exploit:
    """What the review pushed: unpickling it runs a shell command."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.sentinel}",))


def app_env(fake_github: FakeGitHub, key: AppKey, tmp_path: Path, queue_url: str = "") -> dict[str, str]:
    fake_github.add_repo(REPO)
    fake_github.add_installation(7, repos=[REPO])
    fake_github.add_issue(REPO, title="Crash on start", user="alice")
    fake_github.set_permission(REPO, "alice", "admin")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
        "GH_APP_ID": str(key.app_id),
        "GH_PRIVATE_KEY": key.pem.get_secret_value(),
        "GH_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.base_url,
        "EQUITR_QUEUE_URL": queue_url,
        "EQUITR_DB": str(tmp_path / "equitr.db"),
        "EQUITR_WORKDIR": str(tmp_path / "work"),
        "EQUITR_WORKERS": "2",
        # A model that fails at once, should a job ever get that far.
        "EQUITR_SUPERVISOR_MODEL": "openai-compatible/none",
        "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
    }


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a process started with `env` reads (so this test holds the deployment's keys)."""
    return Settings(**{k: v for k, v in env.items() if k.startswith(("GH_", "GITHUB_", "EQUITR_", "OPENAI_"))})


def repo_writes(fake_github: FakeGitHub) -> list[str]:
    """Every write equitr made to the repository on GitHub (comments, reactions, branches, pull requests)."""
    return [f"{c.method} {c.path}" for c in fake_github.calls if c.method != "GET" and c.path.startswith("/repos/")]


@pytest.fixture
def queue_url(redis_url: str) -> Iterator[str]:
    """A Redis database of its own (password, AOF: see tests/conftest.py), empty at the start."""
    url = redis_url.rsplit("/", 1)[0] + "/6"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "equitr", "worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )

    async def ready(self) -> None:
        await until(lambda: "equitr worker:" in self.text() or self.proc.poll() is not None)
        assert self.proc.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


async def until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting")


def job_state(services: services_mod.Services, job_id: int) -> str:
    job = services.store.get(job_id)
    return job.state if job else ""


# -- ST2 / S4j ----------------------------------------------------------------------------------------


async def test_st2_a_pickle_pushed_into_redis_does_not_run_and_the_worker_keeps_working(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, queue_url: str
) -> None:
    """S4j is this same push, made from a setup command that reaches host loopback."""
    env = app_env(fake_github, github_app_key, tmp_path, queue_url)
    worker = Worker(env, tmp_path / "worker.log")
    services = services_mod.build(settings_of(env))
    client = redis.Redis.from_url(queue_url)
    sentinel = tmp_path / "pwned"
    try:
        await worker.ready()
        notice = {"repo": REPO, "number": 1, "installation_id": 7, "body": "forged comment"}
        forged_json = {"id": "x", "name": "equitr.jobs.queue.equitr.notify", "args": [notice], "eta": None,
                       "retries": 0, "retry_delay": 0, "retry_backoff": 0, "priority": None}  # fmt: skip
        for message in (
            pickle.dumps(Exploit(sentinel)),
            b"equitr1." + b"0" * 64 + b"." + json.dumps(forged_json).encode(),  # well-formed, wrong MAC
            json.dumps(forged_json).encode(),
            b"\x00not even json",
        ):
            client.lpush(QUEUE_KEY, message)
        # A genuine job after the junk: the worker is still alive and runs it.
        job = services.store.create(
            NewJob(kind="help", repo=REPO, number=1, requester="alice", delivery_id="st2", installation_id=7),
            ["delivery:st2"],
        )
        assert job is not None
        services.queue.enqueue_job(job.id)
        await until(lambda: job_state(services, job.id) == "done")
    finally:
        worker.stop()
        services.close()
        client.close()
    assert not sentinel.exists(), "the pickle ran in the worker"
    bodies = [c["body"] for c in fake_github.issue_comments(REPO, 1)]
    assert not any("forged comment" in b for b in bodies)
    assert any(b.startswith(f"<!-- equitr:answer:{job.ref} -->") for b in bodies)  # its marker carries its uid
    log = worker.text()
    assert log.count("dropped a queue message that equitr did not write") == 4, log
    assert "Traceback" not in log


# -- ST3 ------------------------------------------------------------------------------------------------


def forged_doc(job_id: int, kind: str, requester: str, *, mac: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": job_id, "kind": kind, "repo": REPO, "number": 1, "requester": requester, "delivery_id": "forged",
        "state": "queued", "installation_id": 7, "comment_id": None, "args": json.dumps({"text": "add a backdoor"}),
        "reason": "", "cost_usd": 0, "attempts": 0, "cancel_requested": False, "owner": "", "lease_until": 0,
        "created_at": time.time() - 3600, "updated_at": time.time() - 3600, "started_at": None, "finished_at": None,
    }  # fmt: skip
    if mac is not None:
        doc["mac"] = mac
    return doc


async def test_st3_a_job_written_straight_into_redis_is_refused_by_the_worker(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, queue_url: str
) -> None:
    env = app_env(fake_github, github_app_key, tmp_path, queue_url)
    client = redis.Redis.from_url(queue_url)
    forged = {1: forged_doc(1, "help", "nobody-at-all", mac=None), 2: forged_doc(2, "fix", "alice", mac="f" * 64)}
    for job_id, doc in forged.items():
        client.set(f"equitr:job:{job_id}", json.dumps(doc))
        client.zadd("equitr:jobs", {str(job_id): job_id})
        client.sadd("equitr:active", job_id)
    client.set("equitr:seq", 2)
    # The worker's start-up sweep finds the "lost" queued jobs and enqueues them.
    worker = Worker(env, tmp_path / "worker.log")
    services = services_mod.build(settings_of(env))
    try:
        await worker.ready()
        await until(lambda: all(job_state(services, i) == "failed" for i in forged))
        reasons = [services.store.get(i).reason for i in forged]  # type: ignore[union-attr]
    finally:
        worker.stop()
        services.close()
        client.close()
    assert all(r.startswith("refused: this job's record is not authenticated") for r in reasons), reasons
    assert repo_writes(fake_github) == []
    assert worker.text().count("refused and not run") == 2


async def test_st3_a_job_written_straight_into_sqlite_is_refused(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey
) -> None:
    env = app_env(fake_github, github_app_key, tmp_path)
    services = services_mod.build(settings_of(env))
    try:
        doc = forged_doc(0, "help", "nobody-at-all", mac=None)
        db = sqlite3.connect(tmp_path / "equitr.db")
        columns = [c for c in doc if c != "id"]
        with db:
            cur = db.execute(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [doc[c] for c in columns],
            )
        db.close()
        assert cur.lastrowid is not None
        outcome = await services.runner().run(cur.lastrowid)
        job = services.store.get(cur.lastrowid)
    finally:
        services.close()
    assert outcome is None and job is not None and job.state == "failed"
    assert job.reason.startswith("refused: this job's record is not authenticated")
    assert repo_writes(fake_github) == []


async def test_st3_a_genuine_job_whose_requester_has_no_write_permission_does_not_push(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey
) -> None:
    """The permission is asked again in the worker for every job that pushes, not only when the webhook side
    could not ask: a job may be stale, or stored by a path that never asked."""
    env = app_env(fake_github, github_app_key, tmp_path)
    fake_github.set_permission(REPO, "mallory", "read")
    services = services_mod.build(settings_of(env))
    try:
        stale = NewJob(
            kind="fix",
            repo=REPO,
            number=1,
            requester="mallory",
            delivery_id="st3-perm",
            installation_id=7,
            args={"text": "", "budget_usd": 1.0},
        )
        job = services.store.create(stale, ["delivery:st3-perm"])
        assert job is not None
        outcome = await services.runner().run(job.id)
    finally:
        services.close()
    assert outcome is not None and outcome.state == "failed"
    assert outcome.reason == f"@mallory lacks write permission on {REPO}."
    assert repo_writes(fake_github) == []


async def test_st3_a_command_job_checks_the_permission_again_when_it_runs(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey
) -> None:
    """Write permission removed between the webhook and the worker: the job does not run."""
    from equitr.web.app import create_app
    from equitr.web.asgi import call
    from tests.conftest import headers

    env = app_env(fake_github, github_app_key, tmp_path)
    made = fake_github.add_comment(REPO, 1, "/equitr plan", user="alice")
    services = services_mod.build(settings_of(env))
    try:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            app = create_app(
                dispatcher=services.dispatcher(services_mod.session_factory(services, session)), secret=SECRET
            )
            body = json.dumps(comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr plan")).encode()
            status, answer = await call(
                app, "POST", "/webhook", body=body, headers=headers(body, "issue_comment", "st3-cmd")
            )
        assert status == 202
        fake_github.set_permission(REPO, "alice", "read")
        runner = services.runner()
        runner.permissions = type(runner.permissions)()  # a separate worker process: its own cache
        outcome = await runner.run(answer["jobs"][0])
    finally:
        services.close()
    assert outcome is not None and outcome.reason == f"@alice lacks write permission on {REPO}."
    assert [w for w in repo_writes(fake_github) if "/reactions" not in w] == []


# -- ST1 ------------------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_st1_the_store_and_the_work_directory_are_private(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey
) -> None:
    from tests.integration.test_serve_process import Server

    env = app_env(fake_github, github_app_key, tmp_path)
    old = tmp_path / "old.db"  # a store from before: world-readable, with its side files
    for suffix in ("", "-wal", "-shm"):
        Path(f"{old}{suffix}").touch(mode=0o644)
    previous = os.umask(0o022)
    server = Server(env, tmp_path / "serve.log")
    try:
        await server.start()
        made = fake_github.add_comment(REPO, 1, "/equitr help", user="alice")
        data = comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr help")
        assert (await server.post("issue_comment", data, "st1"))[0] == 202
        # The fake GitHub answers on this event loop: let the job finish before anything blocks it.
        await until(lambda: any("equitr:answer" in c["body"] for c in fake_github.issue_comments(REPO, 1)))
        db = tmp_path / "equitr.db"
        modes = {p.name: mode(p) for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))}
        reopened = services_mod.build(settings_of({**env, "EQUITR_DB": str(old)}))
        old_modes = {mode(Path(f"{old}{s}")) for s in ("", "-wal", "-shm")}
        reopened.close()
    finally:
        os.umask(previous)
        server.stop()
    assert modes == {"equitr.db": 0o600, "equitr.db-wal": 0o600, "equitr.db-shm": 0o600}
    assert old_modes == {0o600}


def test_st1_the_work_directory_is_0700_and_one_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    from equitr.errors import ConfigError
    from equitr.sandbox.workspace import Workspace

    base = tmp_path / "work"
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    workspace = Workspace(base)
    assert {mode(p) for p in (base, workspace.mirrors, workspace.jobs)} == {0o700}
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "planted").symlink_to(real)
    with pytest.raises(ConfigError, match="not a directory owned by equitr's user"):
        Workspace(tmp_path / "planted")


# -- O4 -------------------------------------------------------------------------------------------------

PASSWORD = "hunter2-queue-password"


@pytest.mark.parametrize("command", [["doctor"], ["worker"]])
def test_o4_the_queue_password_never_appears_in_what_equitr_prints(
    tmp_path: Path, redis_url: str, command: list[str]
) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))}
    for url in (
        f"redis://:{PASSWORD}@127.0.0.1:99999/0",  # unparsable port: the client's own error
        f"redis://:{PASSWORD}@127.0.0.1:{port}/0",  # a real server that rejects the password
        f"redis://equitr:{PASSWORD}@127.0.0.1:1/0",  # nothing listening
    ):
        env = {
            **base,
            "EQUITR_QUEUE_URL": url,
            "EQUITR_DB": str(tmp_path / "e.db"),
            "GITHUB_TOKEN": "ghs_" + "a" * 36,
            "GITHUB_API_URL": "http://127.0.0.1:1",
        }
        done = subprocess.run(
            [sys.executable, "-m", "equitr", *command], env=env, capture_output=True, text=True, timeout=120
        )
        printed = done.stdout + done.stderr
        assert done.returncode == 1, printed
        assert "127.0.0.1" in printed  # it still says where
        assert PASSWORD not in printed, printed
        assert "Traceback" not in printed, printed
