"""K3: each job's installation token covers the one repository it works on and the permissions its kind needs.

The review saw `POST /app/installations/42/access_tokens` with a body of `{}`: every job's token reached every
repository of the installation with every permission of the App. Here real jobs run through signed webhooks;
the fake GitHub keeps each token request's body and refuses what a token was not granted (as GitHub does),
and the git remote is asked who pushed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from equitr.github import InstallationTokens
from equitr.github.scope import Scope, for_job
from equitr.jobs.model import Job
from equitr.jobs.runner import JobContext
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub
from tests.integration.test_github_e2e import PLAN, REPO, World, comment, open_pr, ref, run_job, world

__all__ = ["world"]

FIX = {"contents": "write", "issues": "write", "pull_requests": "write"}
ASK = {"contents": "read", "issues": "write", "pull_requests": "read"}
REVIEW = {"contents": "read", "pull_requests": "write"}
LOOK = json.dumps({"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "def mean"}}]})


def request_of(fake: FakeGitHub, token: str | None) -> dict[str, object]:
    assert token is not None
    minted = fake.tokens[token]
    assert minted.request is not None, "not an installation token"
    return minted.request


async def test_each_job_kind_mints_a_token_for_its_repository_and_needs_only(world: World) -> None:
    w = world
    w.fake.add_repo("octo/other")  # in the same installation: no job token may reach it
    w.fake.installations[7].repositories.append("octo/other")

    w.model.script += [LOOK, "The answer."]
    _, asked = await comment(w, "/equitr ask what does mean() do?")
    assert (await run_job(w, asked)).state == "done"
    (posted,) = [
        c for c in w.fake.calls_to("POST", f"/repos/{REPO}/issues/1/comments") if "equitr:answer" in json.dumps(c.json)
    ]
    assert request_of(w.fake, posted.token) == {"repositories": ["repo"], "permissions": ASK}

    w.model.script += ["- Adds `add()`", '{"comments": []}']
    _, reviewed = await open_pr(w)
    assert (await run_job(w, reviewed)).state == "done"
    (review,) = w.fake.calls_for("pulls/create-review")
    assert request_of(w.fake, review.token) == {"repositories": ["repo"], "permissions": REVIEW}

    w.model.script += [PLAN, "not json at all"] + ["not json"] * 12
    _, fixed = await comment(w, "/equitr fix")
    await run_job(w, fixed)
    status = [c for c in w.fake.calls if c.path.startswith(f"/repos/{REPO}/issues") and c.method in ("POST", "PATCH")]
    fix_tokens = {c.token for c in status if f"equitr:status:{ref(w, fixed['jobs'][0])}" in json.dumps(c.json)}
    assert fix_tokens and all(
        request_of(w.fake, t) == {"repositories": ["repo"], "permissions": FIX} for t in fix_tokens
    )

    # Only the webhook side (permission checks, 👀) asks for a token of the whole installation, which cannot
    # push (test below); every token a job used is limited, and none reaches the other repository.
    job_tokens = [t for t in w.fake.minted if t.request and "repositories" in t.request]
    assert len(job_tokens) == len(w.fake.minted) - 1
    assert {json.dumps(t.request, sort_keys=True) for t in job_tokens} == {
        json.dumps({"repositories": ["repo"], "permissions": p}, sort_keys=True) for p in (ASK, FIX, REVIEW)
    }
    assert all(t.repositories == [REPO] for t in job_tokens)
    assert not any(t.allows("contents", "write") for t in job_tokens if t.request["permissions"] != FIX)  # type: ignore[index]


async def test_an_ending_delivered_later_uses_a_token_for_comments_on_that_repository(world: World) -> None:
    """The sweeper posts the endings GitHub did not take when the job ended (R2): with a token that can only
    comment on the job's repository, not the fix job's own, nor the installation's."""
    w = world

    def github_goes_away(messages: Any) -> str:
        for method in ("POST", "PATCH"):
            w.fake.fail_next(method, f"/repos/{REPO}/issues/*", disconnect=True, times=100)
        raise KeyError("a bug, while GitHub is away")

    w.model.script.append(github_goes_away)
    _, fixed = await comment(w, "/equitr fix")
    assert (await run_job(w, fixed)).state == "failed"
    w.fake.clear_failures()
    runner = w.run.__self__  # type: ignore[attr-defined]
    assert await runner.deliver_reports(now=time.time() + 3600) == 1
    marker = f"equitr:error:{ref(w, fixed['jobs'][0])}"  # a job's markers carry its uid
    (posted,) = [c for c in w.fake.calls_to("POST", f"/repos/{REPO}/issues/1/comments") if marker in json.dumps(c.json)]
    assert request_of(w.fake, posted.token) == {"repositories": ["repo"], "permissions": {"issues": "write"}}


