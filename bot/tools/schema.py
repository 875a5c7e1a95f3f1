"""Canonical parameter models of the four tools, and the plan step that names one of them.

These are the single source of truth for what a valid tool call looks like. The interpretation layer
(`equitr.interpret`) maps whatever a model wrote onto these models (aliases, enum correction); the tools
(`equitr.tools.*`) receive only validated instances.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from equitr.sandbox.paths import MAX_WRITE_BYTES

ToolName = Literal["search", "file", "git", "run"]
TOOL_NAMES: tuple[ToolName, ...] = ("search", "file", "git", "run")

SearchType = Literal["text", "regex", "filename", "symbol"]
FileAction = Literal["read", "list", "write", "edit"]
GitAction = Literal["status", "diff", "log", "commit"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchParams(_Params):
    """Find text, a regular expression, a file name or a symbol definition in the checkout."""

    query: Annotated[str, Field(min_length=1, max_length=500)]
    search_type: SearchType = "text"
    file_pattern: Annotated[str | None, Field(max_length=200)] = None
    max_results: Annotated[int, Field(ge=1, le=500)] = 50


class FileParams(_Params):
    """Read (optionally a line range), list a directory, write a whole file, or edit by search/replace."""

    action: FileAction
    path: Annotated[str, Field(min_length=1, max_length=1000)] = "."
    start_line: Annotated[int | None, Field(ge=1)] = None
    end_line: Annotated[int | None, Field(ge=1)] = None
    content: Annotated[str | None, Field(max_length=MAX_WRITE_BYTES)] = None
    search: str | None = None
    replace: str | None = None


class GitParams(_Params):
    """Local git only: status, diff, log, commit. Pushing is never the agent's."""

    action: GitAction
    path: str | None = None
    message: Annotated[str | None, Field(max_length=2000)] = None
    max_count: Annotated[int, Field(ge=1, le=200)] = 20


class RunParams(_Params):
    """Run the repository's configured test command (optionally narrowed to some test paths)."""

    target: Annotated[str | None, Field(max_length=500)] = None


PARAMS_BY_TOOL: dict[str, type[_Params]] = {
    "search": SearchParams,
    "file": FileParams,
    "git": GitParams,
    "run": RunParams,
}

ToolParams = SearchParams | FileParams | GitParams | RunParams


class Step(BaseModel):
    """One validated step of an `execution_steps` plan."""

    model_config = ConfigDict(frozen=True)

    step: Annotated[int, Field(ge=1)]
    tool: ToolName
    parameters: ToolParams
    dependencies: tuple[int, ...] = ()
    description: str = ""
