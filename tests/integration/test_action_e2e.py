"""The Action as a user meets it: the workflow of docs/action.md, run the way GitHub's runner runs it
(`tests/fakes/workflow.py`: the step's inputs and env evaluated, the Action's bash steps executed, `equitr
action` a separate process per workflow run), against the fake GitHub (checked against GitHub's OpenAPI
description), a real git remote on loopback, the real sandbox, and a scripted OpenAI-compatible chat server
on loopback. Nothing is carried from one run to the next but what is on GitHub."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import comment_payload, make_repo
from tests.fakes.git_remote import GitRemote
from tests.fakes.github import FakeGitHub
from tests.fakes.openai_server import OpenAIServer
from tests.fakes.workflow import Outcome, Runner, docs_workflow

REPO = "octo/app"
TOKEN = "ghs_" + "ActionE2e0123456789abcdefghijklmnopqrstuv"  # the workflow's `github.token`
KEY = "sk-" + "ActionE2eKey0123456789abcdef"  # the only secret the user adds: OPENAI_API_KEY
BOT = "github-actions[bot]"  # who `github.token` writes as
PLAN = json.dumps(
    {"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []}]}
)
ANSWER = "mean() divides by len(values) + 1 instead of len(values) (mathutil.py, line 11)."


def reply(body: dict[str, Any]) -> str:
    """What the model says: a read-only plan when asked for one (structured output), else the answer."""
    system = str((body.get("messages") or [{}])[0].get("content") or "")
    if "response_format" in body:
        return PLAN
    if "You review one file" in system:
        return '{"comments": []}'
    if "You review pull requests" in system:
        return "- Updates the README."
    return ANSWER


@dataclass
class World:
    fake: FakeGitHub
    model: OpenAIServer
    runner: Runner


@pytest.fixture
async def world(tmp_path: Path, fake_github: FakeGitHub) -> AsyncIterator[World]:
    source = make_repo(tmp_path)
    with GitRemote(tmp_path / "served", token_ok=lambda t: t in fake_github.tokens) as remote:
        bare = remote.add_bare(f"{REPO}.git", source)
        fake_github.add_repo(REPO)
        fake_github.link_git_remote(REPO, str(bare), clone_url=remote.url(f"{REPO}.git"))
        fake_github.add_token(TOKEN, login=BOT)
        fake_github.set_permission(REPO, "alice", "write")
        fake_github.add_issue(REPO, title="mean() is wrong", body="mean([1, 2, 3]) gives 1.5", user="alice")
        async with OpenAIServer(reply=reply, api_key=KEY) as model:
            runner = Runner(
                workflow=docs_workflow(),
                api_url=fake_github.base_url,
                repository=REPO,
                token=TOKEN,
                home=tmp_path / "runner",
                secrets={"OPENAI_API_KEY": KEY},
                # The documented edit of the workflow's `env:` for an OpenAI-compatible server: here the
                # scripted one on loopback instead of api.openai.com, which a test cannot reach.
                env_overrides={
                    "EQUITR_SUPERVISOR_MODEL": "openai-compatible/gpt-4.1-mini",
                    "OPENAI_BASE_URL": model.url,
                    **({} if shutil.which("bwrap") else {"EQUITR_SANDBOX": "none"}),
                },
            )
            yield World(fake_github, model, runner)


async def command(w: World, body: str, *, login: str = "alice", number: int = 1) -> Outcome:
    """Someone comments on the issue; GitHub starts the workflow's `command` job for it."""
    made = w.fake.add_comment(REPO, number, body, user=login)
    data = comment_payload(
        REPO, number=number, comment_id=made["id"], body=body, login=login, issue=w.fake.issue(REPO, number)
    )
    data.pop("installation", None)  # Action events carry none
    data["repository"]["name"] = REPO.split("/")[1]
    data["repository"]["owner"]["login"] = REPO.split("/")[0]
    return await w.runner.run("issue_comment", data)


def ours(w: World, number: int = 1) -> list[dict[str, Any]]:
    return [c for c in w.fake.issue_comments(REPO, number) if c["user"]["login"] == BOT]


def answers(w: World) -> list[str]:
    return [c["body"] for c in ours(w) if "<!-- equitr:answer:" in c["body"]]


def table_rows(body: str) -> list[list[str]]:
    """The cells of a Markdown table's header and rows (the separator row left out)."""
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in body.splitlines() if line[:2] == "| "]


# -- the workflow a user copies ---------------------------------------------------------------------------


