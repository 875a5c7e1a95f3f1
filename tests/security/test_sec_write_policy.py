"""What the agent may write (P1c, P1d): `fix.blocked_paths` and the files CI runs are refused by the file tool,
on the path as written and as resolved, in any spelling a case-insensitive checkout treats as the same, and
again when the change is staged, so nothing under them is ever committed or pushed.

The last tests go through a signed webhook into the real app, a real git remote and the real sandbox: the
maintainer's `.equitr.toml` on the default branch decides, and the pushed branch holds only what it allows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from equitr.config.flags import resolve_flags
from equitr.config.repo import parse
from equitr.errors import SandboxError
from equitr.sandbox.gitsafe import git_in, stage
from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams
from equitr.tools.registry import Step, execute_sync
from tests.integration.test_github_e2e import (
    ACCEPT,
    REPO,
    World,
    comment,
    push_to_default_branch,
    run_job,
    world,
)

__all__ = ["world"]  # the end-to-end fixture, used below


def context(root: Path, toml: str) -> ToolContext:
    """The job's tool context as `equitr.handlers.prepare.tool_context` builds it from `.equitr.toml`."""
    effective = resolve_flags(parse(toml), budget_usd=None, model=None, worker_model=None)
    return ToolContext(root=root, sandbox_mode="none", policy=effective.write_policy())


def write(ctx: ToolContext, path: str, content: str = "x = 1\n") -> tuple[bool, str]:
    step = Step(step=1, tool="file", parameters=FileParams(action="write", path=path, content=content))
    result = execute_sync(step, ctx)
    return result.ok, result.output


def edit(ctx: ToolContext, path: str) -> tuple[bool, str]:
    params = FileParams(action="edit", path=path, search="return 1", replace="return 2")
    result = execute_sync(Step(step=1, tool="file", parameters=params), ctx)
    return result.ok, result.output


BLOCKING = '[fix]\nblocked_paths = ["secrets/**", "Makefile", "*.pem"]\n'


@pytest.mark.parametrize(
    "path",
    [
        "secrets/prod.env",  # the finding's repro
        "secrets/deep/er/key.txt",
        "Makefile",
        "src/Makefile",  # a pattern without `/` matches at any depth, as in .gitignore
        "certs/server.pem",
        "SECRETS/prod.env",  # the same file on a case-insensitive checkout
        "Secre\u200bts/prod.env",  # an invisible character
        "secrets./prod.env",  # a trailing dot, dropped by Windows
        "MAKEFILE",
        "ｓｅｃｒｅｔｓ/x",  # fullwidth letters, NFKC-equal
    ],
)
def test_blocked_paths_are_refused_by_the_file_tool(checkout: Path, path: str) -> None:
    ctx = context(checkout, BLOCKING)
    ok, output = write(ctx, path)
    assert not ok
    assert f"Writing `{path}` refused" in output and "in `fix.blocked_paths` of .equitr.toml" in output
    assert not (checkout / path).exists() and ctx.edited == set()


def test_a_blocked_file_cannot_be_edited_either(checkout: Path) -> None:
    (checkout / "Makefile").write_text("all:\n\treturn 1\n")
    ok, output = edit(context(checkout, BLOCKING), "Makefile")
    assert not ok and "matches `Makefile`" in output
    assert (checkout / "Makefile").read_text() == "all:\n\treturn 1\n"


def test_a_symlink_into_a_blocked_directory_is_refused_as_resolved(checkout: Path) -> None:
    (checkout / "secrets").mkdir()
    (checkout / "config").symlink_to("secrets")
    ok, output = write(context(checkout, BLOCKING), "config/prod.env")
    assert not ok and "it resolves to `secrets/prod.env`" in output and "`secrets/**`" in output
    assert list((checkout / "secrets").iterdir()) == []


def test_other_paths_are_still_written(checkout: Path) -> None:
    ctx = context(checkout, BLOCKING)
    assert write(ctx, "src/secrets_util.py")[0] and write(ctx, "docs/Makefile.md")[0]
    assert ctx.edited == {"src/secrets_util.py", "docs/Makefile.md"}


def test_staging_refuses_a_blocked_path_whatever_put_it_there(checkout: Path) -> None:
    """Defence in depth: a path the file tool would have refused never reaches the index, even when it is in
    `edited` (a bug, a future tool) — and nothing else is staged either."""
    ctx = context(checkout, BLOCKING)
    assert write(ctx, "src/app.py", "def main():\n    return 2\n")[0]
    (checkout / "secrets").mkdir()
    (checkout / "secrets" / "prod.env").write_text("TOKEN=1\n")
    ctx.edited.add("secrets/prod.env")
    with pytest.raises(SandboxError) as refused:
        stage(checkout, ctx.edited, policy=ctx.policy)
    assert "Refusing to stage `secrets/prod.env`: it matches `secrets/**`" in refused.value.message
    assert git_in(checkout, ["diff", "--cached", "--name-only"]).stdout == ""


# -- P1d: the files CI runs ------------------------------------------------------------------------------

CI_FILES = [
    "conftest.py",
    "tests/conftest.py",
    ".github/actions/build/action.yml",
    ".github/dependabot.yml",
    ".GitHub/Actions/x.yml",
    ".gitmodules",
    ".pre-commit-config.yaml",
    "Makefile",
    "setup.py",
    "noxfile.py",
    "tox.ini",
    "build.rs",
    ".cargo/config.toml",
    ".npmrc",
    ".gitlab-ci.yml",
    ".devcontainer/devcontainer.json",
]


