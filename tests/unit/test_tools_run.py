from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import PathRefused, ToolError
from equitr.sandbox import binaries
from equitr.sandbox.limits import Limits
from equitr.tools import run as run_tool
from equitr.tools.base import ToolContext
from equitr.tools.run import RunParams, parse_targets

needs_bwrap = pytest.mark.skipif(binaries.bwrap().path is None, reason="no bubblewrap can start here")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "tests" / "test_bad.py").write_text("def test_bad():\n    assert 1 == 2\n")
    return tmp_path


@pytest.mark.parametrize(
    "target",
    ["tests; rm -rf /", "tests && id", "$(id)", "`id`", "tests | cat", "-p evil", "--rootdir=/", "a>b", "x\ny"],
)
def test_targets_with_shell_syntax_or_options_are_refused(project: Path, target: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        parse_targets(target, ToolContext(root=project))


def test_targets_outside_are_refused(project: Path) -> None:
    with pytest.raises(PathRefused):
        parse_targets("../elsewhere/test_x.py", ToolContext(root=project))


def test_node_ids_are_accepted(project: Path) -> None:
    ctx = ToolContext(root=project)
    assert parse_targets("tests/test_ok.py::test_ok tests/test_bad.py::test_bad[a-1]", ctx) == [
        "tests/test_ok.py::test_ok",
        "tests/test_bad.py::test_bad[a-1]",
    ]


@needs_bwrap
def test_runs_the_test_command_in_the_sandbox(project: Path) -> None:
    ctx = ToolContext(root=project, test_command="python -m pytest -q -p no:cacheprovider")
    passing = run_tool.run(RunParams(target="tests/test_ok.py"), ctx)
    assert passing.ok and "1 passed" in passing.output and "exit code 0" in passing.output
    failing = run_tool.run(RunParams(), ctx)
    assert not failing.ok and "1 failed" in failing.output and failing.data["exit_code"] == 1


@needs_bwrap
def test_timeout_is_reported(project: Path) -> None:
    ctx = ToolContext(root=project, test_command="sleep 30", limits=Limits(wall_time_s=0.5))
    result = run_tool.run(RunParams(), ctx)
    assert not result.ok and "time limit" in result.output