async def test_the_docs_workflow_with_only_an_openai_key_reaches_a_model(world: World) -> None:
    w = world
    # Copied as it is, with the one secret: OpenAI's model for both roles, nothing that needs Ollama or
    # another key, and no build of the embedded model.
    pristine = Runner(
        workflow=docs_workflow(),
        api_url=w.fake.base_url,
        repository=REPO,
        token=TOKEN,
        home=w.runner.home,
        secrets={"OPENAI_API_KEY": KEY},
    )
    inputs, env = pristine.inputs("command")
    assert (inputs["model"], inputs["worker-model"], inputs["openai-api-key"]) == ("openai/gpt-4.1-mini", "", KEY)
    assert (inputs["ollama-host"], inputs["anthropic-api-key"], inputs["openai-base-url"]) == ("", "", "")
    assert env["EQUITR_SUPERVISOR_MODEL"] == "openai/gpt-4.1-mini" and not env["EQUITR_WORKER_MODEL"]

    result = await command(w, "/equitr ask what does mean() do?")

    assert result.code == 0, result.err
    # equitr from the Action's own commit, without the `local` extra (llama-cpp-python, a long build).
    [install] = result.installed
    assert install.endswith("/actions/..") and "[local]" not in install
    assert w.model.chats and not w.model.refused, w.model.refused  # the model was called, with the key
    assert {r["model"] for r in w.model.chats} == {"gpt-4.1-mini"}
    assert "| `ask` | **done** |" in result.summary, result.summary + result.err
    (answer,) = answers(w)
    assert ANSWER in answer
    assert TOKEN not in result.everything and KEY not in result.everything


# -- two, three, four runs on one issue ---------------------------------------------------------------------


async def test_consecutive_runs_keep_distinct_comments_and_the_whole_history(world: World) -> None:
    w = world

    planned = await command(w, "/equitr plan")
    assert planned.code == 0 and "| `plan` | **done** |" in planned.summary, planned.err + planned.summary
    (plan,) = answers(w)
    assert "### equitr plan" in plan

    asked = await command(w, "/equitr ask what does mean() do?")
    assert asked.code == 0 and "| `ask` | **done** |" in asked.summary, asked.err + asked.summary
    # The second run wrote its own comment and left the first run's alone (job ids restart in every run;
    # markers carry a uid).
    assert len(answers(w)) == 2
    assert answers(w)[0].split("<!-- equitr-job")[0] == plan.split("<!-- equitr-job")[0]
    assert ANSWER in answers(w)[1]

    status = await command(w, "/equitr status")
    assert status.code == 0, status.err
    body = answers(w)[2]
    header, *rows = table_rows(body)
    assert header == ["job", "kind", "state", "by", "created", "cost", "note"]
    # Every earlier run's job, numbered on from run to run, newest first.
    assert [(r[0], r[1], r[2]) for r in rows] == [("2", "`ask`", "**done**"), ("1", "`plan`", "**done**")]
    assert all(len(r) == len(header) for r in rows)

    cost = await command(w, "/equitr cost")
    assert cost.code == 0, cost.err
    body = answers(w)[3]
    this_issue = next(r for r in table_rows(body) if r[0] == "this issue")
    month = next(r for r in table_rows(body) if r[0].endswith("month to date"))
    assert this_issue[1] == "3" and month[1] == "3"  # plan, ask, status

    # Four runs, four comments, four different markers.
    markers = {re.search(r"<!-- equitr:answer:(\S+) -->", b).group(1) for b in answers(w)}  # type: ignore[union-attr]
    assert len(markers) == 4 and "1" not in markers
    assert w.runner.runs == 4


async def test_retry_in_a_later_run_runs_the_failed_job_of_an_earlier_one_once(world: World) -> None:
    w = world
    # No ANTHROPIC_API_KEY here: the job fails at once, with a formatted error.
    failed = await command(w, "/equitr plan --model anthropic/claude-sonnet-4-5 start from mean()")
    assert failed.code == 0 and "| `plan` | **failed** |" in failed.summary, failed.summary + failed.err

    retried = await command(w, "/equitr retry --model openai-compatible/gpt-4.1-mini")

    assert retried.code == 0 and "| `retry` | **done** |" in retried.summary, retried.summary + retried.err
    # What ran again is what the command comment asked for, of the model the retry names.
    assert any("start from mean()" in json.dumps(r["messages"]) for r in w.model.chats)
    assert any("### equitr plan" in body for body in answers(w))
    asked = len(w.model.chats)

    again = await command(w, "/equitr retry")

    assert again.code == 0 and "| `retry` | **failed** |" in again.summary, again.summary
    assert len(w.model.chats) == asked  # nothing ran again
    (error,) = [c["body"] for c in ours(w) if "<!-- equitr:error:" in c["body"] and "nothing to retry" in c["body"]]
    assert "retry) succeeded" in error
