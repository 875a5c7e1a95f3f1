"""P2c and K2c through `equitr action` as GitHub's runner starts it: a separate process with `GITHUB_ACTIONS=true`,
a `pull_request` event (an automatic review), the fake GitHub, and a model server on loopback whose error
replies are hostile.

P2c: the runner reads stdout and stderr for workflow commands (`::error …`, `::add-mask::`,
`::stop-commands::`). The review put a provider's multi-line text into the log line `job 1 ended failed …`,
so `::error title=equitr::SPOOFED` started a line of stderr. K2c: a provider's 401 body echoed our request
(`Authorization: Basic base64("x-access-token:TOKEN")`, other headers), and the Basic credential reached the
public error comment.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.github import FakeGitHub
from tests.integration.test_action import (
    REPO,
    ROOT,
    TOKEN,
    USER,
    fake,
    fake_github,
    github_app_key,
    runner_env,
    vendored,
)

__all__ = ["fake", "fake_github", "github_app_key", "runner_env"]  # fixtures used below

Reply = tuple[int, str]


@pytest.fixture
async def model_server() -> AsyncIterator[Callable[[Reply], Awaitable[str]]]:
    """Starts Ollama-compatible servers on loopback that answer every request with one (status, body)."""
    runners: list[web.AppRunner] = []

    async def start(reply: Reply) -> str:
        async def answer(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=reply[0], text=reply[1], content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def run_review(fake: FakeGitHub, runner_env: Any, url: str) -> tuple[str, str, int]:
    """`python -m equitr.action` on a `pull_request` event; the review's model is at `url`."""
    pull = fake.add_pull(REPO, title="Update the README", head="changes", user=USER)
    payload = vendored("pull_request", "00.opened.json")
    payload["number"] = payload["pull_request"]["number"] = pull["number"]
    env = {**os.environ, **runner_env("pull_request", payload), "OLLAMA_HOST": url}
    env["EQUITR_SUPERVISOR_MODEL"] = "ollama/qwen3:30b"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "equitr.action", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode(), int(pull["number"])


SPOOF = "cannot\n::error title=equitr::SPOOFED\r\n::add-mask::hidden\n::set-output name=x::y\n::stop-commands::zz"


async def test_no_log_line_can_start_a_workflow_command(fake: FakeGitHub, runner_env: Any, model_server: Any) -> None:
    url = await model_server((401, json.dumps({"error": SPOOF})))
    out, err, _ = await run_review(fake, runner_env, url)
    assert "SPOOFED" in err, "the hostile text must have reached the log (escaped)"
    lines = (out + err).splitlines()
    ours = re.compile(r"::stop-commands::[0-9a-f]{32}|::[0-9a-f]{32}::|::(warning|error) title=equitr::.*")
    spoofed = [line for line in lines if re.match(r"\s*::", line) and not ours.fullmatch(line)]
    assert spoofed == []  # no line the model or provider wrote starts a workflow command
    pause = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", out.splitlines()[0])
    assert pause, out  # and the jobs ran with workflow commands paused, under a random token …
    assert f"::{pause.group(1)}::" in out.splitlines()  # … resumed after them


async def test_a_providers_error_body_keeps_only_its_message_and_no_credential(
    fake: FakeGitHub, runner_env: Any, model_server: Any, tmp_path: Path
) -> None:
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    body = {
        "error": {"message": f"Unauthorized. Authorization: Basic {basic} was not accepted for sk-proj-{'Zq9' * 10}"},
        "request": {"headers": {"X-Debug": "CANARY-OUTSIDE-THE-MESSAGE"}},
    }
    url = await model_server((401, json.dumps(body)))
    out, err, number = await run_review(fake, runner_env, url)
    (error,) = [c["body"] for c in fake.issue_comments(REPO, number) if "<!-- equitr:error:" in c["body"]]
    assert "Unauthorized" in error
    published = "\n".join([error, out, err, (tmp_path / "summary.md").read_text()])
    for secret in (basic, TOKEN, "Zq9Zq9Zq9", "CANARY-OUTSIDE"):
        assert secret[:16] not in published and secret[-16:] not in published, secret


async def test_a_body_that_is_not_json_is_not_echoed(fake: FakeGitHub, runner_env: Any, model_server: Any) -> None:
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    url = await model_server((401, f"authorization:Basic {basic}\nX-Canary: CANARY-RAW-BODY\n"))
    _, _, number = await run_review(fake, runner_env, url)
    (error,) = [c["body"] for c in fake.issue_comments(REPO, number) if "<!-- equitr:error:" in c["body"]]
    assert "HTTP 401" in error and "CANARY-RAW-BODY" not in error and basic[:16] not in error
