"""Output caps from the model's capabilities, and replies cut off at their cap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from equitr.agent.asker import clip_reply
from equitr.agent.loop import Agent, Task
from equitr.agent.report import repairs_line
from equitr.config.flags import Limits
from equitr.config.repo import parse
from equitr.errors import RepoConfigError
from equitr.models.caps import is_reasoning, output_caps
from equitr.models.types import Reply, ToolCall
from equitr.tools.base import ToolContext
from tests.fakes.scripted_model import ScriptedModel

SANDBOX = "bwrap" if shutil.which("bwrap") else "none"


@pytest.mark.parametrize(
    ("name", "reasoning"),
    [
        ("openai/o3", True),
        ("openai/o4-mini", True),
        ("openai/gpt-5-mini", True),
        ("ollama/qwen3:30b", True),
        ("ollama/gpt-oss:20b", True),
        ("openai-compatible/deepseek-r1-distill-qwen-7b", True),
        ("openai-compatible/openai/o3", True),
        ("ollama/qwen3-coder:30b", False),
        ("openai/gpt-4o-mini", False),
        ("openai/gpt-4.1-mini", False),
        ("anthropic/claude-sonnet-4-5", False),
        ("local/smollm2", False),
    ],
)
def test_reasoning_models_are_recognised(name: str, reasoning: bool) -> None:
    assert is_reasoning(name) is reasoning


def test_reasoning_models_get_room_and_the_configured_value_wins() -> None:
    thinking, plain, small = (
        output_caps("ollama/qwen3:30b"),
        output_caps("openai/gpt-4.1-mini"),
        output_caps("local/smollm2"),
    )
    assert thinking.cap("plan") >= 4 * plain.cap("plan") and thinking.cap("review") >= 4 * plain.cap("review")
    assert thinking.cap("edit x.py") > plain.cap("edit x.py") > small.cap("edit x.py")
    assert output_caps("ollama/qwen3:30b", configured=3000).cap("review") == 3000


def test_max_output_tokens_is_validated() -> None:
    assert parse("[limits]\nmax_output_tokens = 8192\n").limits.max_output_tokens == 8192
    with pytest.raises(RepoConfigError) as info:
        parse("[limits]\nmax_output_tokens = 10\n")
    (problem,) = info.value.problems
    assert problem.key == "limits.max_output_tokens" and "between 64 and 200000" in str(problem.allowed)


async def test_a_cut_off_reply_is_asked_again_with_more_room_never_used_as_whole(sample_repo: Path) -> None:
    plan = json.dumps(
        {"execution_steps": [{"step": 1, "tool": "file", "parameters": {"action": "edit", "path": "mathutil.py"}}]}
    )
    fix = "<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n    return sum(values) / len(values)\n"
    cut = Reply(content=plan[:40], model="", finish_reason="length")
    cut_edit = Reply(content=fix, model="", finish_reason="length")  # one block, its end missing
    model = ScriptedModel(
        [cut, plan, cut_edit, cut_edit, fix + ">>>>>>> REPLACE", '{"decision": "accept", "reason": "ok"}']
    )
    tools = ToolContext(root=sample_repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]
    agent = Agent(model=model, supervisor="ollama/qwen3:30b", worker="openai/gpt-4.1-mini", tools=tools)
    result = await agent.run(Task("mean() is off by one"))
    assert result.status == "accepted", result.reason
    assert model.caps[:2] == [4096, 8192]  # the plan: cut off at 4096, asked again with 8192
    assert model.caps[2:5] == [2048, 4096, 2048]  # the edit: cut, again with more room, still cut: reflected
    assert "cut off at the token limit" in model.seen[4][1][-1].content
    assert result.ledger.cut_off == 3 and result.ledger.cut_off_retried == 2
    assert "3 replies were cut off at their token limit (2 asked again with more room)" in repairs_line(result.ledger)


async def test_a_configured_cap_is_the_cap_of_every_call(sample_repo: Path) -> None:
    plan = json.dumps(
        {"execution_steps": [{"step": 1, "tool": "file", "parameters": {"action": "read", "path": "mathutil.py"}}]}
    )
    model = ScriptedModel([plan, plan, "I do not know", "?", "?"])
    tools = ToolContext(root=sample_repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]
    agent = Agent(
        model=model, supervisor="s/s", worker="w/w", tools=tools, limits=Limits(max_iterations=1), max_output_tokens=300
    )
    await agent.run(Task("mean() is off by one"))
    assert model.caps and set(model.caps) == {300}


async def test_a_reply_cut_off_while_repeating_itself_is_not_given_more_room(sample_repo: Path) -> None:
    loop = Reply(
        content='{"execution_steps": [' + '{"step": 1, "dependencies": [1]}, ' * 40, model="", finish_reason="length"
    )
    model = ScriptedModel([loop, "no plan", "still none", "I cannot"] + ["?"] * 6)
    tools = ToolContext(root=sample_repo, sandbox_mode=SANDBOX, test_command="python -m pytest -q")  # type: ignore[arg-type]
    agent = Agent(model=model, supervisor="local/smollm2", worker="w/w", tools=tools, limits=Limits(max_iterations=1))
    result = await agent.run(Task("mean() is off by one"))
    assert model.caps[:2] == [1024, 1024]  # the loop was reported as cut off and re-asked, not given 1536
    assert result.ledger.cut_off == 1 and result.ledger.cut_off_retried == 0


def test_a_reply_within_its_cap_is_not_touched_and_keeps_its_tool_call_ids() -> None:
    """Clipping must not mark a whole reply as cut off: a tool call that lost its id would be taken for a
    truncated reply, and its result could not name the call it answers."""
    call = ToolCall("file", '{"action": "read", "path": "a.py"}', "call_7")
    reply = Reply(content="", model="m", tool_calls=(call,))
    assert clip_reply(reply, 1000) is reply
    long = Reply(content="x" * 50, model="m", tool_calls=(ToolCall("file", "y" * 50, "call_8"),))
    cut = clip_reply(long, 10)
    assert cut.truncated and cut.tool_calls[0].id == "call_8" and len(cut.tool_calls[0].arguments) == 10
