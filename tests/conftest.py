"""Shared fixtures: real servers the tests start themselves (Redis), and signed deliveries."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from equitr.web.signature import sign

pytest_plugins = ["tests.fakes.fixtures"]

DATA = Path(__file__).parent / "data"
WEBHOOKS = DATA / "webhooks"
SECRET = "test-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook_payloads() -> list[tuple[str, Path]]:
    """Every vendored github.com example as (event name, file)."""
    return list(_webhook_payloads())


@functools.cache
def _webhook_payloads() -> tuple[tuple[str, Path], ...]:
    return tuple(
        sorted(
            (path.parent.name, path)
            for path in WEBHOOKS.glob("*/*.json")
            if path.parent.name not in ("openapi",) and path.name != "index.json"
        )
    )


def payload(event: str, action: str | None = None) -> dict[str, Any]:
    """The first vendored example of `event` (with `action`), as a fresh dict."""
    data: dict[str, Any] = json.loads(_example_text(event, action))
    return data


@functools.cache
def _example_text(event: str, action: str | None) -> str:
    """Read once per process: the load benchmark builds a payload per delivery, and globbing the examples
    each time cost its senders more CPU than the server spent answering."""
    for name, path in _webhook_payloads():
        if name == event and (action is None or path.name.endswith(f".{action}.json")):
            return path.read_text()
    raise LookupError(f"no vendored {event}.{action} example")


def headers(body: bytes, event: str, delivery: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(body, secret),
        "content-type": "application/json",
    }


@pytest.fixture(autouse=True)
def _fresh_model_state() -> Iterator[None]:
    """Each test starts with no model marked dead and no structured-output mode remembered (both are shared
    per process in equitr, `equitr.models.client`)."""
    from equitr.models.client import forget_process_state

    forget_process_state()
    yield


REDIS_PASSWORD = "test-redis-password-0123456789"


class RedisServer:
    """A real redis-server on a free loopback port, for as long as the `with` block runs."""

    def __init__(self, directory: Path, *args: str, password: str | None = REDIS_PASSWORD) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
        self.port = free_port()
        self.password = password
        directory.mkdir(parents=True, exist_ok=True)
        auth = ["--requirepass", password] if password else []
        self.command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory), *auth, *args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server set up as docs/queue.md asks (a password, the append-only file, no eviction),
    stopped after the session."""
    directory = tmp_path_factory.mktemp("redis")
    settings = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction")
    with RedisServer(directory, *settings) as server:
        yield server.url


def setup_network_helper() -> str | None:
    """The helper that would connect a setup command's network namespace here (equitr.sandbox.netns), or None."""
    from equitr.errors import SandboxError
    from equitr.sandbox.netns import choose

    try:
        return choose("auto")
    except SandboxError:
        return None


def _sandboxed_setup_refused() -> bool:
    from equitr.sandbox import binaries

    return binaries.bwrap().path is not None and setup_network_helper() is None


# A setup command in bubblewrap needs slirp4netns or pasta (.ci/run installs both); without either equitr refuses
# it by design (tests/security/test_sec_network.py checks that message), so tests of what a setup installs skip.
needs_setup_network = pytest.mark.skipif(
    _sandboxed_setup_refused(),
    reason="neither slirp4netns nor pasta is installed: sandboxed setup commands are refused",
)


def path_without(directory: Path, *names: str) -> str:
    """A PATH of one directory that links every program on the current PATH (the first of each name) except
    `names`: the machine as it would be without them installed."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not Path(entry).is_dir():
            continue
        for program in Path(entry).iterdir():
            link = directory / program.name
            if program.name in names or link.exists() or link.is_symlink():
                continue
            if program.is_file() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return str(directory)


def make_repo(tmp_path: Path, source: Path = DATA / "sample_repo", name: str = "sample") -> Path:
    """A real git repository with one commit of `source`'s files."""
    repo = tmp_path / name
    shutil.copytree(source, repo)
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def comment_payload(
    repo: str,
    *,
    number: int,
    comment_id: int,
    body: str,
    login: str = "alice",
    installation: int = 7,
    pull_request: bool = False,
    user_type: str = "User",
    issue: dict[str, Any] | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """The vendored `issue_comment.created` example, re-aimed at `repo`#`number` and this comment, made at
    `created_at` (default: now, as GitHub sends the delivery right after the comment is made)."""
    data = payload("issue_comment", "created")
    if issue is not None:  # the issue as the fake GitHub holds it, as GitHub would send it
        data["issue"].update(title=issue["title"], body=issue.get("body"))
    data["repository"]["full_name"] = repo
    data["installation"] = {"id": installation, "node_id": "x"}
    data["issue"]["number"] = number
    if pull_request:
        data["issue"]["pull_request"] = {"url": "x"}
    else:
        data["issue"].pop("pull_request", None)
    when = created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data["comment"].update(id=comment_id, body=body, created_at=when, updated_at=when)
    for who in (data["sender"], data["comment"]["user"]):
        who.update(login=login, type=user_type)
    return data
