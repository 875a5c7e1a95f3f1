"""The agent loop with a deterministic scripted model (not a real model): plan → execute → test → review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from equitr.agent.loop import Agent, Event, Task
from equitr.config.flags import Limits
from equitr.errors import ModelError
from equitr.sandbox import binaries
from equitr.tools.base import ToolContext
from tests.fakes.scripted_model import ScriptedModel

SANDBOX = "bwrap" if binaries.bwrap().path else "none"

GOOD_PLAN = json.dumps(
    {
        "execution_steps": [
            {
                "step": 1,
                "tool": "search",
                "parameters": {"query": "def mean", "search_type": "text"},
                "dependencies": [],
            },
            {"step": 2, "tool": "file", "parameters": {"action": "read", "path": "mathutil.py"}, "dependencies": [1]},
            {
                "step": 3,
                "tool": "file",
                "parameters": {
                    "action": "edit",
                    "path": "mathutil.py",
                    "search": "(len(values) + 1)",
                    "replace": "len(values)",
                },
                "dependencies": [2],
            },
        ]
    }
)
ACCEPT = '{"decision": "accept", "reason": "mean divides by the count now"}'


def tools(repo: Path) -> ToolContext:
    return ToolContext(root=repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]


async def test_fixes_the_bug_with_a_planned_edit(sample_repo: Path) -> None:
    events: list[Event] = []
    model = ScriptedModel([GOOD_PLAN, ACCEPT])
    agent = Agent(
        model=model,
        supervisor="scripted/strong",
        worker="scripted/weak",
        tools=tools(sample_repo),
        on_event=events.append,
    )
    result = await agent.run(Task("mean() returns the wrong value; fix it"))
    assert result.status == "accepted", result.reason
    assert "len(values)\n" in (sample_repo / "mathutil.py").read_text()
    assert result.tests_before is not None and not result.tests_before.ok
    assert result.tests_after is not None and result.tests_after.ok
    assert "-    return sum(values) / (len(values) + 1)" in result.diff
    assert [e.kind for e in events if e.kind in ("plan", "review", "done")] == ["plan", "review", "done"]
    assert [r.role for r in result.ledger.rows()] == ["supervisor"]


async def test_worker_edits_when_the_plan_leaves_the_edit_open(sample_repo: Path) -> None:
    plan = json.dumps(
        {
            "execution_steps": [
                {"step": 1, "tool": "file", "parameters": {"action": "edit", "path": "mathutil.py"}, "dependencies": []}
            ]
        }
    )
    worker_reply = (
        "Here you go:\n<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n"
        "    return sum(values) / len(values)\n>>>>>>> REPLACE\n"
    )
    model = ScriptedModel([plan, worker_reply, "looks good: accept"])
    result = await Agent(model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo)).run(Task("fix mean"))
    assert result.status == "accepted"
    assert [(r.model, r.role) for r in result.ledger.rows()] == [("s/s", "supervisor"), ("w/w", "worker")]


async def test_worker_mismatch_is_reflected_back_then_fixed(sample_repo: Path) -> None:
    plan = json.dumps(
        {
            "execution_steps": [
                {"step": 1, "tool": "file", "parameters": {"action": "edit", "path": "mathutil.py"}, "dependencies": []}
            ]
        }
    )
    wrong = "<<<<<<< SEARCH\n    return total / count\n=======\n    return 0\n>>>>>>> REPLACE\n"
    right = (
        "<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n"
        "    return sum(values) / len(values)\n>>>>>>> REPLACE\n"
    )
    model = ScriptedModel([plan, wrong, right, ACCEPT])
    result = await Agent(model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo)).run(Task("fix"))
    assert result.status == "accepted"
    retry_prompt = model.seen[2][1][-1].content
    assert "could not be applied" in retry_prompt  # the precise error went back to the worker


async def test_garbage_plans_fall_back_and_a_worker_edits_the_failing_code(sample_repo: Path) -> None:
    worker = (
        "<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n"
        "    return sum(values) / len(values)\n>>>>>>> REPLACE"
    )
    model = ScriptedModel(["I am not sure.", "Still prose.", "<think>hmm</think>nothing", worker, "???"])
    result = await Agent(model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo)).run(
        Task("the `mean` function in mathutil.py is wrong")
    )
    # 3 unusable plans (1 + 2 re-asks) → keyword fallback; the unreadable review is decided by the rules.
    assert result.ledger.fallbacks == 1 and result.ledger.reasks == 2
    assert result.status == "accepted" and result.tests_after is not None and result.tests_after.ok
    assert result.ledger.repairs["review_by_rules"] == 1


async def test_accept_with_failing_tests_is_overruled(sample_repo: Path) -> None:
    bad = json.dumps(
        {
            "execution_steps": [
                {
                    "step": 1,
                    "tool": "file",
                    "parameters": {
                        "action": "edit",
                        "path": "mathutil.py",
                        "search": "min(value, high)",
                        "replace": "min(value, high + 1)",
                    },
                    "dependencies": [],
                }
            ]
        }
    )
    model = ScriptedModel([bad, ACCEPT])
    result = await Agent(
        model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo), limits=Limits(max_iterations=1)
    ).run(Task("fix mean"))
    assert result.status == "stopped" and "tests fail" in result.reason


async def test_budget_stops_with_at_most_one_call_of_overshoot(sample_repo: Path) -> None:
    model = ScriptedModel(["prose"] * 10, cost_per_call=0.4)
    result = await Agent(
        model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo), limits=Limits(budget_usd=1.0)
    ).run(Task("fix mean"))
    assert result.status == "stopped" and "budget" in result.reason
    assert len(model.seen) == 3  # 0.4 + 0.4 + 0.4: the third call crossed the budget, no fourth was made
    assert "--budget" in result.hint


async def test_step_limit(sample_repo: Path) -> None:
    many = json.dumps(
        {
            "execution_steps": [
                {"step": i, "tool": "file", "parameters": {"action": "list", "path": "."}, "dependencies": []}
                for i in range(1, 9)
            ]
        }
    )
    result = await Agent(
        model=ScriptedModel([many]),
        supervisor="s/s",
        worker="w/w",
        tools=tools(sample_repo),
        limits=Limits(max_steps=3),
    ).run(Task("look around"))
    assert result.status == "stopped" and "step limit of 3" in result.reason


async def test_model_failure_is_a_clean_failed_result(sample_repo: Path) -> None:
    down = ModelError("Cannot reach the model server", retryable=True, hint="Is it running?")
    result = await Agent(model=ScriptedModel([down]), supervisor="s/s", worker="w/w", tools=tools(sample_repo)).run(
        Task("fix")
    )
    assert result.status == "failed" and result.hint == "Is it running?"


@pytest.mark.parametrize("mode", ["plan", "ask"])
async def test_plan_and_ask_change_nothing(sample_repo: Path, mode: str) -> None:
    before = (sample_repo / "mathutil.py").read_text()
    model = ScriptedModel([GOOD_PLAN])
    result = await Agent(model=model, supervisor="s/s", worker="w/w", tools=tools(sample_repo)).run(
        Task("fix mean", mode=mode)
    )  # type: ignore[arg-type]
    assert result.status == "accepted" and len(result.plan) == 3
    assert (sample_repo / "mathutil.py").read_text() == before


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("$ pytest -q\nexit code 1 (0.4 s)\n..F\n1 failed, 2 passed in 0.03s\n", "1 failed, 2 passed in 0.03s"),
        (
            "$ pytest -q\nexit code 4 (0.7 s)\nImportError while loading conftest '/workspace/conftest.py'.\n"
            "E   ModuleNotFoundError: No module named 'dep_pkg'\n",
            "exit code 4 (0.7 s); `dep_pkg` is not installed in the sandbox (install it with `fix.setup_command`)",
        ),
        (
            "$ pytest -q\nexit code 2 (0.5 s)\nE   ModuleNotFoundError: No module named 'yaml.cyaml'\n"
            "=========== 1 error in 0.12s ===========\n",
            "1 error in 0.12s; `yaml.cyaml` is not installed in the sandbox (install it with `fix.setup_command`)",
        ),
    ],
)
def test_test_summary_names_a_missing_module(output: str, expected: str) -> None:
    from equitr.agent.testcmd import summarize

    assert summarize(output) == expected


async def test_the_models_see_a_unittest_report_written_to_stderr(tmp_path: Path) -> None:
    """unittest writes its whole report to stderr: the planner and the reviewer see the failure itself, and
    the summary is unittest's own closing lines, not a bare exit code."""
    from tests.conftest import DATA, make_repo

    repo = make_repo(tmp_path, DATA / "sample_unittest_repo")
    model = ScriptedModel([GOOD_PLAN, ACCEPT])
    context = ToolContext(root=repo, sandbox_mode=SANDBOX, test_command="python -m unittest")  # type: ignore[arg-type]
    result = await Agent(model=model, supervisor="s/s", worker="w/w", tools=context).run(Task("fix mean"))
    assert result.status == "accepted", result.reason
    assert result.tests_before is not None and result.tests_after is not None
    assert result.tests_before.summary.startswith("Ran 2 tests in ")
    assert result.tests_before.summary.endswith(": FAILED (failures=1)")
    assert result.tests_after.summary.endswith(": OK")
    plan_prompt = "\n".join(str(m.content) for m in model.seen[0][1])
    review_prompt = "\n".join(str(m.content) for m in model.seen[1][1])
    assert "AssertionError: 1.5 != 2.0" in plan_prompt and "FAIL: test_mean" in plan_prompt
    assert "Ran 2 tests" in review_prompt and "\nOK" in review_prompt


def test_test_runs_never_run_beside_another_step() -> None:
    """Code under test can swap a file for a symlink between a read's check and its open: a `run` step
    is scheduled alone, like a write."""
    from equitr.agent.loop import _mutates
    from equitr.tools.file import FileParams
    from equitr.tools.registry import Step
    from equitr.tools.run import RunParams
    from equitr.tools.search import SearchParams

    assert _mutates(Step(step=1, tool="run", parameters=RunParams()))
    assert _mutates(Step(step=1, tool="file", parameters=FileParams(action="write", path="a.py", content="")))
    assert not _mutates(Step(step=1, tool="file", parameters=FileParams(action="read", path="a.py")))
    assert not _mutates(Step(step=1, tool="search", parameters=SearchParams(query="x")))
