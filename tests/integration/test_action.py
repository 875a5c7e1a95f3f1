"""`equitr action` in a runner-like environment: real event files (`GITHUB_EVENT_PATH`), a step summary
file, and `GITHUB_API_URL` pointing at the fake GitHub on loopback, which checks every request against
GitHub's OpenAPI description (the `fake_github` fixture fails the test on any that does not conform).

The entry runs in a thread (`equitr.action.main`) so the fake keeps serving on the test's event loop, and once
as a real subprocess (`python -m equitr.action`). No model answers and no git remote is reachable here (both
point at a closed loopback port), so fix and review jobs end `failed` with a clear reason; the tests assert on
the jobs created, the calls made to GitHub and the summary. The full fix and review paths are tested in
`test_github_e2e.py`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from equitr.action import main as action
from equitr.jobs import runner as runner_module
from equitr.jobs.model import Job
from equitr.jobs.store.sqlite import SqliteStore
from tests.conftest import WEBHOOKS
from tests.fakes.fixtures import fake_github, github_app_key
from tests.fakes.github import FakeGitHub

__all__ = ["fake_github", "github_app_key"]  # fixtures used below

REPO = "Codertocat/Hello-World"  # the repository the vendored payloads name, so they need little rewriting
USER = "Codertocat"
# A canary in the shape of a real installation token: it must never appear in output or the summary.
TOKEN = "ghs_" + "Canary0123456789abcdefghijklmnopqrstuvwx"
ROOT = Path(__file__).resolve().parents[2]
CLEARED = (
    "GH_APP_ID",
    "GH_PRIVATE_KEY",
    "GH_PRIVATE_KEY_PATH",
    "GH_SECRET",
    "EQUITR_DB",
    "EQUITR_QUEUE_URL",
    "RUNNER_DEBUG",
)


def vendored(event: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / event / name).read_text())
    return data


def schedule_payload(cron: str = "17 3 * * *") -> dict[str, Any]:
    """A `schedule` event as the runner writes it: no vendored example exists, so it is the real
    workflow_dispatch example (same repository/sender/workflow shape) with `schedule` instead of inputs."""
    data = vendored("workflow_dispatch", "01.none.json")
    for key in ("inputs", "ref"):
        data.pop(key, None)
    data["schedule"] = cron
    return retarget(data)


def retarget(data: dict[str, Any]) -> dict[str, Any]:
    """Point a payload at REPO (the workflow_dispatch examples come from another repository)."""
    data = copy.deepcopy(data)
    owner, name = REPO.split("/")
    data["repository"].update(full_name=REPO, name=name)
    data["repository"]["owner"]["login"] = owner
    return data


@dataclass
class Result:
    code: int
    out: str
    err: str
    summary: str
    outputs: str

    @property
    def everything(self) -> str:
        return self.out + self.err + self.summary + self.outputs


@pytest.fixture
async def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo(REPO)
    # git goes to a closed loopback port, never out to github.com: clones fail at once, with a clear error.
    fake_github.repos[REPO].clone_url = f"http://127.0.0.1:9/{REPO}.git"
    fake_github.add_token(TOKEN)
    fake_github.set_permission(REPO, USER, "write")
    return fake_github


@pytest.fixture
def runner_env(
    fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, Any], dict[str, str]]]:
    """Sets the variables GitHub's runner sets for one step; returns them for a subprocess."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)

    def setup(event: str, payload: Any) -> dict[str, str]:
        event_file = tmp_path / "event.json"
        event_file.write_text(payload if isinstance(payload, str) else json.dumps(payload))
        values = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": fake.base_url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
            "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_ACTOR": USER,
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        # No model answers here (port 9 is closed): jobs that need one end with a formatted model error,
        # quickly and the same way every time.
        monkeypatch.setenv("EQUITR_SUPERVISOR_MODEL", "ollama/qwen3:30b")
        monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
        return values

    yield setup


async def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = await asyncio.to_thread(action.main, list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err, _read(tmp_path / "summary.md"), _read(tmp_path / "output.txt"))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def stored_jobs(db: Path) -> list[Job]:
    store = SqliteStore(db)
    try:
        return sorted(store.jobs(), key=lambda j: j.id)
    finally:
        store.close()


# -- events the webhook server also handles --------------------------------------------------------------