async def test_a_read_only_token_cannot_push_or_open_a_pull_request(world: World) -> None:
    w = world
    w.model.script += [LOOK, "The answer."]
    _, asked = await comment(w, "/equitr ask what does mean() do?")
    assert (await run_job(w, asked)).state == "done"
    (token,) = [t for t in w.fake.minted if t.request and t.request.get("permissions") == ASK]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{w.fake.base_url}/repos/{REPO}/pulls",
            json={"title": "x", "head": "equitr/issue-1", "base": "main"},
            headers={
                "Authorization": f"token {token.value}",
                "Accept": "application/vnd.github+json",
                "User-Agent": "t",
            },
        ) as resp,
    ):
        assert resp.status == 403


async def test_the_token_cache_keeps_one_token_per_scope(fake_github: FakeGitHub, github_app_key: AppKey) -> None:
    fake_github.add_repo("octo/repo")
    fake_github.add_repo("octo/other")
    fake_github.add_installation(7, repos=["octo/repo", "octo/other"])
    tokens = InstallationTokens(
        app_id=github_app_key.app_id, private_key=github_app_key.pem, base_url=fake_github.base_url
    )
    async with aiohttp.ClientSession() as session:
        fix, ask = for_job("fix", "octo/repo"), for_job("ask", "octo/repo")
        first = await tokens.token(session, 7, fix)
        assert await tokens.token(session, 7, fix) == first  # cached per (installation, scope)
        second = await tokens.token(session, 7, ask)
        other = await tokens.token(session, 7, for_job("ask", "octo/other"))
        whole = await tokens.token(session, 7)
        assert len({first, second, other, whole}) == 4 and tokens.mints == 4
        tokens.invalidate(7, token=first, scope=fix)
        assert await tokens.token(session, 7, ask) == second  # other scopes stay cached
        assert await tokens.token(session, 7, fix) != first
    assert [t.request for t in fake_github.minted[:2]] == [for_job("fix", "octo/repo").body(), ask.body()]
    assert fake_github.minted[3].request == {}


async def test_an_installation_without_the_repository_gives_a_clear_error(
    fake_github: FakeGitHub, github_app_key: AppKey
) -> None:
    from equitr.errors import GitHubError

    fake_github.add_repo("octo/repo")
    fake_github.add_installation(7, repos=["octo/repo"])
    tokens = InstallationTokens(
        app_id=github_app_key.app_id, private_key=github_app_key.pem, base_url=fake_github.base_url
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(GitHubError, match="does not grant that repository or permission") as caught:
            await tokens.token(session, 7, for_job("fix", "octo/elsewhere"))
    assert caught.value.hint and "docs/app.md" in caught.value.hint


def test_retry_asks_for_the_scope_of_the_kind_it_retries() -> None:
    asked: list[Scope | None] = []

    async def github(session: object, installation_id: int | None, /, *, scope: Scope | None = None) -> object:
        asked.append(scope)
        return object()

    job = Job(id=1, kind="retry", repo="octo/repo", number=1, requester="alice", delivery_id="d", state="running")
    ctx = JobContext(job=job, store=None, session=None, _github=github)  # type: ignore[arg-type]

    async def go() -> None:
        await ctx.github()
        await ctx.github()  # same kind: the same client
        ctx.job = job.with_(kind="fix")
        await ctx.github()

    asyncio.run(go())
    assert asked == [for_job("retry", "octo/repo"), for_job("fix", "octo/repo")]
    assert asked[0] is not None and dict(asked[0].permissions) == {"issues": "write"}


async def test_the_webhook_sides_token_cannot_write_code(world: World) -> None:
    """The webhook side (permission checks, 👀, the trigger label from `.equitr.toml`) serves every repository
    of an installation with one token, so that token asks for what it reads and writes, and nothing that
    pushes: no `contents: write`, no `pull_requests: write`."""
    w = world
    w.model.script += [LOOK, "The answer."]
    _, asked = await comment(w, "/equitr ask what does mean() do?")
    assert (await run_job(w, asked)).state == "done"
    (checked,) = w.fake.calls_for("repos/get-collaborator-permission-level")
    (eyes,) = [c for c in w.fake.calls_for("reactions/create-for-issue-comment") if c.status == 201]
    assert checked.token == eyes.token
    assert request_of(w.fake, checked.token) == {"permissions": {"contents": "read", "issues": "write",
                                                                 "metadata": "read"}}  # fmt: skip
    minted = w.fake.tokens[checked.token]  # type: ignore[index]
    assert not minted.allows("contents", "write") and not minted.allows("pull_requests", "write")
