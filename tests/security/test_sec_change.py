"""What a test suite does to the working tree never becomes part of the change, and never reaches the host.

Each case is a hostile "test command" run by the real `run` tool in real bubblewrap, against a file the
job's file tool wrote (`ToolContext.edited`), followed by equitr's own staging (`gitsafe.stage`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from equitr.errors import SandboxError
from equitr.sandbox.gitsafe import git_in, stage
from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams
from equitr.tools.registry import Step, execute_sync
from equitr.tools.run import RunParams, run
from tests.security.conftest import git, needs_bwrap

pytestmark = needs_bwrap
AGENT = "def main():\n    return 42\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text("def main():\n    return 1\n")
    (root / "pkg" / "other.py").write_text("OTHER = 1\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def job(root: Path, attack: str) -> ToolContext:
    """A context whose file tool has written pkg/app.py, and whose "tests" are `attack`."""
    (root / "attack.sh").write_text(attack)
    git(root, "add", "attack.sh")
    git(root, "commit", "-q", "-m", "the test suite")
    ctx = ToolContext(root=root, sandbox_mode="bwrap", test_command="sh attack.sh")
    written = execute_sync(
        Step(step=1, tool="file", parameters=FileParams(action="write", path="pkg/app.py", content=AGENT)), ctx
    )
    assert written.ok and ctx.edited == {"pkg/app.py"}
    return ctx


def staged(root: Path) -> dict[str, str]:
    """What would be committed: path → "mode content" from the index, for every path that differs."""
    stage(root, ["pkg/app.py"])
    names = git_in(root, ["diff", "--cached", "--name-only", "-z", "HEAD"]).stdout.split("\0")
    out = {}
    for name in filter(None, names):
        entry = git_in(root, ["ls-files", "--stage", "--", name]).stdout.split()
        out[name] = entry[0] + " " + git_in(root, ["cat-file", "-p", entry[1]]).stdout if entry else "deleted"
    return out


def test_a_symlink_swapped_in_for_the_agents_file_is_undone(repo: Path) -> None:
    ctx = job(repo, "rm pkg/app.py; ln -s other.py pkg/app.py\n")
    result = run(RunParams(), ctx)
    assert "equitr put them back: pkg/app.py" in result.output
    assert not (repo / "pkg" / "app.py").is_symlink() and (repo / "pkg" / "app.py").read_text() == AGENT
    assert (repo / "pkg" / "other.py").read_text() == "OTHER = 1\n"  # never written through the link
    assert staged(repo) == {"pkg/app.py": "100644 " + AGENT}


def test_a_parent_swapped_for_a_symlink_stops_the_job_and_touches_nothing_outside(
    repo: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "host_victim"
    victim.mkdir()
    (victim / "app.py").write_text("host file\n")
    # The sandbox cannot see the host path, so the link is made to point there by name only.
    ctx = job(repo, f"mv pkg pkg.orig; ln -s {victim} pkg\n")
    with pytest.raises(SandboxError, match="a directory above it was replaced"):
        run(RunParams(), ctx)
    assert (victim / "app.py").read_text() == "host file\n"
    with pytest.raises(SandboxError, match="a directory above it is a symlink"):
        stage(repo, ["pkg/app.py"])


def test_an_executable_bit_is_undone(repo: Path) -> None:
    ctx = job(repo, "chmod +x pkg/app.py\n")
    run(RunParams(), ctx)
    assert not os.access(repo / "pkg" / "app.py", os.X_OK)
    assert staged(repo) == {"pkg/app.py": "100644 " + AGENT}


@pytest.mark.parametrize(
    "attack",
    [
        "printf '* text eol=crlf\\n*.py ident\\n' > .gitattributes\n",
        "printf 'pkg/\\n*.py\\n' > .gitignore\n",
        "printf '*.py working-tree-encoding=UTF-16\\n' > .gitattributes\n",
    ],
    ids=["eol-and-ident", "gitignore", "encoding"],
)
def test_attributes_and_ignore_rules_written_by_tests_do_not_alter_the_staged_bytes(
    repo: Path, attack: str
) -> None:
    ctx = job(repo, attack)
    run(RunParams(), ctx)
    assert staged(repo) == {"pkg/app.py": "100644 " + AGENT}  # byte for byte what the file tool wrote


def test_a_directory_in_place_of_the_agents_file_is_undone(repo: Path) -> None:
    ctx = job(repo, "rm pkg/app.py; mkdir -p pkg/app.py/x; git init -q pkg/app.py/x 2>/dev/null; true\n")
    run(RunParams(), ctx)
    assert (repo / "pkg" / "app.py").read_text() == AGENT
    assert staged(repo) == {"pkg/app.py": "100644 " + AGENT}
