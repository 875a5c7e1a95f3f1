"""The texts equitr writes on GitHub (`work/render`, `agent/report`): what each shows, and that whatever a
model wrote stays inside its place (one table cell, one list item) and cannot mention, embed or mark."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from equitr.agent.ledger import Ledger
from equitr.agent.loop import AgentResult, Entry
from equitr.agent.loop import TestRun as Run  # not "Test…": pytest would try to collect it
from equitr.agent.report import cost_markdown, repairs_line
from equitr.handlers.render import describe_step, plan_body, pr_body, trajectory_markdown
from equitr.jobs.status import Status, status_body
from equitr.models.types import Reply, Usage
from equitr.tools.registry import Step
from equitr.tools.search import SearchParams

ZWSP = "\u200b"


def ledger() -> Ledger:
    led = Ledger()
    usage = Usage(prompt_tokens=1200, completion_tokens=300)
    led.record("supervisor", Reply("", "openai/gpt-4.1-mini", usage=usage, cost_usd=0.0021, duration_s=1.5))
    led.record("worker", Reply("", "ollama/qwen3:30b", usage=usage, duration_s=4.0))
    led.record("worker", Reply("", "ollama/qwen3:30b", usage=usage, duration_s=2.0))
    return led


def real_diff(tmp_path: Path) -> str:
    """A `git diff` changing one file and adding a workflow, as the fix job's result carries it."""
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> str:
        ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
        return subprocess.run(
            ["git", *ident, *args], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    (tmp_path / "mathutil.py").write_text("def mean(v):\n    return sum(v) / (len(v) + 1)\n")
    git("add", "-A")
    git("commit", "-q", "-m", "v1")
    (tmp_path / "mathutil.py").write_text("def mean(v):\n    return sum(v) / len(v)\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git("add", "-A")
    return git("diff", "--cached")


def test_status_body_shows_phase_plan_progress_and_the_commands() -> None:
    body = status_body(
        Status(job_id=12, kind="fix", requester="alice", phase="running", plan=["search", "edit", "test"], steps_done=2)
    )
    lines = body.splitlines()
    assert lines[0] == "### ⏳ equitr `fix` — running"
    assert "Job 12, asked by @alice." in lines
    assert [line for line in lines if line.startswith("- [")] == ["- [x] search", "- [x] edit", "- [ ] test"]
    assert lines[-1] == "<sub>`/equitr status` · `/equitr cancel` · `/equitr cost` · `/equitr help`</sub>"
    assert "Cost" not in body  # no model call yet, no cost table


@pytest.mark.parametrize(("phase", "icon"), [("done", "✅"), ("failed", "❌"), ("cancelled", "⏹️"), ("stopped", "⏸️")])
def test_status_icons(phase: str, icon: str) -> None:
    assert status_body(Status(1, "plan", "bob", phase=phase)).startswith(f"### {icon} equitr `plan` — {phase}")


def test_model_text_in_a_status_cannot_mention_or_embed() -> None:
    status = Status(1, "fix", "alice", phase="failed", detail="ping @octo/security ![x](https://evil.example/a.png)")
    status.plan = ["<img src=https://evil.example/b.png> read @admin"]
    body = status_body(status)
    assert "@octo" not in body and "@admin" not in body
    assert f"@{ZWSP}octo/security" in body
    assert "evil.example/a.png" not in body and "<img" not in body
    assert "asked by @alice." in body  # equitr's own mention of the requester stays


def test_status_with_a_ledger_shows_the_cost_and_the_budget() -> None:
    body = status_body(Status(1, "fix", "alice", phase="done", ledger=ledger(), budget_usd=1.0))
    assert "<details><summary>Cost</summary>" in body
    assert "| openai/gpt-4.1-mini | supervisor | 1 | 1,200 | 300 | $0.0021 | 1.5 s |" in body
    assert "| ollama/qwen3:30b | worker | 2 | 2,400 | 600 | $0.0000 | 6.0 s |" in body
    assert "| **total** |  | 3 | 3,600 | 900 | $0.0021 | 7.5 s |" in body
    assert "Budget: $0.0021 of $1.00 used." in body


def test_a_trajectory_cell_stays_in_its_row() -> None:
    entries = [Entry(1, "worker", "edit a|b\nc", ok=False, detail="line one\n| forged | row |")]
    rows = trajectory_markdown(entries).splitlines()
    assert len(rows) == 3
    assert rows[2] == "| 1 | worker | edit a\\|b c — line one \\| forged \\| row \\| | ✗ |"


def test_a_long_trajectory_is_cut_and_says_how_much() -> None:
    rows = trajectory_markdown([Entry(i, "tool", f"step {i}") for i in range(70)], limit=60).splitlines()
    assert len(rows) == 2 + 60 + 1
    assert rows[-1] == "| | | … 10 more | |"


def test_pr_body(tmp_path: Path) -> None:
    diff = real_diff(tmp_path)
    result = AgentResult(
        status="accepted",
        reason="mean() divided by one too many; cc @maintainers",
        ledger=ledger(),
        diff=diff,
        tests_before=Run(False, 1, "1 failed | 2 passed", ""),
        tests_after=Run(True, 0, "3 passed", ""),
        trajectory=[Entry(1, "supervisor", "plan")],
    )
    body = pr_body(
        number=4, title="mean() is wrong", result=result, test_command="pytest -q", budget_usd=2.0, requester="alice",
        job_id=9,
    )  # fmt: skip
    lines = body.splitlines()
    assert lines[0] == "Fixes #4"
    # The workflow is named first, before anyone runs CI on the branch.
    assert lines[2].startswith("**⚠️ This change touches files that CI runs or reads")
    assert any(line.startswith("- **`.github/workflows/ci.yml`**") for line in lines)
    assert "equitr's change for **mean() is wrong**, asked by @alice (job 9)." in lines
    assert f"mean() divided by one too many; cc @{ZWSP}maintainers" in lines
    assert [line for line in lines if line.startswith("- `")] == ["- `.github/workflows/ci.yml`", "- `mathutil.py`"]
    assert "Command: `pytest -q`" in lines
    assert "| before | failed — 1 failed \\| 2 passed |" in lines
    assert "| after | passed — 3 passed |" in lines
    assert "Budget: $0.0021 of $2.00 used." in body
    assert "| 1 | supervisor | plan | ✓ |" in lines
    assert lines[-1].endswith("`/equitr fix <instructions>` on #4.</sub>")


def test_pr_body_without_tests_or_a_reason() -> None:
    result = AgentResult(status="accepted", reason="", ledger=Ledger())
    body = pr_body(number=1, title="t", result=result, test_command="", budget_usd=1.0, requester="a", job_id=1)
    assert "The supervisor accepted the change." in body
    assert "Command: `(none configured)`" in body
    assert "| before | not run (no test command) |" in body
    assert "This change touches files that CI" not in body


def test_plan_body_lists_the_steps_and_the_estimate() -> None:
    steps = [Step(step=1, tool="search", parameters=SearchParams(query="def mean @root"))]
    led = ledger()
    led.record_repairs(["json_repair", "alias"], fallback=False)
    body = plan_body(steps=steps, estimate_usd=0.0123, model="openai/gpt-4.1-mini", fallback=True, ledger=led)
    lines = body.splitlines()
    assert lines[0] == "### equitr plan"
    assert "The model's plan could not be used, so this is the keyword fallback plan." in lines
    assert lines[4].startswith("- [ ] `search`(query='def mean @" + ZWSP + "root'")
    assert "**$0.0123** (planning so far: $0.0021)" in body
    assert lines[-1] == "Interpretation layer: 2 repairs (alias ×1, json_repair ×1), 0 fallback plans, 0 re-asks."


def test_plan_body_with_no_steps() -> None:
    body = plan_body(steps=[], estimate_usd=0, model="m", fallback=False, ledger=Ledger())
    assert "- [ ] " not in body and "(no steps)" in body
    assert "fallback" not in body.split("\n")[2]


def test_describe_step_leaves_out_edit_contents() -> None:
    step = Step(step=1, tool="search", parameters=SearchParams(query="x" * 80))
    shown = describe_step(step)
    assert shown.startswith("`search`(query='" + "x" * 50 + "'")
    assert "x" * 51 not in shown


def test_repairs_line_counts_cut_off_replies() -> None:
    led = Ledger()
    assert repairs_line(led) == "Interpretation layer: no repairs were needed."
    led.cut_off, led.cut_off_retried = 2, 1
    assert repairs_line(led).endswith(" 2 replies were cut off at their token limit (1 asked again with more room).")
    led.record_repairs(["fallback"], fallback=True)
    assert repairs_line(led).startswith("Interpretation layer: 0 repairs, 1 fallback plans, 0 re-asks.")


def test_cost_markdown_without_a_budget_has_no_budget_line() -> None:
    text = cost_markdown(ledger(), budget_usd=None)
    assert "Budget:" not in text
    assert text.splitlines()[0] == "| model | role | calls | prompt tok | completion tok | cost (USD) | time |"