@pytest.mark.parametrize("path", CI_FILES)
def test_files_ci_runs_are_refused_by_default(checkout: Path, path: str) -> None:
    ctx = context(checkout, "")
    ok, output = write(ctx, path)
    assert not ok and "CI runs it" in output
    assert f'fix.allow_ci_paths = ["{path}"]' in output  # the way to allow it, for the exact path
    assert not (checkout / path).exists()
    (checkout / path).parent.mkdir(parents=True, exist_ok=True)
    (checkout / path).write_text("x\n")
    with pytest.raises(SandboxError, match="CI runs it"):
        stage(checkout, [path], policy=ctx.policy)


def test_allow_ci_paths_allows_exactly_what_it_names(checkout: Path) -> None:
    ctx = context(checkout, '[fix]\nallow_ci_paths = ["tests/conftest.py", ".github/ISSUE_TEMPLATE/**"]\n')
    assert write(ctx, "tests/conftest.py")[0]
    assert write(ctx, ".github/ISSUE_TEMPLATE/bug.md")[0]
    assert not write(ctx, "conftest.py")[0]  # the root one is still refused
    assert not write(ctx, ".github/actions/build/action.yml")[0]
    assert stage(checkout, ctx.edited, policy=ctx.policy) == [".github/ISSUE_TEMPLATE/bug.md", "tests/conftest.py"]


def test_workflows_stay_blocked_whatever_is_allowed(checkout: Path) -> None:
    ctx = context(checkout, '[fix]\nallow_ci_paths = [".github/**"]\n')
    assert write(ctx, ".github/CODEOWNERS")[0]
    ok, output = write(ctx, ".github/workflows/evil.yml")
    assert not ok and "workflows" in output
    with pytest.raises(SandboxError):
        stage(checkout, [".github/workflows/ci.yml"], policy=ctx.policy)


def test_blocked_paths_beat_allow_ci_paths(checkout: Path) -> None:
    ctx = context(checkout, '[fix]\nblocked_paths = ["tests/**"]\nallow_ci_paths = ["tests/conftest.py"]\n')
    ok, output = write(ctx, "tests/conftest.py")
    assert not ok and "`tests/**` in `fix.blocked_paths`" in output


# -- end to end: a signed webhook, the real app, the real remote -----------------------------------------

HOSTILE_PLAN = json.dumps(
    {
        "execution_steps": [
            {"step": 6, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []},
            {"step": 1, "tool": "file", "parameters": {"action": "write", "path": "secrets/leak.txt",
                                                        "content": "leaked\n"}, "dependencies": []},
            {"step": 2, "tool": "file", "parameters": {"action": "write", "path": "conftest.py",
                                                        "content": "import os  # exfiltrate\n"}, "dependencies": []},
            {"step": 3, "tool": "file", "parameters": {"action": "write", "path": ".github/actions/build/action.yml",
                                                        "content": "runs: {using: composite}\n"}, "dependencies": []},
            {"step": 4, "tool": "file", "parameters": {"action": "write", "path": ".gitmodules",
                                                        "content": "[submodule \"x\"]\n\turl = https://example.com/evil\n"},
             "dependencies": []},
            {"step": 5, "tool": "file", "parameters": {"action": "edit", "path": "mathutil.py",
                                                        "search": "(len(values) + 1)", "replace": "len(values)"},
             "dependencies": []},
        ]
    }
)  # fmt: skip


def branch_files(w: World, branch: str) -> list[str]:
    return subprocess.run(
        ["git", "--git-dir", str(w.bare), "diff", "--name-only", "main", branch],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


async def test_nothing_blocked_is_pushed_and_the_refusals_are_shown(world: World, tmp_path: Path) -> None:
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": '[fix]\nblocked_paths = ["secrets/**"]\n'})
    w.model.script += [HOSTILE_PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert branch_files(w, "equitr/issue-1") == ["mathutil.py"]
    # Each refusal says why, in the tool's answer to the model and in the trajectory of the pull request.
    (pr,) = w.fake.repo(REPO).pulls.values()
    body = pr["body"]
    assert "Writing `secrets/leak.txt` refused: it matches `secrets/**` in `fix.blocked_paths`" in body
    assert "Writing `conftest.py` refused: CI runs it" in body
    assert "Writing `.github/actions/build/action.yml` refused: CI runs it" in body
    assert "Writing `.gitmodules` refused: CI runs it" in body
    assert "This change touches files that CI runs" not in body


async def test_an_allowed_ci_file_is_pushed_and_named_in_bold_at_the_top(world: World, tmp_path: Path) -> None:
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": '[fix]\nallow_ci_paths = ["conftest.py"]\n'})
    w.model.script += [HOSTILE_PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    assert branch_files(w, "equitr/issue-1") == ["conftest.py", "mathutil.py", "secrets/leak.txt"]
    (pr,) = w.fake.repo(REPO).pulls.values()
    head = pr["body"].split("### What changed", 1)[0]
    assert head.startswith("Fixes #1")
    assert "**⚠️ This change touches files that CI runs or reads" in head
    assert "- **`conftest.py`**: pytest imports every `conftest.py`" in head
    assert "mathutil.py" not in head and "secrets/leak.txt" not in head
