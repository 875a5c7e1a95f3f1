from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams
from equitr.tools.registry import Step, execute
from equitr.tools.search import SearchParams


async def test_dispatch_and_errors_become_results(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    ctx = ToolContext(root=tmp_path)
    read = await execute(Step(step=1, tool="file", parameters=FileParams(action="read", path="a.txt")), ctx)
    assert read.ok and "hello" in read.output
    refused = await execute(Step(step=2, tool="file", parameters=FileParams(action="read", path="/etc/passwd")), ctx)
    assert not refused.ok and "absolute paths" in refused.output and "Hint:" in refused.output
    missing = await execute(Step(step=3, tool="file", parameters=FileParams(action="read", path="b.txt")), ctx)
    assert not missing.ok and missing.data["error"] == "ToolError"


async def test_mismatched_parameters_are_reported(tmp_path: Path) -> None:
    step = Step.model_construct(step=4, tool="search", parameters=FileParams(action="list"))
    result = await execute(step, ToolContext(root=tmp_path))
    assert not result.ok and "do not belong" in result.output


async def test_search_through_registry(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("needle = 1\n")
    result = await execute(
        Step(step=1, tool="search", parameters=SearchParams(query="needle")), ToolContext(root=tmp_path)
    )
    assert result.ok and "x.py:1:" in result.output


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (OSError(36, "File name too long", "/srv/equitr/jobs/x/repo/aaaa"), "File name too long"),
        (RuntimeError("Symlink loop from '/srv/equitr/jobs/x/repo/loop1'"), "a symlink loop"),
    ],
)
async def test_filesystem_errors_of_any_tool_become_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, shown: str
) -> None:
    """Whatever a tool meets in a checkout that code under test shaped is a result, never the job's end."""
    from equitr.tools import registry

    def broken(params: object, ctx: ToolContext) -> object:
        raise error

    monkeypatch.setitem(registry.SPECS, "file", dataclasses.replace(registry.SPECS["file"], run=broken))
    result = await execute(Step(step=1, tool="file", parameters=FileParams(action="list")), ToolContext(root=tmp_path))
    assert not result.ok and result.output == f"The file tool failed: {shown}."
    assert "/srv/equitr" not in result.output
