"""The tool-calling strategy with a deterministic scripted model (not a real model) that sends native tool
calls: one step at a time, within the same limits, budget, sandbox, ledger and trajectory as plans."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from equitr.agent.loop import Agent, Event, Task
from equitr.agent.toolloop import TOOLS
from equitr.config.flags import Limits
from equitr.models.types import Reply, ToolCall
from equitr.tools.base import ToolContext
from tests.fakes.scripted_model import ScriptedModel

SANDBOX = "bwrap" if shutil.which("bwrap") else "none"
ACCEPT = '{"decision": "accept", "reason": "mean divides by the count"}'
FIX = {"action": "edit", "path": "mathutil.py", "search": "(len(values) + 1)", "replace": "len(values)"}


def call(name: str, args: dict[str, Any] | str, n: int = 1) -> Reply:
    text = args if isinstance(args, str) else json.dumps(args)
    return Reply(content="", model="", finish_reason="tool_calls", tool_calls=(ToolCall(name, text, f"c{n}"),))


def agent(repo: Path, model: ScriptedModel, **kw: Any) -> Agent:
    tools = ToolContext(root=repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]
    return Agent(model=model, supervisor="s/strong", worker="w/weak", tools=tools, strategy="tools", **kw)


async def test_the_supervisor_calls_tools_one_step_at_a_time_and_sees_each_result(sample_repo: Path) -> None:
    events: list[Event] = []
    model = ScriptedModel(
        [
            call("file", {"action": "read", "path": "mathutil.py"}, 1),
            call("file", FIX, 2),
            call("run", {}, 3),
            Reply(content="mean() divided by one too many; fixed.", model=""),
            ACCEPT,
        ]
    )
    result = await agent(sample_repo, model, on_event=events.append).run(Task("mean() is off by one"))
    assert result.status == "accepted" and result.strategy == "tools", result.reason
    assert "+    return sum(values) / len(values)" in result.diff and result.tests_after and result.tests_after.ok
    # the tools went with every supervisor call of the conversation, not with the review
    assert model.tools_sent[:4] == [TOOLS] * 4 and model.tools_sent[4] is None
    second = model.seen[1][1]
    assert [m.role for m in second[-2:]] == ["assistant", "tool"]
    assert second[-2].tool_calls[0].id == "c1" and second[-1].tool_call_id == "c1"
    assert "11\t    return sum(values) / (len(values) + 1)" in second[-1].content  # the read's result
    assert "exit code 0" in model.seen[3][1][-1].content  # the test run's result
    # the same records as a plan's steps: trajectory, ledger, the events behind the status comment
    assert [e.what for e in result.trajectory if e.actor == "tool"][:3] == [
        "tests: 1 failed, 1 passed in " + result.tests_before.summary.split(" in ")[1],  # type: ignore[union-attr]
        "file(action='read', path='mathutil.py')",
        "file(action='edit', path='mathutil.py')",
    ]
    assert [r.role for r in result.ledger.rows()] == ["supervisor"] and len(result.ledger.calls) == 5
    kinds = [e.kind for e in events]
    assert kinds[0] == "testing" and "planning" in kinds and kinds[-2:] == ["review", "done"]
    assert [e.data["steps"] for e in events if e.kind == "plan"][-1] == [
        "file(action='read', path='mathutil.py')",
        "file(action='edit', path='mathutil.py')",
        "run()",
    ]


async def test_auto_uses_tools_only_when_the_server_calls_them_natively(sample_repo: Path) -> None:
    tools = ToolContext(root=sample_repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]
    plain = ScriptedModel(["not a plan"] * 3 + ["no edit"] * 3, native_tools=False)
    result = await Agent(model=plain, supervisor="s/s", worker="w/w", tools=tools, limits=Limits(max_iterations=1)).run(
        Task("mean() is off by one")
    )
    assert result.strategy == "plan" and plain.tools_sent[0] is None
    native = ScriptedModel([call("file", FIX), Reply(content="done", model=""), ACCEPT], native_tools=True)
    result = await Agent(model=native, supervisor="s/s", worker="w/w", tools=tools).run(Task("mean() is off by one"))
    assert result.strategy == "tools" and result.status == "accepted" and native.tools_sent[0] == TOOLS


async def test_an_edit_without_search_goes_to_a_worker_with_its_description(sample_repo: Path) -> None:
    worker = (
        "<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n"
        "    return sum(values) / len(values)\n>>>>>>> REPLACE"
    )
    model = ScriptedModel(
        [
            call("file", {"action": "edit", "path": "mathutil.py", "description": "divide by len(values), not +1"}),
            worker,
            Reply(content="done", model=""),
            ACCEPT,
        ]
    )
    result = await agent(sample_repo, model).run(Task("mean() is off by one"))
    assert result.status == "accepted"
    assert model.seen[1][0] == "w/weak" and model.seen[1][1][-1].content.startswith(
        "Instruction: divide by len(values), not +1"
    )


async def test_sandbox_refusals_and_bad_calls_come_back_as_errors_the_model_can_read(
    sample_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    model = ScriptedModel(
        [
            call("file", {"action": "write", "path": ".github/workflows/x.yml", "content": "on: push\n"}, 1),
            call("file", {"action": "write", "path": "../outside.txt", "content": "x"}, 2),
            call("browser", {"url": "http://example.com"}, 3),
            call("read_file", '{"file_path": "mathutil.py"', 4),  # an alias, and broken JSON
            Reply(content="I give up.", model=""),
        ]
    )
    result = await agent(sample_repo, model, limits=Limits(max_iterations=1)).run(Task("mean() is off by one"))
    results = [messages[-1].content for _, messages in model.seen[1:5]]
    assert results[0].startswith("Error:") and ".github/workflows" in results[0]
    assert results[1].startswith("Error:") and not outside.exists()
    assert results[2].startswith("Error: step 3: unknown tool 'browser'")
    assert "mathutil.py (lines 1-11 of 11)" in results[3]
    assert result.ledger.repairs["tool_alias"] >= 1 and not (sample_repo / ".github" / "workflows" / "x.yml").exists()
    assert result.status == "stopped" and not result.changed


async def test_the_step_limit_bounds_the_conversation(sample_repo: Path) -> None:
    model = ScriptedModel([call("search", {"query": "mean"}, n) for n in range(10)])
    result = await agent(sample_repo, model, limits=Limits(max_steps=3)).run(Task("mean() is off by one"))
    assert result.status == "stopped" and "step limit of 3" in result.reason
    # three steps ran; the model was not asked for a fourth
    assert len(model.seen) == 3 and sum(e.what.startswith("search(") for e in result.trajectory) == 3


async def test_the_budget_bounds_the_conversation(sample_repo: Path) -> None:
    model = ScriptedModel([call("search", {"query": "mean"}, n) for n in range(10)], cost_per_call=0.4)
    result = await agent(sample_repo, model, limits=Limits(budget_usd=1.0)).run(Task("mean() is off by one"))
    assert result.status == "stopped" and "budget" in result.reason and len(model.seen) == 3


async def test_revise_goes_back_to_the_model_with_the_reason_and_the_failure_within_the_iterations(
    sample_repo: Path,
) -> None:
    wrong = {"action": "edit", "path": "mathutil.py", "search": "(len(values) + 1)", "replace": "(len(values) + 2)"}
    revise = '{"decision": "revise", "reason": "the divisor is still wrong"}'
    model = ScriptedModel(
        [call("file", wrong), Reply(content="done", model=""), revise, Reply(content="still done", model=""), revise]
    )
    result = await agent(sample_repo, model, limits=Limits(max_iterations=2)).run(Task("mean() is off by one"))
    assert result.status == "stopped" and result.iterations == 2
    back = model.seen[3][1][-1].content
    assert back.startswith("The change was not accepted: the tests fail") or "the divisor is still wrong" in back
    assert "assert 1.2 == 2.0" in back or "assert" in back
