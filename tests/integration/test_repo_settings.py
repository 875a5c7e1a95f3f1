"""Documented `.equitr.toml` settings take effect as a user meets them: signed webhooks into the real app,
the real runner, a fake GitHub checked against GitHub's OpenAPI description and a scripted model.

B3: `[trigger] label` is the label that starts a fix (App and Action). B4: `review.skip_drafts = false` and
`review.skip_bots = false` make drafts and bots' pull requests reviewed.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.config.flags import EffectiveSettings
from equitr.config.settings import Settings
from equitr.handlers.handlers import WorkEnv
from equitr.handlers.handlers import handlers as work_handlers
from equitr.jobs.model import Job
from equitr.jobs.runner import Outcome
from equitr.models.provider import ChatModel
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, comment_payload, headers, payload
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub, iso
from tests.fakes.scripted_model import ScriptedModel

REPO = "octo/repo"
PATCH = "@@ -1,3 +1,4 @@\n def add(a, b):\n-    return a + b\n+    total = a - b\n+    return total\n \n"
SUMMARY = "- Adds `add()`\n- Risk: wrong operator"
NO_COMMENTS = '{"comments": []}'


@dataclass
class Bench:
    """The App as deployed (webhook → dispatcher → store → runner), on a fake GitHub, without a checkout:
    enough for label triggers and reviews."""

    app: Any
    services: services_mod.Services
    fake: FakeGitHub
    model: ScriptedModel
    deliveries: int = 0

    async def deliver(self, event: str, data: dict[str, Any]) -> tuple[int, Any]:
        self.deliveries += 1
        raw = json.dumps(data).encode()
        return await call(
            self.app, "POST", "/webhook", body=raw, headers=headers(raw, event, f"bench-{self.deliveries}")
        )

    async def run(self, answer: Any) -> Outcome:
        assert answer.get("jobs"), answer
        outcome = await self.services.runner(self._handlers).run(int(answer["jobs"][0]))
        assert outcome is not None
        return outcome

    async def command(self, body: str, *, number: int, login: str = "alice") -> tuple[int, Any]:
        """`login` comments `body` on issue or pull request `number` (it exists in the fake, as on GitHub)."""
        made = self.fake.add_comment(REPO, number, body, user=login)
        pr = number in self.fake.repo(REPO).pulls
        data = comment_payload(REPO, number=number, comment_id=made["id"], body=body, login=login, pull_request=pr)
        return await self.deliver("issue_comment", data)

    def config(self, text: str) -> None:
        self.fake.set_file(REPO, ".equitr.toml", text)

    def jobs(self) -> list[Job]:
        return sorted(self.services.store.jobs(limit=1000), key=lambda j: j.id)

    _handlers: Any = None


@pytest.fixture
async def bench(tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey) -> AsyncIterator[Bench]:
    fake_github.add_repo(REPO)
    fake_github.add_installation(7, repos=[REPO])
    fake_github.add_issue(REPO, title="mean() returns the wrong value", body="mean([1, 2, 3]) gives 1.5", user="bob")
    fake_github.set_permission(REPO, "alice", "write")
    settings = Settings(
        EQUITR_DB=tmp_path / "equitr.db",
        GH_SECRET=SECRET,
        GH_APP_ID=github_app_key.app_id,
        GH_PRIVATE_KEY=github_app_key.pem.get_secret_value(),
        GITHUB_API_URL=fake_github.base_url,
        EQUITR_WORKDIR=tmp_path / "work",
        EQUITR_SUPERVISOR_MODEL="openai/gpt-4.1-mini",
        EQUITR_WORKER_MODEL="ollama/qwen3:30b",
    )
    services = services_mod.build(settings)
    model = ScriptedModel([])

    def factory(session: aiohttp.ClientSession, effective: EffectiveSettings) -> ChatModel:
        return model

    env = WorkEnv(settings=settings, access=services.access, model_factory=factory, workdir=tmp_path / "work")
    async with aiohttp.ClientSession() as session:
        app = create_app(dispatcher=services.dispatcher(services_mod.session_factory(services, session)), secret=SECRET)
        bench = Bench(app, services, fake_github, model)
        bench._handlers = work_handlers(env)
        yield bench
    services.close()


def labeled(name: str, *, by: str = "alice", number: int = 1) -> dict[str, Any]:
    """`issues.labeled`: `by` added the label `name` to issue #`number` just now."""
    data = payload("issues", "labeled")
    data["repository"].update(full_name=REPO, default_branch="main")
    data["installation"] = {"id": 7, "node_id": "x"}
    data["issue"].update(number=number, state="open", updated_at=iso(time.time()))
    data["label"]["name"] = name
    data["sender"].update(login=by, type="User")
    return data


