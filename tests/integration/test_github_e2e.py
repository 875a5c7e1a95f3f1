"""GitHub workflows end to end: a real ASGI app and runner, a fake GitHub that checks every request against
GitHub's OpenAPI description, a real git remote over HTTP on loopback that checks the installation token,
the real sandbox, and a deterministic scripted model (not a real model) where a strong model's behaviour is
needed."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.config.flags import EffectiveSettings
from equitr.errors import ModelError
from equitr.handlers.handlers import WorkEnv
from equitr.handlers.handlers import handlers as work_handlers
from equitr.jobs.runner import Outcome
from equitr.models.provider import ChatModel
from equitr.models.types import Reply, ToolCall
from equitr.models.wire import Endpoint, http_error
from equitr.web import services as services_mod
from tests.conftest import SECRET, make_repo, needs_setup_network, payload
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.world import (
    INSTALLATION,
    REPO,
    app_settings,
    deliver,
    deliver_comment,
    seed,
    served,
    serving,
    workspace,
)
from tests.wheels import wheel

CANARY = "ghp_" + "CANARYcanary" * 3  # made at run time, like every test secret
DOCS_URL = "https://github.com/acme/equitr/blob/v1"

PLAN = json.dumps(
    {
        "execution_steps": [
            {"step": 1, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []},
            {
                "step": 2,
                "tool": "file",
                "parameters": {
                    "action": "edit",
                    "path": "mathutil.py",
                    "search": "(len(values) + 1)",
                    "replace": "len(values)",
                },
                "dependencies": [1],
            },
        ]
    }
)
ACCEPT = '{"decision": "accept", "reason": "mean() now divides by the number of values"}'


@dataclass
class World:
    app: Any
    services: services_mod.Services
    fake: FakeGitHub
    bare: Path
    model: ScriptedModel
    run: Callable[[int], Any]
    logs: list[str]


@pytest.fixture
async def world(
    tmp_path: Path,
    fake_github: FakeGitHub,
    github_app_key: AppKey,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[World]:
    monkeypatch.setenv("GITHUB_TOKEN_CANARY", CANARY)  # planted: must never come out anywhere
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "CANARYcanary" * 3)
    # A test that prints its environment: whatever the sandbox lets through ends up in the test output,
    # which equitr shows to the model and summarises on GitHub.
    sample = tmp_path / "sample_src"
    shutil.copytree(Path(__file__).parents[1] / "data" / "sample_repo", sample)
    (sample / "test_env.py").write_text(
        "import os\n\n\ndef test_env():\n    env = sorted(os.environ.items())\n"
        "    assert not any('CANARY' in v for _, v in env), env\n"
    )
    seed(fake_github, title="mean() returns the wrong value", body="mean([1, 2, 3]) gives 1.5", permission="write")
    with served(tmp_path, fake_github, make_repo(tmp_path, sample)) as bare:
        settings = app_settings(
            tmp_path,
            fake_github,
            github_app_key,
            **workspace(tmp_path),
            EQUITR_SUPERVISOR_MODEL="openai/gpt-4.1-mini",
            EQUITR_WORKER_MODEL="ollama/qwen3:30b",
            EQUITR_DOCS_URL=DOCS_URL,
        )
        services = services_mod.build(settings)
        model = ScriptedModel([])

        def factory(session: aiohttp.ClientSession, effective: EffectiveSettings) -> ChatModel:
            return model

        env = WorkEnv(settings=settings, access=services.access, model_factory=factory, workdir=tmp_path / "work")
        runner = services.runner(work_handlers(env))
        runner.lease_s = 0.6
        async with serving(services) as app:
            yield World(app, services, fake_github, bare, model, runner.run, caplog.messages)
    # Nothing secret anywhere: comments, PR bodies, reviews, commits, branch names, logs.
    tokens = [t for t in fake_github.tokens if t.startswith("ghs_")]
    texts = [json.dumps(c.json) for c in fake_github.calls if c.json] + caplog.messages
    texts.append(
        subprocess.run(
            ["git", "--git-dir", str(bare), "log", "--all", "--format=%B%n%an%n%ae"], capture_output=True, text=True
        ).stdout
    )
    texts.append(subprocess.run(["git", "--git-dir", str(bare), "branch", "-a"], capture_output=True, text=True).stdout)
    texts += [m.content for _, messages in model.seen for m in messages]  # everything the model was shown
    for secret in [CANARY, SECRET, "sk-" + "CANARYcanary", *tokens]:
        assert not any(secret in t for t in texts), "a secret leaked"


async def comment(w: World, body: str, *, login: str = "alice", number: int = 1, pr: bool = False) -> tuple[int, Any]:
    return await deliver_comment(w.app, w.fake, body, login=login, number=number, pr=pr)


async def run_job(w: World, answer: Any) -> Outcome:
    assert answer.get("jobs"), answer
    outcome = await w.run(answer["jobs"][0])
    assert outcome is not None
    return outcome


def branch_file(w: World, branch: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(w.bare), "show", f"{branch}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def ref(w: World, job_id: int) -> str:
    """The ID of a job's comment markers (its uid)."""
    job = w.services.store.get(job_id)
    assert job is not None
    return job.ref


