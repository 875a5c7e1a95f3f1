"""equitr's own git calls never run a program planted in the repository's `.git`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from equitr.errors import SandboxError
from equitr.sandbox.gitsafe import audit_config, git_in, stage, strip_dangerous_config
from equitr.sandbox.workspace import Checkout
from equitr.tools.base import ToolContext
from equitr.tools.git import GitParams
from equitr.tools.registry import Step, execute_sync
from tests.security.conftest import git

HOOKS = ["pre-commit", "post-commit", "commit-msg", "prepare-commit-msg", "post-checkout", "reference-transaction",
         "post-index-change", "pre-auto-gc", "post-rewrite", "fsmonitor-watchman"]  # fmt: skip


def _script(path: Path, markers: Path, name: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch '{markers}/{name}'\ncat\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    d = tmp_path / "markers"
    d.mkdir()
    return d


def _git_tool(root: Path, action: str, **kw: str) -> tuple[bool, str]:
    step = Step(step=1, tool="git", parameters=GitParams(action=action, **kw))  # type: ignore[arg-type]
    result = execute_sync(step, ToolContext(root=root, sandbox_mode="none"))
    return result.ok, result.output


def _all_operations(root: Path) -> None:
    (root / "src" / "app.py").write_text("def main():\n    return 2\n")
    for action, kw in (("status", {}), ("diff", {}), ("log", {"path": "src"}), ("commit", {"message": "change"})):
        ok, output = _git_tool(root, action, **kw)
        assert ok, output
    co = Checkout(root)
    co.create_branch("equitr/test")
    co.git("checkout", "-q", "main")
    co.git("checkout", "-q", "equitr/test")
    (root / "new.py").write_text("x = 1\n")
    stage(co.root, ["new.py"])
    assert co.commit_staged("second")
    co.git("show", "HEAD")


def test_planted_hooks_and_overridable_keys_never_run(checkout: Path, markers: Path) -> None:
    hooks = checkout / ".git" / "hooks"
    for name in HOOKS:
        _script(hooks / name, markers, f"hook-{name}")
    other_hooks = checkout / "elsewhere-hooks"
    for name in HOOKS:
        _script(other_hooks / name, markers, f"hookspath-{name}")
    tool = _script(checkout / "tool.sh", markers, "tool")
    for key, value in (
        ("core.fsmonitor", str(tool)), ("core.hooksPath", str(other_hooks)), ("core.pager", str(tool)),
        ("core.editor", str(tool)), ("diff.external", str(tool)), ("core.sshCommand", str(tool)),
        ("core.askPass", str(tool)),
    ):  # fmt: skip
        git(checkout, "config", key, value)
    assert audit_config(checkout / ".git") == []  # all of these are overridden on our command line
    _all_operations(checkout)
    assert sorted(p.name for p in markers.iterdir()) == []


@pytest.mark.parametrize(
    ("config", "attributes"),
    [
        ({"filter.evil.clean": "TOOL", "filter.evil.smudge": "TOOL"}, "* filter=evil\n"),
        ({"filter.evil.process": "TOOL", "filter.evil.required": "true"}, "*.py filter=evil\n"),
        ({"diff.evil.textconv": "TOOL"}, "*.py diff=evil\n"),
        ({"diff.evil.command": "TOOL"}, "*.py diff=evil\n"),
        ({"include.path": "../evil.cfg"}, ""),
        ({"includeIf.gitdir:/.path": "../evil.cfg"}, ""),
        ({"merge.evil.driver": "TOOL"}, "* merge=evil\n"),
    ],
    ids=["clean-smudge", "process", "textconv", "diff-command", "include", "includeIf", "merge-driver"],
)
def test_planted_filters_refuse_then_strip(
    checkout: Path, markers: Path, config: dict[str, str], attributes: str
) -> None:
    tool = _script(checkout / "tool.sh", markers, "tool")
    (checkout / "evil.cfg").write_text(f'[filter "evil"]\n\tclean = {tool}\n\tsmudge = {tool}\n')
    if attributes:
        (checkout / ".gitattributes").write_text(attributes)
        (checkout / ".git" / "info").mkdir(exist_ok=True)
        (checkout / ".git" / "info" / "attributes").write_text(attributes)
    for key, value in config.items():
        git(checkout, "config", key, value.replace("TOOL", str(tool)))
    assert markers.exists() and not any(markers.iterdir())
    ok, output = _git_tool(checkout, "status")
    assert not ok
    assert "could run a program" in output
    with pytest.raises(SandboxError):
        git_in(checkout, ["diff"])
    assert list(markers.iterdir()) == []
    removed = strip_dangerous_config(checkout / ".git")
    assert {k.lower() for k in removed} >= {k.lower() for k in config}
    _all_operations(checkout)
    assert list(markers.iterdir()) == []


def test_gitfile_redirection_is_refused(tmp_path: Path, checkout: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / ".git").write_text(f"gitdir: {checkout / '.git'}\n")
    with pytest.raises(SandboxError, match="gitfile"):
        git_in(other, ["status"])


def test_git_sees_no_secrets(checkout: Path, monkeypatch: pytest.MonkeyPatch, markers: Path) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "canary-gh-token")
    dump = _script(checkout / "dump.sh", markers, "dump")
    dump.write_text(f"#!/bin/sh\nenv > '{markers}/env'\n")
    git(checkout, "config", "alias.st", f"!{dump}")  # aliases never run: we call builtins only
    git_in(checkout, ["status"])
    assert not (markers / "env").exists()


@pytest.mark.parametrize(
    "config",
    [
        {"filter.evil.clean": "TOOL"},
        {"core.fsmonitor": "TOOL"},
        {"diff.evil.textconv": "TOOL"},
    ],
    ids=["clean-filter", "fsmonitor", "textconv"],
)
def test_a_submodule_planted_by_code_under_test_runs_nothing(
    checkout: Path, markers: Path, config: dict[str, str]
) -> None:
    """A gitlink in the index and a `.git` that sandboxed code unpacked under it, with its own config:
    git would recurse into it for status and diff, reading that config. Ours never does."""
    inner = checkout.parent / "inner"
    inner.mkdir()
    (inner / "f.txt").write_text("one\n")
    git(inner, "init", "-q")
    git(inner, "add", "-A")
    git(inner, "commit", "-q", "-m", "inner")
    sha = git(inner, "rev-parse", "HEAD").strip()
    git(checkout, "update-index", "--add", "--cacheinfo", f"160000,{sha},sub")
    git(checkout, "commit", "-q", "-m", "a submodule")
    # What code under test can do in the writable checkout: a repository at `sub/` with a planted config.
    sub = checkout / "sub"
    git(checkout.parent, "clone", "-q", str(inner), str(sub))
    tool = _script(checkout.parent / "tool.sh", markers, "tool")
    for key, value in config.items():
        git(sub, "config", key, value.replace("TOOL", str(tool)))
    (sub / ".gitattributes").write_text("* filter=evil diff=evil\n")
    # Same size, newer mtime: git can only tell by hashing the content, through the clean filter.
    stamp = (sub / "f.txt").stat().st_mtime_ns + 5_000_000_000
    os.utime(sub / "f.txt", ns=(stamp, stamp))
    for args in (["status", "--porcelain"], ["diff"], ["diff", "--name-only", "-z"], ["add", "-N", "--all"]):
        git_in(checkout, args, check=False)
    _all_operations(checkout)
    assert list(markers.iterdir()) == []


def _plant_nested_repo(checkout: Path, markers: Path, where: str = "vendor/lib") -> None:
    """What code under test can do in the writable checkout: a repository of its own, with a clean filter
    in its config, a file git must re-hash, and a `.gitmodules` that asks git to look inside it."""
    nested = checkout / where
    nested.mkdir(parents=True)
    (nested / "f.txt").write_text("one\n")
    git(nested, "init", "-q")
    git(nested, "add", "-A")
    git(nested, "commit", "-q", "-m", "nested")
    tool = _script(checkout.parent / "tool.sh", markers, "tool")
    git(nested, "config", "filter.evil.clean", str(tool))
    (nested / ".gitattributes").write_text("* filter=evil\n")
    stamp = (nested / "f.txt").stat().st_mtime_ns + 5_000_000_000
    os.utime(nested / "f.txt", ns=(stamp, stamp))
    (checkout / ".gitmodules").write_text(f'[submodule "lib"]\n\tpath = {where}\n\tignore = none\n')


@pytest.mark.parametrize("in_index", [False, True], ids=["planted", "planted-and-in-the-index"])
def test_gitmodules_cannot_make_equitr_look_inside_a_planted_repository(
    checkout: Path, markers: Path, in_index: bool
) -> None:
    _plant_nested_repo(checkout, markers)
    if in_index:  # as if an earlier `git add -A` had recorded it
        sha = git(checkout / "vendor" / "lib", "rev-parse", "HEAD").strip()
        git(checkout, "update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/lib")
        git(checkout, "commit", "-q", "-m", "gitlink")
    (checkout / "src" / "app.py").write_text("def main():\n    return 2\n")
    for args in (["status", "--porcelain"], ["diff"], ["diff", "HEAD"], ["diff", "--name-only", "-z"]):
        git_in(checkout, args, check=False)
    for action in ("status", "diff"):
        _git_tool(checkout, action)
    co = Checkout(checkout)
    assert stage(co.root, ["src/app.py"]) == ["src/app.py"]
    git_in(checkout, ["diff", "--cached", "HEAD"])
    assert co.commit_staged("fix")
    assert list(markers.iterdir()) == []
    committed = git(checkout, "show", "--name-only", "--format=", "HEAD").split()
    assert committed == ["src/app.py"]  # not the planted repository, not .gitmodules


def test_staging_refuses_a_path_inside_a_planted_repository(checkout: Path, markers: Path) -> None:
    _plant_nested_repo(checkout, markers)
    (checkout / "vendor" / "lib" / "g.py").write_text("x = 1\n")
    with pytest.raises(SandboxError, match="a directory above it is a symlink or a nested git repository"):
        stage(checkout, ["vendor/lib/g.py"])
    assert list(markers.iterdir()) == []
