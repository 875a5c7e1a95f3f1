"""Who may start work, asked of a fake GitHub that checks every request against GitHub's OpenAPI
description: the permission matrix, bots and equitr itself, one polite refusal per user per issue, 👀."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from equitr.web import services as services_mod
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub
from tests.fakes.world import INSTALLATION, REPO, app_settings, comment_body, deliver, seed, serving

Env = tuple[Any, services_mod.Services, FakeGitHub]


@pytest.fixture
async def env(tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey) -> AsyncIterator[Env]:
    seed(fake_github, title="Crash on start")
    services = services_mod.build(app_settings(tmp_path, fake_github, github_app_key))
    async with serving(services) as app:
        yield app, services, fake_github


@pytest.mark.parametrize(
    ("role", "starts"),
    [
        ("admin", True),
        ("maintain", True),
        ("write", True),
        ("triage", False),
        ("read", False),
        ("none", False),
        (None, False),
    ],
)
async def test_permission_matrix(env: Env, role: str | None, starts: bool) -> None:
    app, services, fake = env
    fake.set_permission(REPO, "carol", role)
    comment_id, raw = comment_body(fake, "/equitr help", login="carol")
    status, answer = await deliver(app, raw, "d-1")
    assert (status == 202) is starts, answer
    assert len(services.store.jobs()) == (1 if starts else 0)
    # Asked of the collaborator-permission API, not taken from author_association.
    assert fake.calls_for("repos/get-collaborator-permission-level")
    if starts:
        assert fake.reactions_on_comment(comment_id) == ["eyes"]
    else:
        assert answer["status"] == "not authorised" and fake.reactions_on_comment(comment_id) == []


async def test_bots_and_equitr_itself_never_start_work(env: Env, github_app_key: AppKey) -> None:
    app, services, fake = env
    fake.set_permission(REPO, "dependabot[bot]", "admin")
    cases = [
        comment_body(fake, "/equitr help", login="dependabot[bot]", user_type="Bot"),
        comment_body(fake, "/equitr help", login="equitr[bot]", user_type="Bot"),
        comment_body(fake, "/equitr help", login="someone", via_app=github_app_key.app_id),
        comment_body(fake, "<!-- equitr:status:1 -->\n/equitr fix", login="alice"),
    ]
    for i, (_, body) in enumerate(cases):
        status, answer = await deliver(app, body, f"d-bot-{i}")
        assert status == 200, answer
    assert services.store.jobs() == []
    assert not [c for c in fake.calls if "/permission" in c.path]  # decided without asking GitHub


async def test_one_polite_refusal_per_user_per_issue(env: Env) -> None:
    app, services, fake = env
    fake.set_permission(REPO, "mallory", "read")
    for i in range(3):
        await deliver(app, comment_body(fake, f"/equitr fix attempt {i}", login="mallory")[1], f"d-r-{i}")
    runner = services.runner()
    notices = services.queue.drain_notices()
    assert len(notices) == 1
    for notice in notices:
        await runner.post_notice(notice)
    posted = fake.issue_comments(REPO, 1)[-1]
    assert len([c for c in fake.issue_comments(REPO, 1) if "thanks for trying" in c["body"]]) == 1
    assert "@mallory" in posted["body"] and "write" in posted["body"]
    assert services.store.jobs() == []


async def test_command_error_replies_with_the_closest_command(
    env: Env,
) -> None:
    app, services, fake = env
    fake.set_permission(REPO, "alice", "write")
    status, _ = await deliver(app, comment_body(fake, "/equitr fxi now")[1], "d-e")
    assert status == 200 and services.store.jobs() == []
    runner = services.runner()
    for notice in services.queue.drain_notices():
        await runner.post_notice(notice)
    posted = fake.issue_comments(REPO, 1)[-1]
    assert "Did you mean `fix`?" in posted["body"] and "/equitr review" in posted["body"]


async def test_accepted_help_job_runs_and_answers(env: Env) -> None:
    app, services, fake = env
    fake.set_permission(REPO, "alice", "maintain")
    status, answer = await deliver(app, comment_body(fake, "/equitr help")[1], "d-h")
    assert status == 202
    outcome = await services.runner().run(answer["jobs"][0])
    assert outcome is not None and outcome.state == "done"
    posted = fake.issue_comments(REPO, 1)[-1]
    job = services.store.get(answer["jobs"][0])
    assert job is not None and posted["body"].startswith(f"<!-- equitr:answer:{job.uid} -->")
    assert "/equitr fix" in posted["body"]


async def test_every_comment_and_label_example_turned_into_a_command(
    env: Env,
) -> None:
    """The vendored examples again, now carrying `/equitr help` or the trigger label: exactly the created
    comments and the `labeled` issues events become jobs; edited and deleted comments never do."""
    from tests.conftest import webhook_payloads

    app, services, fake = env
    fake.set_permission(REPO, "alice", "write")
    expected = 0
    for i, (event, path) in enumerate(webhook_payloads()):
        if event not in ("issue_comment", "issues"):
            continue
        data = json.loads(path.read_text())
        data["repository"]["full_name"] = REPO
        data["installation"] = {"id": INSTALLATION, "node_id": "x"}
        data["sender"].update(login="alice", type="User")
        data["issue"]["number"] = 1
        data["issue"]["state"] = "open"
        # Distinct recent events, not redeliveries (nor replays older than equitr's memory of deliveries).
        data["issue"]["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600 + i))
        if event == "issue_comment":
            data["comment"]["id"] = 10_000 + i
            data["comment"].update(
                body="/equitr help",
                created_at=data["issue"]["updated_at"],
                user={**data["comment"]["user"], "login": "alice", "type": "User"},
                performed_via_github_app=None,
            )
            expected += data["action"] == "created"
        elif data["action"] == "labeled":
            data["label"]["name"] = "equitr"
            expected += 1
        body = json.dumps(data).encode()
        status, answer = await deliver(app, body, f"c-{i}", event)
        assert status in (200, 202), (path, answer)
    kinds = sorted(j.kind for j in services.store.jobs(limit=1000))
    assert len(kinds) == expected and set(kinds) == {"help", "fix"}
