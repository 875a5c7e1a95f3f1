from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from equitr.errors import PathRefused, ToolError
from equitr.sandbox.gitsafe import AUTHOR_EMAIL, AUTHOR_NAME
from equitr.tools import git
from equitr.tools.base import ToolContext
from equitr.tools.git import GitParams


def sh(cwd: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    base = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    return subprocess.run([*base, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    sh(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("hello\n")
    sh(tmp_path, "add", "-A")
    sh(tmp_path, "commit", "-qm", "first commit")
    return ToolContext(root=tmp_path)


def run(ctx: ToolContext, **kw: object) -> str:
    result = git.run(GitParams(**kw), ctx)  # type: ignore[arg-type]
    assert result.ok
    return result.output


def test_status_diff_commit_log(ctx: ToolContext) -> None:
    (ctx.root / "a.py").write_text("x = 2\n")
    (ctx.root / "new.py").write_text("y = 1\n")
    assert " M a.py" in run(ctx, action="status") and "?? new.py" in run(ctx, action="status")
    diff = run(ctx, action="diff")
    assert "-x = 1" in diff and "+x = 2" in diff and "Untracked files" in diff and "new.py" in diff
    (ctx.root / "junk.log").write_text("written by a test run\n")
    ctx.edited.update({"a.py", "new.py"})  # what the file tool wrote (it records every write)
    assert "Committed:" in run(ctx, action="commit", message="equitr: change x")
    committed = sh(ctx.root, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == ["a.py", "new.py"]  # only what the file tool wrote: not junk.log
    log = run(ctx, action="log", max_count=5)
    assert log.splitlines()[0].endswith("equitr: change x") and "first commit" in log
    author = sh(ctx.root, "log", "-1", "--format=%an <%ae>").strip()
    assert author == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
    assert "Nothing to commit" in run(ctx, action="commit", message="again")


def test_log_with_path_and_literal_pathspec(ctx: ToolContext) -> None:
    (ctx.root / "docs" / "b.md").write_text("changed\n")
    ctx.edited.add("docs/b.md")
    run(ctx, action="commit", message="docs only")
    assert run(ctx, action="log", path="a.py").splitlines() == [run(ctx, action="log").splitlines()[1]]
    assert "No commits" in run(ctx, action="log", path="*.md")  # a literal path, not a glob


def test_commit_needs_message_and_paths_are_guarded(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="message"):
        git.run(GitParams(action="commit"), ctx)
    with pytest.raises(PathRefused):
        git.run(GitParams(action="log", path="../.."), ctx)


def test_empty_repository(tmp_path: Path) -> None:
    sh(tmp_path, "init", "-q")
    ctx = ToolContext(root=tmp_path)
    assert run(ctx, action="log") == "No commits yet."
    (tmp_path / "f.txt").write_text("x\n")
    assert "f.txt" in run(ctx, action="diff")
