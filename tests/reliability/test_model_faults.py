"""R7: a model that accepts the call and never answers. Each try ends after EQUITR_MODEL_TIMEOUT (here 1 s;
before, 300 s with four tries: 1,206 s measured), the job ends `failed`, and its error comment names the
setting that bounds the wait."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import comment_payload, free_port, make_repo
from tests.fakes.git_remote import GitRemote
from tests.reliability.harness import REPO, Stack, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
async def hanging_model() -> AsyncIterator[str]:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", hang)
    runner = web.AppRunner(app, shutdown_timeout=1.0)  # the hanging calls are not waited for
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_a_hung_model_fails_the_job_within_the_configured_timeout(
    stack: Stack, tmp_path: Path, hanging_model: str
) -> None:
    with GitRemote(tmp_path / "served", token_ok=lambda t: t in stack.github.tokens) as remote:
        bare = remote.add_bare(f"{REPO}.git", make_repo(tmp_path))
        stack.github.link_git_remote(REPO, str(bare), clone_url=remote.url(f"{REPO}.git"))
        stack.env.update(
            EQUITR_SUPERVISOR_MODEL="openai-compatible/hangs",
            OPENAI_BASE_URL=hanging_model,
            OPENAI_API_KEY="sk-reliability",
            EQUITR_MODEL_TIMEOUT="1",
            EQUITR_WORKDIR=str(tmp_path / "work"),
            **({} if shutil.which("bwrap") else {"EQUITR_SANDBOX": "none"}),
        )
        server = await stack.serve()
        made = stack.github.add_comment(REPO, 1, "/equitr ask what does mean() do?", user="alice")
        data = comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr ask what does mean() do?")
        status, answer, _ = await server.post("issue_comment", data, "r7-hang")
        assert status == 202
        job_id = answer["jobs"][0]
        started = time.monotonic()
        await wait_for(lambda: stack.job(job_id).state in ("done", "failed"), timeout=120, what="the job to end")
        print(f"\nR7 hung model: job ended {stack.job(job_id).state} {time.monotonic() - started:.1f} s after the 202")
        job = stack.job(job_id)
        assert job.state == "failed"
        await wait_for(
            lambda: any(f"equitr:error:{job.uid}" in c["body"] for c in stack.github.issue_comments(REPO, 1)),
            what="the error comment",
        )
        (error,) = [c["body"] for c in stack.github.issue_comments(REPO, 1) if f"equitr:error:{job.uid}" in c["body"]]
        assert "EQUITR_MODEL_TIMEOUT" in error and "Traceback" not in error
        server.signal(signal.SIGTERM)