def status_comment(w: World, job_id: int) -> str:
    mark = f"<!-- equitr:status:{ref(w, job_id)} -->"
    (found,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    return str(found)


# -- /equitr fix ---------------------------------------------------------------------------------------------


def push_to_default_branch(w: World, tmp: Path, files: dict[str, str], wheels: bool = False) -> None:
    """A maintainer's commit on `main` of the real remote (what equitr reads `.equitr.toml` from)."""
    work = tmp / "maintainer"
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    ident = ["-c", "user.name=m", "-c", "user.email=m@example.com"]

    def git(*args: str) -> None:
        subprocess.run(["git", *ident, *args], cwd=work, env=env, check=True, capture_output=True)

    subprocess.run(["git", "clone", "-q", str(w.bare), str(work)], env=env, check=True)
    for name, text in files.items():
        (work / name).write_text(text)
    if wheels:
        wheel(work / "wheels")
    git("add", "-A")
    git("commit", "-q", "-m", "maintainer: configure equitr")
    git("push", "-q", "origin", "HEAD:main")


@needs_setup_network
async def test_fix_runs_the_repositorys_setup_command_before_the_tests(world: World, tmp_path: Path) -> None:
    w = world
    install = "python -m pip install --quiet --no-index --find-links wheels dep-pkg"
    push_to_default_branch(
        w,
        tmp_path,
        {".equitr.toml": f'[fix]\nsetup_command = "{install}"\n', "conftest.py": "import dep_pkg\n"},
        wheels=True,
    )
    w.model.script += [PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    (pr,) = [p for p in w.fake.repo(REPO).pulls.values()]
    assert f"Setup: setup `{install}`: ok in " in pr["body"]
    assert "| before | failed — 1 failed, 2 passed" in pr["body"] and "| after | passed — 3 passed" in pr["body"]
    # Only the fix is in the branch: nothing the setup or the tests left in the checkout.
    changed = subprocess.run(
        ["git", "--git-dir", str(w.bare), "diff", "--name-only", "main", "equitr/issue-1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert changed == ["mathutil.py"]


async def test_a_fix_runs_on_the_runners_loop_and_thread(world: World) -> None:
    """Issue 11: a `/equitr fix` job is one task on one event loop. The agent's model calls run on the loop
    and the thread that run the job (only git and the sandbox's commands are sent to threads), so a cancel is
    a plain cancel of that task."""
    w = world
    seen: list[tuple[asyncio.AbstractEventLoop, int]] = []

    def observed(reply: str) -> Callable[[Any], str]:
        def answer(messages: Any) -> str:
            seen.append((asyncio.get_running_loop(), threading.get_ident()))
            return reply

        return answer

    w.model.script += [observed(PLAN), observed(ACCEPT)]
    _, answer = await comment(w, "/equitr fix")
    assert (await run_job(w, answer)).state == "done"
    assert seen == [(asyncio.get_running_loop(), threading.get_ident())] * 2


async def test_fix_caps_every_model_reply_at_the_repositorys_max_output_tokens(world: World, tmp_path: Path) -> None:
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": "[limits]\nmax_output_tokens = 3000\n"})
    w.model.script += [PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert w.model.caps == [3000, 3000]  # the plan and the review; unset, they would be 1024 and 512


async def test_fix_works_with_tools_when_the_repository_says_so(world: World, tmp_path: Path) -> None:
    """`models.strategy = "tools"`: the supervisor calls the tools itself; the status comment and the pull
    request look as they do for a plan."""
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": '[models]\nstrategy = "tools"\n'})
    edit = {"action": "edit", "path": "mathutil.py", "search": "(len(values) + 1)", "replace": "len(values)"}
    w.model.script += [
        Reply(content="", model="", tool_calls=(ToolCall("file", json.dumps(edit), "c1"),)),
        Reply(content="mean() divided by one too many; fixed.", model=""),
        ACCEPT,
    ]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert w.model.tools_sent[0] is not None  # unset, `auto` would have planned: this model has no native tools
    assert "len(values)\n" in branch_file(w, "equitr/issue-1", "mathutil.py")
    body = status_comment(w, answer["jobs"][0])
    assert "— done" in body and "**Plan**" in body and "- [x] file(action='edit', path='mathutil.py')" in body
    (pr,) = [p for p in w.fake.repo(REPO).pulls.values()]
    assert "| before | failed" in pr["body"] and "| after | passed" in pr["body"] and "Trajectory" in pr["body"]


async def test_an_issue_that_is_already_fixed_gets_a_status_that_says_so(world: World, tmp_path: Path) -> None:
    w = world
    fixed = (Path(__file__).parents[1] / "data" / "sample_repo" / "mathutil.py").read_text()
    push_to_default_branch(w, tmp_path, {"mathutil.py": fixed.replace("(len(values) + 1)", "len(values)")})
    read = json.dumps(
        {"execution_steps": [{"step": 1, "tool": "file", "parameters": {"action": "read", "path": "mathutil.py"}}]}
    )
    w.model.script += [read, read]  # it looks, twice, and finds nothing to change
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed", outcome  # no pull request: nothing was done
    body = status_comment(w, answer["jobs"][0])
    assert "— stopped" in body and "Nothing to change: the tests pass without any change" in body
    assert "issue looks fixed already" in body and "`/equitr fix` followed by what to change" in body
    assert not w.fake.repo(REPO).pulls and len(w.model.seen) == 2  # no worker was asked to invent an edit
    assert not [c for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]


async def test_fix_opens_one_draft_pr_and_a_second_fix_updates_it(world: World) -> None:
    w = world
    w.model.script += [PLAN, ACCEPT]
    status, answer = await comment(w, "/equitr fix")
    assert status == 202
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert "len(values)\n" in branch_file(w, "equitr/issue-1", "mathutil.py")
    (pr,) = [p for p in w.fake.repo(REPO).pulls.values()]
    assert pr["draft"] is True and pr["head"]["ref"] == "equitr/issue-1" and pr["base"]["ref"] == "main"
    assert pr["body"].startswith("Fixes #1")
    assert "| before | failed" in pr["body"] and "| after | passed" in pr["body"]
    assert "| openai/gpt-4.1-mini | supervisor |" in pr["body"] and "<details><summary>Trajectory" in pr["body"]
    body = status_comment(w, answer["jobs"][0])
    print(f"\n--- status comment ---\n{body}\n--- pull request body ---\n{pr['body']}")
    assert "— done" in body and "PR #" in body and "| model | role | calls |" in body
    assert w.fake.reactions_on_comment(w.fake.issue_comments(REPO, 1)[0]["id"]) == ["eyes"]
    assert w.fake.calls_for("pulls/request-reviewers")

    w.model.script += [PLAN.replace('len(values)"', 'max(len(values), 1)"'), ACCEPT]
    status, answer = await comment(w, "/equitr fix guard against an empty list")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert len(w.fake.repo(REPO).pulls) == 1  # the same PR, updated
    assert "max(len(values), 1)" in branch_file(w, "equitr/issue-1", "mathutil.py")
    assert len(w.fake.calls_for("pulls/update")) == 1


@pytest.mark.parametrize("fault", [{"status": 502, "after": True}, {"disconnect": True, "after": True}])
async def test_fix_opens_one_pr_when_githubs_answer_to_the_post_is_lost(world: World, fault: dict[str, Any]) -> None:
    """R5: GitHub made the pull request but its answer was lost: the job finds it by its branch, one PR, done."""
    w = world
    w.model.script += [PLAN, ACCEPT]
    w.fake.fail_next("POST", f"/repos/{REPO}/pulls", **fault)
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert len(w.fake.repo(REPO).pulls) == 1 and len(w.fake.calls_for("pulls/create")) == 1


async def test_unauthorised_commenter_gets_one_polite_reply_and_no_job(world: World) -> None:
    w = world
    w.fake.set_permission(REPO, "eve", "read")
    for _ in range(2):
        status, answer = await comment(w, "/equitr fix", login="eve")
        assert (status, answer["status"]) == (200, "not authorised")
    assert w.services.store.jobs() == []


async def test_unknown_model_gives_a_formatted_error_with_the_closest_names(world: World) -> None:
    w = world
    _, answer = await comment(w, "/equitr fix --model openai/gpt-41-mini")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed"
    (error,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]
    assert "openai/gpt-4.1-mini" in error and "Suggestions" in error and "Recovery" in error
    assert "Traceback" not in error
    assert f"]({DOCS_URL}/docs/errors.md#unknown-model)" in error  # EQUITR_DOCS_URL makes the links absolute


async def test_budget_too_low_says_what_would_have_sufficed(world: World) -> None:
    w = world
    w.model.cost_per_call = 0.03
    w.model.script += ["I will look around first."] * 5
    _, answer = await comment(w, "/equitr fix --budget 0.05")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed" and "budget" in outcome.reason
    (error,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]
    print(f"\n--- error comment ---\n{error}")
    assert "/equitr retry --budget" in error and "Budget" in error
    assert f"]({DOCS_URL}/docs/errors.md#budget-exceeded)" in error
    assert len(w.model.seen) == 2  # 0.03 + 0.03 crossed 0.05: no third call


async def test_model_server_down_gives_recovery_steps(world: World) -> None:
    w = world
    w.model.script.append(
        ModelError(
            "Cannot reach the model server at http://127.0.0.1:1 (connection refused).",
            retryable=True,
            hint="Is it running? Set OPENAI_BASE_URL.",
        )
    )
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed"
    (error,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]
    assert "Cannot reach the model server" in error and "/equitr retry" in error


async def test_a_model_400_is_a_rejected_request_and_no_internal_address_is_published(world: World) -> None:
    """B20: HTTP 400 from the model server is "Model rejected the request" (not "Model unavailable"), and
    the operator's model URL stays out of the public comment."""
    w = world
    internal = "http://10.20.30.40:8000/v1"
    where = Endpoint(label=f"the OpenAI-compatible server at {internal}", unreachable_hint="Is the server running?")
    body = '{"error": {"message": "This model\'s maximum context length is 8192 tokens", "type": "invalid_request"}}'
    w.model.script.append(http_error(400, body, {}, endpoint=where))
    _, answer = await comment(w, "/equitr fix")
    assert (await run_job(w, answer)).state == "failed"
    (error,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]
    assert error.startswith(f"<!-- equitr:error:{ref(w, answer['jobs'][0])} -->\n### ⚠️ Model rejected the request\n")
    assert "maximum context length is 8192 tokens" in error and "context window" in error
    assert "10.20.30.40" not in error and "8000" not in error
    assert not any("10.20.30.40" in c["body"] for c in w.fake.issue_comments(REPO, 1))


async def test_cancel_mid_job(world: World) -> None:
    w = world
    started = asyncio.Event()

    async def slow(messages: Any) -> str:
        started.set()
        await asyncio.sleep(1.5)  # a model thinking: the job is running when the cancel arrives
        return "still thinking"

    w.model.script += [slow] * 10
    status, answer = await comment(w, "/equitr fix")
    job = asyncio.create_task(run_job(w, answer))
    await asyncio.wait_for(started.wait(), 30)
    status, cancel = await comment(w, "/equitr cancel")
    assert status == 202
    outcome = await asyncio.wait_for(job, 20)
    assert outcome.state == "cancelled"
    assert w.services.store.get(answer["jobs"][0]).state == "cancelled"  # type: ignore[union-attr]
    assert "cancelled" in status_comment(w, answer["jobs"][0])
    assert (
        "equitr/issue-1"
        not in subprocess.run(["git", "--git-dir", str(w.bare), "branch"], capture_output=True, text=True).stdout
    )
    await run_job(w, cancel)
    assert any("Cancelling: job" in c["body"] for c in w.fake.issue_comments(REPO, 1))


# -- review ----------------------------------------------------------------------------------------------------

PATCH = "@@ -1,3 +1,4 @@\n def add(a, b):\n-    return a + b\n+    total = a - b\n+    return total\n \n"


async def open_pr(w: World, *, action: str = "opened", delivery: str = "pr-1") -> tuple[int, Any]:
    number = 2
    if number not in w.fake.repo(REPO).pulls:
        w.fake.add_pull(
            REPO,
            title="Add add()",
            user="bob",
            head="feature",
            base="main",
            files=[{"filename": "calc.py", "patch": PATCH}],
        )
    pr = w.fake.pull(REPO, number)
    data = payload("pull_request", "opened")
    data["action"] = action
    data["repository"]["full_name"] = REPO
    data["installation"] = {"id": INSTALLATION, "node_id": "x"}
    data["pull_request"].update(number=number, draft=False, state="open")
    data["pull_request"]["head"]["sha"] = pr["head"]["sha"]
    data["pull_request"]["user"].update(login="bob", type="User")
    data["sender"].update(login="bob", type="User")
    return await deliver(w.app, json.dumps(data).encode(), delivery, "pull_request")


async def test_review_posts_one_review_with_inline_comments_on_diff_lines_only(world: World) -> None:
    w = world
    proposals = json.dumps(
        {
            "comments": [
                {"line": 2, "body": "This subtracts; `add` should add.", "suggestion": "    total = a + b"},
                {"line": 40, "body": "A line that is not in the diff."},
            ]
        }
    )
    w.model.script += ["- Adds `add()`\n- Risk: wrong operator", proposals]
    status, answer = await open_pr(w)
    assert status == 202
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    (review,) = w.fake.pull_reviews(REPO, 2)
    print(f"\n--- review ---\n{review['body']}")
    assert "equitr review" in review["body"] and "1 proposed comment(s) were dropped" in review["body"]
    (inline,) = [c for c in w.fake.review_comments.values()]
    assert inline["line"] == 2 and "```suggestion\n    total = a + b\n```" in inline["body"]
    summary = [c for c in w.fake.issue_comments(REPO, 2) if "<!-- equitr:review-summary:2 -->" in c["body"]]
    assert len(summary) == 1

    # The same head again (a redelivery under a new id, or synchronize with no new commit): no second review.
    status, _ = await open_pr(w, action="synchronize", delivery="pr-2")
    assert status == 200
    status, answer = await comment(w, "/equitr review", number=2, pr=True)
    outcome = await run_job(w, answer)
    assert outcome.state == "done" and "already reviewed" in outcome.reason
    assert len(w.fake.pull_reviews(REPO, 2)) == 1


async def test_retry_runs_the_failed_job_again_with_new_flags(world: World) -> None:
    w = world
    w.model.cost_per_call = 0.03
    w.model.script += ["I will look around first."] * 2
    _, answer = await comment(w, "/equitr fix --budget 0.05")
    assert (await run_job(w, answer)).state == "failed"
    w.model.script += [PLAN, ACCEPT]
    _, again = await comment(w, "/equitr retry --budget 2")
    outcome = await run_job(w, again)
    assert outcome.state == "done", outcome
    assert "len(values)\n" in branch_file(w, "equitr/issue-1", "mathutil.py")
    job = w.services.store.get(again["jobs"][0])
    assert job is not None and job.kind == "retry" and job.cost_usd == pytest.approx(0.06)


async def test_ask_answers_from_the_repository_read_only(world: World) -> None:
    w = world
    plan = json.dumps(
        {
            "execution_steps": [
                {"step": 1, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []},
                {
                    "step": 2,
                    "tool": "file",
                    "parameters": {"action": "read", "path": "mathutil.py"},
                    "dependencies": [1],
                },
                {
                    "step": 3,
                    "tool": "file",
                    "parameters": {"action": "write", "path": "mathutil.py", "content": "x"},
                    "dependencies": [],
                },
            ]
        }
    )

    def answer(messages: Any) -> str:
        findings = messages[-1].content
        assert "def mean" in findings  # the answer is written from what the tools read
        return "`mean()` divides by `len(values) + 1` (mathutil.py, line 11), one too many."

    w.model.script += [plan, answer]
    _, reply = await comment(w, "/equitr ask why is mean() wrong?")
    outcome = await run_job(w, reply)
    assert outcome.state == "done", outcome
    mark = f"equitr:answer:{ref(w, reply['jobs'][0])}"
    (posted,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    assert "> why is mean() wrong?" in posted and "line 11" in posted
    assert (
        "equitr/issue-1"
        not in subprocess.run(["git", "--git-dir", str(w.bare), "branch"], capture_output=True, text=True).stdout
    )  # read-only: the write step never ran


async def test_the_task_is_the_issue_as_it_was_when_the_command_came(world: World) -> None:
    w = world
    w.fake.add_comment(REPO, 1, "It also fails for a single value.", user="bob")
    w.model.script += [PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix keep it simple")
    # After the command, before the job runs: the issue is edited and someone comments again.
    w.fake.issue(REPO, 1)["body"] = "EDITED LATER"
    w.fake.add_comment(REPO, 1, "A LATER COMMENT", user="bob")
    assert (await run_job(w, answer)).state == "done"
    prompt = "\n".join(m.content for m in w.model.seen[0][1])
    assert "mean([1, 2, 3]) gives 1.5" in prompt and "It also fails for a single value." in prompt
    assert "Instructions from the maintainer: keep it simple" in prompt
    assert "EDITED LATER" not in prompt and "A LATER COMMENT" not in prompt


READ_PLAN = json.dumps(
    {"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []}]}
)


async def test_a_second_retry_after_a_successful_one_runs_nothing(world: World) -> None:
    """B13: the retry looked for the latest *failed* job, which a successful retry leaves failed, so every
    further `/equitr retry` ran the whole job again."""
    w = world
    w.model.script += [ModelError("The model server is down.", retryable=False)]
    _, first = await comment(w, "/equitr ask why is mean() wrong?")
    assert (await run_job(w, first)).state == "failed"
    w.model.script += [READ_PLAN, "`mean()` divides by `len(values) + 1`."]
    _, again = await comment(w, "/equitr retry")
    assert (await run_job(w, again)).state == "done"
    asked = len(w.model.seen)

    _, third = await comment(w, "/equitr retry")
    outcome = await run_job(w, third)

    assert outcome.state == "failed" and "succeeded, so there is nothing to retry" in outcome.reason, outcome
    assert len(w.model.seen) == asked  # nothing ran again
    mark = f"<!-- equitr:error:{ref(w, third['jobs'][0])} -->"
    (error,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    assert f"job {again['jobs'][0]}, retry" in error and "/equitr fix" in error


async def test_retry_of_a_running_job_waits_and_of_a_cancelled_one_runs_it(world: World) -> None:
    w = world
    _, first = await comment(w, "/equitr ask why is mean() wrong?")
    _, early = await comment(w, "/equitr retry")
    outcome = await run_job(w, early)  # the ask is still queued
    assert outcome.state == "failed" and "is still queued" in outcome.reason, outcome
    w.services.store.request_cancel(first["jobs"][0])  # cancelled before it started
    w.model.script += [READ_PLAN, "`mean()` divides by `len(values) + 1`."]
    _, retried = await comment(w, "/equitr retry")
    assert (await run_job(w, retried)).state == "done"
