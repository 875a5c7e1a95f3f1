"""Dispatch a validated plan `Step` to its tool. Tool and path errors become results the model can read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from equitr.errors import PathRefused, ToolError
from equitr.sandbox.threads import in_thread
from equitr.tools import file, git, run, search
from equitr.tools.base import ToolContext, ToolResult
from equitr.tools.schema import FileParams, GitParams, RunParams, SearchParams, Step

__all__ = ["execute", "execute_sync"]

_TOOLS: dict[str, tuple[type[Any], Callable[[Any, ToolContext], ToolResult]]] = {
    "search": (SearchParams, search.run),
    "file": (FileParams, file.run),
    "git": (GitParams, git.run),
    "run": (RunParams, run.run),
}


def execute_sync(step: Step, ctx: ToolContext) -> ToolResult:
    params_type, runner = _TOOLS[step.tool]
    if not isinstance(step.parameters, params_type):
        return ToolResult(ok=False, output=f"Step {step.step}: parameters do not belong to the `{step.tool}` tool.")
    try:
        return runner(step.parameters, ctx)
    except (ToolError, PathRefused) as error:
        text = error.message + (f"\nHint: {error.hint}" if error.hint else "")
        return ToolResult(ok=False, output=text, data={"error": type(error).__name__})
    except (OSError, RuntimeError) as error:
        # What code under test leaves in the checkout (symlink loops, over-long names, odd files) is the
        # model's problem to work around, never the end of the job.
        return ToolResult(
            ok=False, output=f"The {step.tool} tool failed: {_os_reason(error)}.", data={"error": "OSError"}
        )


def _os_reason(error: OSError | RuntimeError) -> str:
    """The reason without the host path (`filename` would name equitr's work directory)."""
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return "a symlink loop" if "symlink loop" in str(error).lower() else type(error).__name__


async def execute(step: Step, ctx: ToolContext) -> ToolResult:
    """Run the step's tool in a worker thread (tools block on subprocesses and files). Cancelled (the job
    was), the command it runs in the sandbox is killed and the thread let go of the checkout first."""
    return await in_thread(execute_sync, step, ctx, stop=ctx.cancel)
