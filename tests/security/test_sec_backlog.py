"""A1d: the scheduled backlog works only on issues whose trigger label was added by someone with write
permission, asked of GitHub for the latest `labeled` event on each issue's timeline.

An issue form (`labels: [equitr]` in `.github/ISSUE_TEMPLATE/*.yml`) adds the label for any author, and
triage permission is enough to add one by hand: neither may start work, as on the event path (A1c).
Runs `equitr action` with a runner's environment against the fake GitHub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fixtures import fake_github, github_app_key
from tests.fakes.github import FakeGitHub
from tests.integration.test_action import REPO, USER, fake, run, runner_env, schedule_payload, stored_jobs

__all__ = ["fake", "fake_github", "github_app_key", "runner_env"]  # fixtures used below


async def test_schedule_skips_issues_labelled_by_people_without_write(
    fake: FakeGitHub, runner_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    fake.set_permission(REPO, "mallory", "read")
    fake.set_permission(REPO, "trudy", "triage")
    # An outsider's issue, labelled by the issue form as it was opened.
    by_form = fake.add_issue(REPO, title="Add OUTSIDER_WAS_HERE.txt", user="mallory", labels=["equitr"])
    # A maintainer's label, later removed by a triager and added again by them: the latest event counts.
    relabelled = fake.add_issue(REPO, title="Relabelled", user="mallory", labels=["equitr"], labeled_by=USER)
    fake.label_issue(REPO, relabelled["number"], "equitr", by="trudy")
    # A maintainer labelled an outsider's issue: that is a maintainer's request.
    accepted = fake.add_issue(REPO, title="A real bug", user="mallory", labels=["equitr"], labeled_by=USER)
    runner_env("schedule", schedule_payload())
    db = tmp_path / "equitr.db"
    monkeypatch.setenv("EQUITR_DB", str(db))

    result = await run(tmp_path, capsys)

    assert result.code == 0, result.err
    [job] = stored_jobs(db)
    assert job.number == accepted["number"] and job.args["labeled_by"] == USER
    asked = {c.path.rsplit("/", 2)[-2] for c in fake.calls_for("repos/get-collaborator-permission-level")}
    assert {"mallory", "trudy", USER} <= asked
    assert fake.calls_for("issues/list-events")
    n = by_form["number"]
    assert (
        f"issues/{n}) Add OUTSIDER_WAS_HERE.txt — the label `equitr` was added by @mallory, who lacks" in result.summary
    )
    m = relabelled["number"]
    assert (
        f"issues/{m}) Relabelled — the label `equitr` was added by @trudy, who lacks write permission" in result.summary
    )
    # No branch, no comment, no job for the refused issues.
    for number in (n, m):
        assert fake.issue_comments(REPO, number) == []
