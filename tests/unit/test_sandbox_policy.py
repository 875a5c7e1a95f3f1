"""The write policy's matching, pure: gitignore patterns on folded paths, and what counts as CI-relevant."""

from __future__ import annotations

from pathlib import Path

import pytest

from equitr.handlers.render import changed_files, ci_warning
from equitr.sandbox.policy import CI_PATHS, CI_RELEVANT, WritePolicy, ci_relevant, fix_branch, matches
from equitr.sandbox.workspace import check_branch_name


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("secrets/**", "secrets/a/b", True),
        ("secrets/**", "src/secrets/a", False),  # anchored: it has a `/`
        ("*.pem", "a/b/c.pem", True),  # no `/`: any depth
        ("Makefile", "MAKEFILE", True),
        ("Makefile", "Makefile.md", False),
        ("conftest.py", "tests/unit/conftest.py", True),
        (".github/**", ".GITHUB/actions/x", True),
        (".github/**", ".github\u200b/x", True),
        ("docs/*.md", "docs/a/b.md", False),
        ("secrets", "secrets/x", True),  # a directory name covers what is inside
    ],
)
def test_matching(pattern: str, path: str, hit: bool) -> None:
    assert matches(pattern, path) is hit


def test_every_ci_path_is_refused_by_default_and_each_says_why() -> None:
    policy = WritePolicy()
    for ci in CI_PATHS:
        path = ci.pattern.replace("**", "x")
        refusal = policy.refusal(path)
        assert refusal is not None and ci.why in refusal.reason, ci
        assert refusal.hint is not None and f'fix.allow_ci_paths = ["{path}"]' in refusal.hint
        assert WritePolicy(allow_ci=(ci.pattern,)).refusal(path) is None


def test_ci_relevant_files_are_named_in_bold_at_the_top_of_the_pull_request() -> None:
    diff = (
        "diff --git a/conftest.py b/conftest.py\n--- /dev/null\n+++ b/conftest.py\n"
        "diff --git a/pyproject.toml b/pyproject.toml\n--- a/pyproject.toml\n+++ b/pyproject.toml\n"
        "diff --git a/old.py b/old.py\n--- a/old.py\n+++ /dev/null\n"
        "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n"
    )
    files = changed_files(diff)
    assert files == ["conftest.py", "old.py", "pyproject.toml", "src/app.py"]
    assert [p for p, _ in ci_relevant(files)] == ["conftest.py", "pyproject.toml"]
    lines = ci_warning(files)
    assert lines[0].startswith("**⚠️ This change touches files that CI runs or reads")
    assert "- **`pyproject.toml`**: the build backend, dependencies and pytest options CI uses" in lines
    assert ci_warning(["src/app.py"]) == []


def test_docs_list_every_ci_path_with_its_reason() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    for ci in CI_PATHS + CI_RELEVANT:
        assert f"| `{ci.pattern}` | {ci.why} |" in text, ci.pattern


def test_the_branch_of_a_fix_job_is_under_the_prefix_the_push_guard_allows() -> None:
    # One name for the fix job (which pushes it) and the Action's scheduler (which looks for its pull request).
    assert fix_branch(12) == "equitr/issue-12"
    assert fix_branch(7, pull_request=True) == "equitr/pr-7"
    assert check_branch_name(fix_branch(12), push=True) == "equitr/issue-12"