def help_comment(fake: FakeGitHub, runner_env: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An issue with a `/equitr help` comment, and the runner's environment for its event (GitHub's own
    example payload, pointed at them): (issue, comment, payload)."""
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    comment = fake.add_comment(REPO, issue["number"], "/equitr help", user=USER)
    payload = vendored("issue_comment", "00.created.json")
    payload["issue"]["number"] = issue["number"]
    payload["comment"].update(id=comment["id"], body="/equitr help")
    runner_env("issue_comment", payload)
    return issue, comment, payload


async def test_issue_comment_help_runs_the_job_and_answers(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue, comment, payload = help_comment(fake, runner_env)

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    assert fake.reactions_on_comment(comment["id"]) == ["eyes"]
    answers = [c for c in fake.issue_comments(REPO, issue["number"]) if "<!-- equitr:answer:" in c["body"]]
    assert len(answers) == 1 and "/equitr fix" in answers[0]["body"]
    # Permission was asked of GitHub with the Action's token, not taken from author_association.
    permission = fake.calls_for("repos/get-collaborator-permission-level")
    assert [c.path for c in permission] == [f"/repos/{REPO}/collaborators/{USER}/permission"]
    assert {c.token for c in fake.calls} == {TOKEN}
    assert "| `help` | **done** |" in result.summary
    # The title as the event had it (the job is taken as it was at trigger time).
    title = payload["issue"]["title"]
    assert f"[#{issue['number']}](https://github.com/{REPO}/issues/{issue['number']}) {title}" in result.summary
    assert "jobs=1\nfailed=0\n" in result.outputs
    assert TOKEN not in result.everything


async def test_a_rate_limit_in_an_action_run_is_waited_out_not_parked(
    fake: FakeGitHub,
    runner_env: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R9: nothing runs a parked job after the Action's run has ended (its store is gone with it), so there a
    long rate-limit wait is waited out in place and the job ends in this run."""
    monkeypatch.setattr(runner_module, "PARK_AFTER_S", 1.0)  # a 2 s wait counts as long here
    issue, _, _ = help_comment(fake, runner_env)
    fake.secondary_rate_limit_next("POST", f"/repos/{REPO}/issues/{issue['number']}/comments", retry_after=2)

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    limited = fake.calls_to("POST", f"/repos/{REPO}/issues/{issue['number']}/comments")
    assert [c.status for c in limited] == [403, 201]
    answers = [c for c in fake.issue_comments(REPO, issue["number"]) if "<!-- equitr:answer:" in c["body"]]
    assert len(answers) == 1 and "| `help` | **done** |" in result.summary, result.summary