def pull_event(bench: Bench, number: int, *, action: str = "opened") -> dict[str, Any]:
    """A `pull_request` event for the fake's pull request `number`, as GitHub would send it now."""
    pr = bench.fake.pull(REPO, number)
    data = payload("pull_request", "opened")
    data["action"] = action
    data["repository"].update(full_name=REPO, default_branch="main")
    data["installation"] = {"id": 7, "node_id": "x"}
    data["pull_request"].update(number=number, draft=pr["draft"], state="open", user=pr["user"])
    data["pull_request"]["head"].update(sha=pr["head"]["sha"], repo=pr["head"]["repo"])
    data["sender"] = dict(pr["user"])
    return data


# -- B3: [trigger] label ---------------------------------------------------------------------------------------


async def test_the_configured_trigger_label_starts_a_fix_and_no_other(bench: Bench) -> None:
    bench.config('[trigger]\nlabel = "autofix"\n')
    bench.fake.set_permission(REPO, "trudy", "triage")

    status, answer = await bench.deliver("issues", labeled("equitr", by="trudy"))
    assert (status, answer["status"]) == (200, "no work")
    assert not bench.fake.calls_for("repos/get-collaborator-permission-level")  # not a request: nobody asked
    assert bench.fake.issue_comments(REPO, 1) == []  # and no "thanks for trying" to the triager

    status, answer = await bench.deliver("issues", labeled("autofix"))
    assert status == 202, answer
    [job] = bench.jobs()
    assert (job.kind, job.number, job.requester, job.args["via"]) == ("fix", 1, "alice", "label")


async def test_without_configuration_the_label_is_equitr(bench: Bench) -> None:
    status, answer = await bench.deliver("issues", labeled("autofix"))
    assert (status, answer["status"]) == (200, "no work")
    status, answer = await bench.deliver("issues", labeled("Equitr"))
    assert status == 202, answer


# -- B4: review.skip_drafts / review.skip_bots ---------------------------------------------------------------


def add_pull(bench: Bench, *, user: str = "bob", draft: bool = False, fork: str | None = None) -> int:
    pull = bench.fake.add_pull(
        REPO,
        title="Add add()",
        user=user,
        head=f"feature-{len(bench.fake.repo(REPO).pulls)}",
        draft=draft,
        files=[{"filename": "calc.py", "patch": PATCH}],
        fork=fork,
    )
    return int(pull["number"])


async def test_drafts_are_reviewed_when_skip_drafts_is_false(bench: Bench) -> None:
    bench.config("[review]\nskip_drafts = false\n")
    number = add_pull(bench, draft=True)
    bench.model.script += [SUMMARY, NO_COMMENTS]
    status, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert status == 202, answer
    outcome = await bench.run(answer)
    assert outcome.state == "done" and outcome.reason.startswith("reviewed"), outcome
    assert len(bench.fake.pull_reviews(REPO, number)) == 1


async def test_drafts_are_skipped_by_default_and_reviewed_once_ready(bench: Bench) -> None:
    number = add_pull(bench, draft=True)
    status, answer = await bench.deliver("pull_request", pull_event(bench, number))
    outcome = await bench.run(answer)
    assert outcome.state == "done" and "review.skip_drafts" in outcome.reason
    assert bench.model.seen == [] and bench.fake.pull_reviews(REPO, number) == []
    # Marked ready for review at the same commit: now it is reviewed.
    bench.fake.pull(REPO, number)["draft"] = False
    bench.model.script += [SUMMARY, NO_COMMENTS]
    status, answer = await bench.deliver("pull_request", pull_event(bench, number, action="ready_for_review"))
    assert status == 202, answer
    assert (await bench.run(answer)).state == "done"
    assert len(bench.fake.pull_reviews(REPO, number)) == 1


@pytest.mark.parametrize(("setting", "reviewed"), [("", False), ("[review]\nskip_bots = false\n", True)])
async def test_bots_pull_requests_follow_skip_bots(bench: Bench, setting: str, reviewed: bool) -> None:
    if setting:
        bench.config(setting)
    number = add_pull(bench, user="dependabot[bot]")
    bench.model.script += [SUMMARY, NO_COMMENTS]
    status, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert status == 202, answer
    outcome = await bench.run(answer)
    assert outcome.state == "done"
    assert len(bench.fake.pull_reviews(REPO, number)) == (1 if reviewed else 0), outcome
    if not reviewed:
        assert "review.skip_bots" in outcome.reason


async def test_equitrs_own_pull_requests_are_never_reviewed_automatically(bench: Bench) -> None:
    number = add_pull(bench, user="equitr[bot]")
    bench.config("[review]\nskip_bots = false\n")
    status, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert (status, answer["status"]) == (200, "no work")
