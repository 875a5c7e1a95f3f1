from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import PathRefused
from equitr.sandbox.names import fold_name
from equitr.sandbox.paths import MAX_WRITE_BYTES, check_write_size, protected_reason, resolve_in_checkout


@pytest.mark.parametrize(
    ("raw", "folded"),
    [(".GIT", ".git"), (".git. ", ".git"), (".g\u200bit", ".git"), ("\uff0eGIT", ".git"), (".git\ufeff", ".git"),
     ("Workflows", "workflows"), ("src", "src"), (".gitignore", ".gitignore"), ("café", "café")],
)  # fmt: skip
def test_fold_name(raw: str, folded: str) -> None:
    assert fold_name(raw) == folded


def test_protected_reason() -> None:
    assert protected_reason((".git", "config"))
    assert protected_reason(("a", ".GitHub", "WORKFLOWS", "x.yml"))
    assert protected_reason((".github", "workflows"))
    assert not protected_reason((".github", "ISSUE_TEMPLATE", "bug.md"))
    assert not protected_reason((".gitignore",))
    assert not protected_reason(("workflows", ".github"))


def test_reads_of_protected_paths_are_allowed_writes_are_not(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert resolve_in_checkout(tmp_path, ".git/HEAD", for_write=False) == tmp_path.resolve() / ".git" / "HEAD"
    with pytest.raises(PathRefused, match="metadata and hooks"):
        resolve_in_checkout(tmp_path, ".git/HEAD", for_write=True)


def test_symlink_inside_is_followed_to_its_real_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to("real")
    assert resolve_in_checkout(tmp_path, "alias/f.txt", for_write=True) == tmp_path.resolve() / "real" / "f.txt"


def test_string_prefix_sibling_is_outside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "repo-evil").mkdir()
    (root / "sib").symlink_to(tmp_path / "repo-evil")  # shares the string prefix `.../repo`
    with pytest.raises(PathRefused, match="outside"):
        resolve_in_checkout(root, "sib/x", for_write=True)


def test_write_size_limit() -> None:
    assert check_write_size("ok") == b"ok"
    with pytest.raises(PathRefused, match=str(MAX_WRITE_BYTES)):
        check_write_size("x" * (MAX_WRITE_BYTES + 1))
