"""The tools, collected from their modules' `SPEC`s, the plan step that names one, and the dispatcher.

A tool is one module of `equitr.tools` that exports `SPEC = ToolSpec(...)`: its parameter model, what runs it,
the schema fragment and prompt line models see, the names models use for it. Nothing else needs to change.
Tool and path errors become results the model can read.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

import equitr.tools
from equitr.errors import PathRefused, ToolError
from equitr.sandbox.threads import in_thread
from equitr.tools.base import Params, ToolContext, ToolResult, ToolSpec

__all__ = ["SPECS", "TOOL_NAMES", "Step", "execute", "execute_sync"]


def _discover() -> dict[str, ToolSpec[Any]]:
    """Every `SPEC` of a module in `equitr.tools`, in the order models see them."""
    found: list[ToolSpec[Any]] = []
    for info in pkgutil.iter_modules(equitr.tools.__path__):
        if info.name != __name__.rsplit(".", 1)[-1]:
            module = importlib.import_module(f"{equitr.tools.__name__}.{info.name}")
            if isinstance(getattr(module, "SPEC", None), ToolSpec):
                found.append(module.SPEC)
    return {s.name: s for s in sorted(found, key=lambda s: s.order)}


SPECS: dict[str, ToolSpec[Any]] = _discover()
TOOL_NAMES: tuple[str, ...] = tuple(SPECS)


class Step(BaseModel):
    """One validated step of an `execution_steps` plan: a registered tool and its parameters."""

    model_config = ConfigDict(frozen=True)

    step: Annotated[int, Field(ge=1)]
    tool: str
    parameters: SerializeAsAny[Params]
    dependencies: tuple[int, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _parameters_fit_the_tool(self) -> Step:
        found = SPECS.get(self.tool)
        if found is None:
            raise ValueError(f"unknown tool {self.tool!r}; the tools are {', '.join(TOOL_NAMES)}")
        if not isinstance(self.parameters, found.params):
            raise ValueError(f"the parameters are not the {self.tool} tool's ({found.params.__name__})")
        return self


def execute_sync(step: Step, ctx: ToolContext) -> ToolResult:
    found = SPECS[step.tool]
    if not isinstance(step.parameters, found.params):
        return ToolResult(ok=False, output=f"Step {step.step}: parameters do not belong to the `{step.tool}` tool.")
    try:
        return found.run(step.parameters, ctx)
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
