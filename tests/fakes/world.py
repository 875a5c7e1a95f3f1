"""The GitHub App's world in one process, for integration tests: the OpenAPI-checked fake GitHub with
`octo/repo`, its installation and issue #1; optionally a real git remote on loopback serving the
repository's code; equitr's settings pointing at both; and the ASGI app over the real services.

One home for what the end-to-end, cassette and permission tests each built by hand:

    settings = app_settings(tmp_path, fake_github, github_app_key, **workspace(tmp_path))
    seed(fake_github, title="mean() is wrong", permission="write")
    with served(tmp_path, fake_github, make_repo(tmp_path)) as bare:
        services = services_mod.build(settings)
        async with serving(services) as app:
            status, answer = await deliver_comment(app, fake_github, "/equitr fix")
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from equitr.config.settings import Settings
from equitr.sandbox import binaries
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, comment_payload, headers
from tests.fakes.fixtures import AppKey
from tests.fakes.git_remote import GitRemote
from tests.fakes.github import FakeGitHub

REPO = "octo/repo"
INSTALLATION = 7


def app_settings(tmp_path: Path, fake: FakeGitHub, key: AppKey, **more: Any) -> Settings:
    """The App's settings against the fake GitHub, its job store in `tmp_path`; `more` adds to them."""
    return Settings(
        EQUITR_DB=tmp_path / "equitr.db",
        GH_SECRET=SECRET,
        GH_APP_ID=key.app_id,
        GH_PRIVATE_KEY=key.pem.get_secret_value(),
        GITHUB_API_URL=fake.base_url,
        **more,
    )


def workspace(tmp_path: Path) -> dict[str, Any]:
    """The settings of jobs that check code out: a work directory, and the sandbox where this machine has one."""
    return {"EQUITR_WORKDIR": tmp_path / "work", "EQUITR_SANDBOX": "bwrap" if binaries.bwrap().path else "none"}


def seed(fake: FakeGitHub, *, title: str, body: str = "", user: str = "alice", permission: str | None = None) -> None:
    """`octo/repo` with the App installed and issue #1 by `user` (given `permission` on the repository)."""
    fake.add_repo(REPO)
    fake.add_installation(INSTALLATION, repos=[REPO])
    fake.add_issue(REPO, title=title, body=body, user=user)
    if permission is not None:
        fake.set_permission(REPO, user, permission)


@contextmanager
def served(tmp_path: Path, fake: FakeGitHub, source: Path) -> Iterator[Path]:
    """`source` served as `octo/repo` by a git remote that takes only the fake's installation tokens; yields
    the bare repository (to read what equitr pushed)."""
    with GitRemote(tmp_path / "served", token_ok=lambda t: t in fake.tokens) as remote:
        bare = remote.add_bare(f"{REPO}.git", source)
        fake.link_git_remote(REPO, str(bare), clone_url=remote.url(f"{REPO}.git"))
        yield bare


@asynccontextmanager
async def serving(services: services_mod.Services) -> AsyncIterator[Any]:
    """The webhook app over `services`, as `equitr serve` builds it; closes the services afterwards."""
    try:
        async with aiohttp.ClientSession() as session:
            yield create_app(
                dispatcher=services.dispatcher(services_mod.session_factory(services, session)), secret=SECRET
            )
    finally:
        services.close()


def comment_body(
    fake: FakeGitHub,
    body: str,
    *,
    login: str = "alice",
    number: int = 1,
    pr: bool = False,
    user_type: str = "User",
    via_app: int | None = None,
) -> tuple[int, bytes]:
    """A comment made on the fake GitHub, and the `issue_comment.created` delivery GitHub sends for it:
    (the comment's id, the raw body)."""
    made = fake.add_comment(REPO, number, body, user=login)
    data = comment_payload(
        REPO,
        number=number,
        comment_id=made["id"],
        body=body,
        login=login,
        installation=INSTALLATION,
        pull_request=pr,
        user_type=user_type,
        issue=fake.issue(REPO, number),
    )
    data["comment"]["performed_via_github_app"] = {"id": via_app, "slug": "equitr"} if via_app else None
    return int(made["id"]), json.dumps(data).encode()


async def deliver(app: Any, raw: bytes, delivery: str, event: str = "issue_comment") -> tuple[int, Any]:
    """A signed delivery into the app: (HTTP status, JSON answer)."""
    status, answer = await call(app, "POST", "/webhook", body=raw, headers=headers(raw, event, delivery))
    return status, answer


async def deliver_comment(app: Any, fake: FakeGitHub, body: str, **comment: Any) -> tuple[int, Any]:
    """Make a comment (`comment_body`'s keywords) and deliver it, as GitHub would."""
    comment_id, raw = comment_body(fake, body, **comment)
    return await deliver(app, raw, f"d-{comment_id}")