async def test_issue_comment_from_a_reader_gets_the_refusal_and_no_job(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.set_permission(REPO, "mallory", "read")
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    comment = fake.add_comment(REPO, issue["number"], "/equitr fix", user="mallory")
    payload = vendored("issue_comment", "00.created.json")
    payload["issue"]["number"] = issue["number"]
    payload["comment"].update(id=comment["id"], body="/equitr fix")
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = "mallory"
    runner_env("issue_comment", payload)

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    bodies = [c["body"] for c in fake.issue_comments(REPO, issue["number"]) if c["id"] != comment["id"]]
    assert len(bodies) == 1 and "@mallory" in bodies[0] and "write" in bodies[0]
    assert fake.reactions_on_comment(comment["id"]) == []
    assert "No job for this `issue_comment` event: not authorised." in result.summary
    assert "jobs=0\n" in result.outputs


async def test_issues_labeled_creates_a_fix_job(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    issue = fake.add_issue(REPO, title="Crash on start", user=USER, labels=["equitr"])
    payload = vendored("issues", "09.labeled.json")
    payload["issue"]["number"] = issue["number"]
    payload["label"]["name"] = "equitr"
    runner_env("issues", payload)
    db = tmp_path / "kept" / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys)

    # The clone fails (no remote here): the job fails, and by default the step still succeeds.
    assert result.code == 0, result.err
    [job] = stored_jobs(db)
    assert (job.kind, job.repo, job.number, job.requester, job.state) == ("fix", REPO, issue["number"], USER, "failed")
    assert job.args["via"] == "label" and job.delivery_id == "action-4242-1"
    assert fake.calls_for("repos/get-collaborator-permission-level")  # labelling needs only triage: checked
    assert "| `fix` | **failed** |" in result.summary
    assert "set `fail-on-error: true` to fail it" in result.summary
    assert f"::warning title=equitr::job {job.id} (fix on #{issue['number']}) ended failed" in result.out


async def test_fail_on_error_fails_the_step_when_a_job_fails(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = fake.add_issue(REPO, title="Crash on start", user=USER, labels=["equitr"])
    payload = vendored("issues", "10.labeled.json")
    payload["issue"]["number"] = issue["number"]
    payload["label"]["name"] = "equitr"
    runner_env("issues", payload)

    result = await run(tmp_path, capsys, "--fail-on-error")

    assert result.code == 1
    assert "| `fix` | **failed** |" in result.summary
    assert "fail-on-error" not in result.summary


async def test_a_label_other_than_the_trigger_label_starts_nothing(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = fake.add_issue(REPO, title="Crash on start", user=USER, labels=["bug"])
    payload = vendored("issues", "09.labeled.json")  # the real example adds `bug`
    payload["issue"]["number"] = issue["number"]
    runner_env("issues", payload)

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    # Only the repository's `[trigger] label` was read: no permission check, no comment, no job.
    assert {c.operation_id for c in fake.calls} == {"repos/get-content"}
    assert "No job for this `issues` event: no work." in result.summary

    # The same event with --label bug (the Action's `label` input) is a trigger.
    result = await run(tmp_path, capsys, "--label", "bug")
    assert result.code == 0, result.err
    assert "| `fix` | **failed** |" in result.summary


async def test_pull_request_opened_creates_a_review_job(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    fake.add_issue(REPO, title="Crash on start", user=USER)
    pull = fake.add_pull(REPO, title="Update the README with new information", head="changes", user=USER)
    payload = vendored("pull_request", "00.opened.json")
    payload["number"] = payload["pull_request"]["number"] = pull["number"]
    runner_env("pull_request", payload)
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys)
    print(result.summary)  # docs/action.md shows this output

    assert result.code == 0, result.err
    [job] = stored_jobs(db)
    assert (job.kind, job.number, job.args["head_sha"], job.args["auto"]) == (
        "review",
        pull["number"],
        payload["pull_request"]["head"]["sha"],
        True,
    )
    # An automatic review is the repository's choice: no permission check, no reaction.
    assert not fake.calls_for("repos/get-collaborator-permission-level")
    assert f"[#{pull['number']}](https://github.com/{REPO}/pull/{pull['number']})" in result.summary
    assert "| `review` | **failed** |" in result.summary


# -- the backlog: schedule and workflow_dispatch ---------------------------------------------------------


def backlog(fake: FakeGitHub) -> dict[str, int]:
    """Labelled issues in every situation a scheduled run must tell apart; a maintainer added the labels."""
    numbers = {
        "oldest": fake.add_issue(REPO, title="Oldest bug", labels=["equitr"], labeled_by=USER)["number"],
        "has_pr": fake.add_issue(REPO, title="Already in hand", labels=["equitr", "bug"], labeled_by=USER)["number"],
        "unlabelled": fake.add_issue(REPO, title="Not for equitr", labels=["bug"], labeled_by=USER)["number"],
        "closed": fake.add_issue(REPO, title="Closed one", labels=["equitr"], state="closed", labeled_by=USER)[
            "number"
        ],
        "second": fake.add_issue(REPO, title="Second bug", labels=["equitr"], labeled_by=USER)["number"],
        "third": fake.add_issue(REPO, title="Third bug", labels=["equitr"], labeled_by=USER)["number"],
        "later": fake.add_issue(REPO, title="For a manual run", labels=["later"], labeled_by=USER)["number"],
    }
    numbers["pr"] = fake.add_pull(REPO, title="Fix #2", head=f"equitr/issue-{numbers['has_pr']}")["number"]
    # A human's pull request from an unrelated branch does not count as equitr's.
    fake.add_pull(REPO, title="Unrelated", head=f"issue-{numbers['second']}")
    return numbers


async def test_schedule_works_through_labelled_issues_without_an_equitr_pr(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    n = backlog(fake)
    runner_env("schedule", schedule_payload())
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys, "--max-issues", "2", "--budget", "2")
    print(result.summary)  # docs/action.md shows this output

    assert result.code == 0, result.err
    jobs = stored_jobs(db)
    assert [(j.kind, j.number, j.args["via"]) for j in jobs] == [
        ("fix", n["oldest"], "schedule"),
        ("fix", n["second"], "schedule"),
    ]
    # An even share of what is left: $1 of $2 for the first, then all that remains for the last.
    assert [j.args["budget_usd"] for j in jobs] == [1.0, 2.0]
    assert {j.requester for j in jobs} == {USER}
    [listing] = fake.calls_for("issues/list-for-repo")
    assert listing.query["labels"] == "equitr" and listing.query["state"] == "open"
    heads = [c.query["head"] for c in fake.calls_for("pulls/list")]
    assert heads == [f"Codertocat:equitr/issue-{n[k]}" for k in ("oldest", "has_pr", "second")]
    assert f"issues/{n['has_pr']}) Already in hand — equitr pull request #{n['pr']} is open" in result.summary
    assert f"issues/{n['third']}) Third bug — over max-issues (2)" in result.summary
    for absent in ("unlabelled", "closed", "later"):
        assert f"[#{n[absent]}]" not in result.summary
    assert "of a $2.00 budget (label `equitr`, max-issues 2)" in result.summary
    assert "jobs=2\nfailed=2\n" in result.outputs


async def test_schedule_defaults_to_three_issues_and_no_issue_is_no_error(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner_env("schedule", schedule_payload())
    result = await run(tmp_path, capsys)
    assert result.code == 0, result.err
    assert "No open issue carries the label `equitr`." in result.summary

    for i in range(5):
        fake.add_issue(REPO, title=f"Bug {i}", labels=["equitr"], labeled_by=USER)
    result = await run(tmp_path, capsys)
    assert result.code == 0, result.err
    assert result.summary.count("| `fix` | **failed** |") == 3
    assert result.summary.count("over max-issues (3)") == 2


async def test_workflow_dispatch_inputs_override_the_action_inputs(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    n = backlog(fake)
    second_later = fake.add_issue(REPO, title="Also later", labels=["later"], labeled_by=USER)["number"]
    payload = retarget(vendored("workflow_dispatch", "00.none.json"))
    payload["inputs"] = {"label": "later", "max_issues": "1", "budget": "0.5", "task": ""}
    runner_env("workflow_dispatch", payload)
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys, "--label", "equitr", "--max-issues", "3")

    assert result.code == 0, result.err
    [job] = stored_jobs(db)
    assert (job.number, job.args["via"], job.args["budget_usd"]) == (n["later"], "workflow_dispatch", 0.5)
    assert f"issues/{second_later}) Also later — over max-issues (1)" in result.summary
    assert "of a $0.50 budget (label `later`, max-issues 1)" in result.summary


async def test_workflow_dispatch_task_runs_on_the_named_issue(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    n = backlog(fake)
    payload = retarget(vendored("workflow_dispatch", "00.none.json"))
    payload["inputs"] = {"task": "Update the changelog for the release", "issue": str(n["unlabelled"])}
    runner_env("workflow_dispatch", payload)
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    [job] = stored_jobs(db)
    assert (job.kind, job.number, job.args["text"]) == ("fix", n["unlabelled"], "Update the changelog for the release")
    assert not fake.calls_for("issues/list-for-repo")  # a task is not a backlog run
    assert f"[#{n['unlabelled']}](https://github.com/{REPO}/issues/{n['unlabelled']}) Not for equitr" in result.summary


async def test_schedule_with_a_token_github_refuses_fails_with_one_line(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    runner_env("schedule", schedule_payload())
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "NotRegistered0123456789abcdefghijklmnop")

    result = await run(tmp_path, capsys)

    assert result.code == 1
    assert result.err.splitlines()[0].startswith("equitr: GitHub refused equitr's credentials")
    assert "permissions:" in result.err and "Traceback" not in result.err
    assert "NotRegistered" not in result.everything


# -- configuration errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-event-name", "GITHUB_EVENT_NAME is not set."),
        ("no-event-path", "GITHUB_EVENT_PATH is not set."),
        ("missing-file", "which does not exist."),
        ("malformed-json", "is not valid JSON (line 1, column 13: Expecting ':' delimiter)"),
        ("json-array", "holds a JSON list, not an object."),
        ("no-token", "GITHUB_TOKEN is not set."),
        ("empty-token", "GITHUB_TOKEN is set but empty."),
        ("bad-api-url", "GITHUB_API_URL must start with http:// or https://"),
        ("bad-max-issues", "max-issues must be a whole number, not 'many'."),
        ("bad-budget", "budget must be more than 0 and at most 1000 (USD), not -1."),
        ("task-without-issue", "A task needs an issue to work on"),
    ],
)
async def test_configuration_errors_are_one_line_with_a_hint(
    fake: FakeGitHub,
    runner_env: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    expected: str,
) -> None:
    env = runner_env("schedule", schedule_payload())
    argv: list[str] = []
    if case == "no-event-name":
        monkeypatch.delenv("GITHUB_EVENT_NAME")
    elif case == "no-event-path":
        monkeypatch.delenv("GITHUB_EVENT_PATH")
    elif case == "missing-file":
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(tmp_path / "nowhere.json"))
    elif case == "malformed-json":
        Path(env["GITHUB_EVENT_PATH"]).write_text('{"schedule" "17 3 * * *"}')
    elif case == "json-array":
        Path(env["GITHUB_EVENT_PATH"]).write_text("[]")
    elif case == "no-token":
        monkeypatch.delenv("GITHUB_TOKEN")
    elif case == "empty-token":
        monkeypatch.setenv("GITHUB_TOKEN", "  ")
    elif case == "bad-api-url":
        monkeypatch.setenv("GITHUB_API_URL", "api.github.com")
    elif case == "bad-max-issues":
        argv = ["--max-issues", "many"]
    elif case == "bad-budget":
        argv = ["--budget", "-1"]
    elif case == "task-without-issue":
        argv = ["--task", "Update the changelog"]

    result = await run(tmp_path, capsys, *argv)

    assert result.code == 1
    first, *rest = result.err.splitlines()
    assert first.startswith("equitr: ") and expected in first, result.err
    assert "Traceback" not in result.err
    if case not in ("bad-api-url", "bad-max-issues", "bad-budget"):
        assert rest and rest[0].startswith("  → "), result.err
    if case in ("no-token", "empty-token"):
        assert "`github-token`" in rest[0]
    assert f"::error title=equitr::{first.removeprefix('equitr: ')}" in result.out
    assert "## equitr could not run" in result.summary
    assert fake.calls == []


async def test_an_event_the_action_does_not_handle_is_a_warning_not_a_failure(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner_env("push", vendored("push", "00.none.json") if (WEBHOOKS / "push" / "00.none.json").exists() else {})
    result = await run(tmp_path, capsys)
    assert result.code == 0
    assert "::warning title=equitr::equitr action has nothing to do for `push` events" in result.out
    assert fake.calls == []


# -- as GitHub's runner starts it: a separate process ----------------------------------------------------


async def test_as_a_subprocess(fake: FakeGitHub, runner_env: Any, tmp_path: Path) -> None:
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    comment = fake.add_comment(REPO, issue["number"], "/equitr help", user=USER)
    payload = vendored("issue_comment", "01.created.json")
    payload["issue"]["number"] = issue["number"]
    payload["comment"].update(id=comment["id"], body="/equitr help")
    payload["sender"]["login"] = payload["comment"]["user"]["login"] = USER
    payload["repository"]["full_name"] = REPO
    env = {**os.environ, **runner_env("issue_comment", payload)}

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "equitr.action",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 0, err.decode()
    summary = (tmp_path / "summary.md").read_text()
    assert "| `help` | **done** |" in summary
    assert fake.reactions_on_comment(comment["id"]) == ["eyes"]
    assert TOKEN not in out.decode() + err.decode() + summary

    # A malformed event file in a real process: exit 1, one line and a hint, no traceback.
    Path(env["GITHUB_EVENT_PATH"]).write_text("{not json")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "equitr.action", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    lines = err.decode().splitlines()
    assert lines[0].startswith("equitr: The event file") and "is not valid JSON" in lines[0]
    assert lines[1].startswith("  → ") and len(lines) == 2


async def test_schedule_runs_the_tasks_of_equitr_toml_within_its_limits(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    n = backlog(fake)
    fake.set_file(
        REPO,
        ".equitr.toml",
        (
            "[schedule]\nmax_issues_per_run = 1\nbudget_usd = 1.5\n\n"
            '[[schedule.tasks]]\nname = "dependencies"\nprompt = "Update the pinned dependencies."\n'
            'cron = "17 3 * * *"\n\n'
            '[[schedule.tasks]]\nname = "weekly docs"\nprompt = "Fix broken links in docs/."\ncron = "0 6 * * 1"\n'
        ),
    )
    runner_env("schedule", schedule_payload("17 3 * * *"))
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    jobs = stored_jobs(db)
    # The stricter limit wins: one labelled issue (config: 1, input default: 3), then the task of this cron.
    assert len(jobs) == 2 and jobs[0].number == n["oldest"]
    task = jobs[1]
    assert task.args["text"] == "Update the pinned dependencies."
    opened = fake.issue(REPO, task.number)
    assert opened["title"] == "equitr task: dependencies"
    assert not any(i["title"] == "equitr task: weekly docs" for i in fake.repo(REPO).issues.values())
    assert sum(j.args["budget_usd"] for j in jobs[:1]) == pytest.approx(0.75)  # half of $1.50 for the first
    assert "of a $1.50 budget" in result.summary

    # The next scheduled run finds the task's issue again instead of opening a second one.
    monkeypatch.setenv("GITHUB_RUN_ID", "4243")
    runner_env("schedule", schedule_payload("17 3 * * *"))
    await run(tmp_path, capsys)
    titles = [i["title"] for i in fake.repo(REPO).issues.values()]
    assert titles.count("equitr task: dependencies") == 1


# -- `[trigger] label` of .equitr.toml (issue #9, B3) --------------------------------------------------------


async def test_the_configured_trigger_label_is_the_actions_label(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    fake.set_file(REPO, ".equitr.toml", '[trigger]\nlabel = "autofix"\n')
    autofix = fake.add_issue(REPO, title="Typo in README", labels=["autofix"], labeled_by=USER)["number"]
    fake.add_issue(REPO, title="Not this one", labels=["equitr"], labeled_by=USER)
    runner_env("schedule", schedule_payload())
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys, "--label", "")  # the Action's `label` input left empty (its default)

    assert result.code == 0, result.err
    assert [j.number for j in stored_jobs(db)] == [autofix]
    assert "(label `autofix`, max-issues 3)" in result.summary

    # The `issues` event of the label: a fix; the old default label: nothing.
    payload = vendored("issues", "09.labeled.json")
    payload["issue"]["number"] = autofix
    payload["label"]["name"] = "autofix"
    monkeypatch.setenv("GITHUB_RUN_ID", "4243")
    runner_env("issues", payload)
    result = await run(tmp_path, capsys, "--label", "")
    assert "| `fix` | **failed** |" in result.summary, result.summary
    payload["label"]["name"] = "equitr"
    monkeypatch.setenv("GITHUB_RUN_ID", "4244")
    runner_env("issues", payload)
    result = await run(tmp_path, capsys, "--label", "")
    assert "No job for this `issues` event: no work." in result.summary


# -- one issue, several workflow runs ------------------------------------------------------------------------


async def comment_run(
    fake: FakeGitHub,
    runner_env: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    number: int,
    body: str,
    *,
    login: str = USER,
    run_id: str,
) -> Result:
    """One workflow run for one new comment, as its own `equitr action` with its own (empty) store."""
    made = fake.add_comment(REPO, number, body, user=login)
    payload = vendored("issue_comment", "00.created.json")
    payload["issue"]["number"] = number
    payload["comment"].update(id=made["id"], body=body)
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = login
    runner_env("issue_comment", payload)
    monkeypatch.setenv("GITHUB_RUN_ID", run_id)
    return await run(tmp_path, capsys)


def answer_comments(fake: FakeGitHub, number: int) -> list[dict[str, Any]]:
    return [c for c in fake.issue_comments(REPO, number) if "<!-- equitr:answer:" in c["body"]]


async def test_a_second_run_on_the_issue_writes_its_own_comment(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """B1: job ids restart at 1 in every run, so `answer:1` of the second run was the first run's comment."""
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    first = await comment_run(
        fake, runner_env, tmp_path, capsys, monkeypatch, issue["number"], "/equitr help", run_id="1"
    )
    assert first.code == 0, first.err
    (help_comment,) = answer_comments(fake, issue["number"])

    second = await comment_run(
        fake, runner_env, tmp_path, capsys, monkeypatch, issue["number"], "/equitr status", run_id="2"
    )

    assert second.code == 0, second.err
    help_after, status = answer_comments(fake, issue["number"])
    assert help_after["id"] == help_comment["id"] and "/equitr fix" in help_after["body"]  # still the help
    assert "### equitr jobs here" in status["body"] and "`help`" in status["body"]  # and it saw run 1's job
    assert not fake.calls_to("PATCH", f"/repos/{REPO}/issues/comments/{help_comment['id']}")[1:]  # its record only


async def test_a_reader_gets_the_refusal_once_across_runs(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """B8: the "I will not repeat this note" reply came again from every run (each has an empty store)."""
    fake.set_permission(REPO, "mallory", "read")
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    for run_id in ("1", "2", "3"):
        result = await comment_run(
            fake,
            runner_env,
            tmp_path,
            capsys,
            monkeypatch,
            issue["number"],
            "/equitr fix",
            login="mallory",
            run_id=run_id,
        )
        assert result.code == 0, result.err
    notes = [
        c["body"] for c in fake.issue_comments(REPO, issue["number"]) if "I will not repeat this note" in c["body"]
    ]
    assert len(notes) == 1 and "@mallory" in notes[0]
    # Another reader still gets their own note.
    fake.set_permission(REPO, "trudy", "read")
    await comment_run(
        fake, runner_env, tmp_path, capsys, monkeypatch, issue["number"], "/equitr plan", login="trudy", run_id="4"
    )
    notes = [
        c["body"] for c in fake.issue_comments(REPO, issue["number"]) if "I will not repeat this note" in c["body"]
    ]
    assert len(notes) == 2 and "@trudy" in notes[1]


def seeded_store(db: Path, number: int, *, paid: int, helps: int, failed_reason: str = "") -> list[Job]:
    """A kept store (`EQUITR_DB`) with `paid` fixes that cost $0.25 each, then `helps` free help jobs."""
    from equitr.jobs.model import NewJob

    store = SqliteStore(db)
    made = []
    try:
        for i in range(paid + helps):
            kind = "fix" if i < paid else "help"
            delivery = f"seed-{number}-{len(store.jobs(limit=None))}"
            job = store.create(NewJob(kind, REPO, number, USER, delivery), [f"delivery:{delivery}"])
            assert job is not None and store.claim(job.id, "seed", 60) is not None
            state = "failed" if failed_reason and i == 0 else "done"
            store.finish(job.id, "seed", state, failed_reason if state == "failed" else "", 0.25 if i < paid else 0.0)
            made.append(job)
    finally:
        store.close()
    return made


async def test_cost_counts_every_job_of_the_issue_and_of_the_month(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """B5: `/equitr cost` counted only the latest 20 jobs: 4 paid fixes and 17 helps showed 19 jobs, $0."""
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    other = fake.add_issue(REPO, title="Another", user=USER)
    db = tmp_path / "kept" / "equitr.db"
    seeded_store(db, issue["number"], paid=4, helps=17)
    seeded_store(db, other["number"], paid=1, helps=0)
    # One paid job of last month on the other issue: not this month's spend.
    old = seeded_store(db, other["number"], paid=1, helps=0)[0]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET created_at = created_at - 40 * 86400 WHERE id = ?", (old.id,))
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await comment_run(
        fake, runner_env, tmp_path, capsys, monkeypatch, issue["number"], "/equitr cost", run_id="9"
    )

    assert result.code == 0, result.err
    (body,) = [c["body"] for c in answer_comments(fake, issue["number"])]
    assert "| this issue | 21 | $1.0000 |" in body, body
    if datetime.now(UTC).day > 10:  # the seeded month-old job is last month's (not when run early in a month)
        assert f"| {REPO}, month to date | 22 | $1.2500 |" in body, body


async def test_status_table_has_as_many_cells_as_headers(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """B6: a job's reason was a seventh cell under six headers, which GitHub drops."""
    issue = fake.add_issue(REPO, title="Crash on start", user=USER)
    db = tmp_path / "kept" / "equitr.db"
    seeded_store(db, issue["number"], paid=2, helps=1, failed_reason="model unavailable | try again")
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await comment_run(
        fake, runner_env, tmp_path, capsys, monkeypatch, issue["number"], "/equitr status", run_id="9"
    )

    assert result.code == 0, result.err
    (body,) = [c["body"] for c in answer_comments(fake, issue["number"])]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    _header, _separator, *rows = lines
    widths = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
    assert len(widths) == 1 and len(rows) == 3, body
    assert "model unavailable \\| try again" in body
