"""What code under test leaves in the checkout cannot wedge, kill or bloat the job (S4g, S1b, S4h).

Real files, FIFOs and symlink loops; the FIFO is made by a test run in the real sandbox, and the agent loop
runs with a scripted model.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import threading
from pathlib import Path

import pytest

from equitr.agent.loop import Agent, AgentResult, Task
from equitr.config.flags import Limits
from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams
from equitr.tools.registry import Step, execute_sync
from tests.fakes.scripted_model import ScriptedModel
from tests.security.conftest import needs_bwrap

STOP = '{"decision": "stop", "reason": "enough"}'


def file_step(**params: str) -> Step:
    return Step(step=1, tool="file", parameters=FileParams(**params))  # type: ignore[arg-type]


def run_agent(ctx: ToolContext, plan: dict[str, object], request: str) -> AgentResult:
    """The agent loop in a thread of its own, with a hang guard (not a timing: a blocked open never returns)."""
    model = ScriptedModel([json.dumps(plan), STOP])
    agent = Agent(model=model, supervisor="s/strong", worker="s/weak", tools=ctx, limits=Limits(max_iterations=1))
    outcome: dict[str, AgentResult] = {}
    worker = threading.Thread(target=lambda: outcome.update(r=asyncio.run(agent.run(Task(request)))), daemon=True)
    worker.start()
    worker.join(timeout=240)
    assert not worker.is_alive(), "the agent is blocked"
    return outcome["r"]


@needs_bwrap
def test_a_fifo_made_by_the_tests_never_blocks_a_worker_edit(checkout: Path) -> None:
    """S4g: the tests make `hang.py` a FIFO; the plan leaves its edit to a worker, which used to open it."""
    ctx = ToolContext(root=checkout, sandbox_mode="bwrap", test_command="sh -c '[ -p hang.py ] || mkfifo hang.py'")
    plan = {
        "execution_steps": [
            {"step": 1, "tool": "file", "parameters": {"action": "edit", "path": "hang.py"}, "dependencies": []},
            {"step": 2, "tool": "file", "dependencies": [],
             "parameters": {"action": "edit", "path": "src/app.py", "search": "return 1", "replace": "return 2"}},
        ]
    }  # fmt: skip
    result = run_agent(ctx, plan, "make main() in src/app.py and hang.py return 2")
    assert (checkout / "hang.py").is_fifo()
    refused = [e for e in result.trajectory if e.actor == "worker" and e.what == "edit hang.py"]
    assert refused and not refused[0].ok and "not a regular file" in refused[0].detail
    assert "return 2" in result.diff and "hang.py" not in result.diff


@pytest.mark.parametrize("action", ["write", "edit"])
def test_writing_over_a_fifo_is_refused(checkout: Path, action: str) -> None:
    os.mkfifo(checkout / "hang.py")
    params = {"content": "x = 1\n"} if action == "write" else {"search": "a", "replace": "b"}
    result = execute_sync(file_step(action=action, path="hang.py", **params), ToolContext(root=checkout))
    assert not result.ok and "not a regular file" in result.output
    assert (checkout / "hang.py").is_fifo()


@pytest.mark.parametrize(
    "params",
    [
        {"action": "read", "path": "loop1"},
        {"action": "read", "path": "loop1/x.py"},
        {"action": "list", "path": "loop2"},
        {"action": "write", "path": "loop1", "content": "x"},
        {"action": "edit", "path": "loop2", "search": "a", "replace": "b"},
        {"action": "read", "path": "a" * 300},
        {"action": "write", "path": "src/" + "b" * 300, "content": "x"},
        {"action": "list", "path": "c" * 300},
    ],
    ids=["read", "read-under", "list", "write", "edit", "read-long", "write-long", "list-long"],
)
def test_symlink_loops_and_overlong_names_are_tool_errors(checkout: Path, params: dict[str, str]) -> None:
    """S1b: these used to raise RuntimeError / OSError out of the tool and end the job as an internal error."""
    (checkout / "loop1").symlink_to("loop2")
    (checkout / "loop2").symlink_to("loop1")
    result = execute_sync(file_step(**params), ToolContext(root=checkout, sandbox_mode="none"))
    assert not result.ok
    assert "symlink loop" in result.output or "File name too long" in result.output, result.output
    assert str(checkout) not in result.output  # no host path


def test_a_plan_through_a_symlink_loop_goes_on(checkout: Path) -> None:
    (checkout / "loop1").symlink_to("loop2")
    (checkout / "loop2").symlink_to("loop1")
    plan = {
        "execution_steps": [
            {"step": 1, "tool": "file", "parameters": {"action": "read", "path": "loop1"}, "dependencies": []},
            {"step": 2, "tool": "file", "dependencies": [1],
             "parameters": {"action": "edit", "path": "src/app.py", "search": "return 1", "replace": "return 2"}},
        ]
    }  # fmt: skip
    result = run_agent(ToolContext(root=checkout, sandbox_mode="none", test_command=""), plan, "fix main in app.py")
    assert result.status == "stopped" and "return 2" in result.diff
    assert any("symlink loop" in e.detail for e in result.trajectory)


def test_reading_a_huge_file_is_refused_without_reading_it(checkout: Path) -> None:
    """S4h: a 1 GiB file (sparse: no disk used) left by the tests is not read into equitr's memory."""
    with open(checkout / "huge.txt", "wb") as fh:
        fh.truncate(1024**3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, a high-water mark
    result = execute_sync(file_step(action="read", path="huge.txt"), ToolContext(root=checkout))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not result.ok and "larger than 4 MiB, the most the file tool reads" in result.output
    assert grown < 64 * 1024, f"the read grew the process by {grown} KiB"


def test_files_up_to_the_cap_are_still_read(checkout: Path) -> None:
    (checkout / "big.py").write_text("x = 1\n" * 600_000)  # 3.4 MiB
    result = execute_sync(file_step(action="read", path="big.py"), ToolContext(root=checkout))
    assert result.ok and "(lines 1-" in result.output
