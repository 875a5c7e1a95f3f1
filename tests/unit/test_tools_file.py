from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import PathRefused, ToolError
from equitr.sandbox.paths import MAX_WRITE_BYTES
from equitr.tools import file
from equitr.tools.base import ToolContext
from equitr.tools.file import FileParams, apply_edit


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return ToolContext(root=tmp_path)


def run(ctx: ToolContext, **kw: object) -> str:
    result = file.run(FileParams(**kw), ctx)  # type: ignore[arg-type]
    assert result.ok
    return result.output


def test_read_numbers_lines_and_ranges(ctx: ToolContext) -> None:
    out = run(ctx, action="read", path="src/app.py", start_line=2, end_line=2)
    assert out.splitlines()[1] == "     2\t    return a - b"
    assert "lines 2-2 of 6" in out


def test_read_caps_long_files(ctx: ToolContext) -> None:
    (ctx.root / "big.txt").write_text("".join(f"line {i}\n" for i in range(5000)))
    result = file.run(FileParams(action="read", path="big.txt"), ctx)
    assert result.truncated and "start_line=2001" in result.output


def test_read_errors_are_helpful(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        file.run(FileParams(action="read", path="nope.py"), ctx)
    (ctx.root / "bin.dat").write_bytes(b"\0\1\2")
    with pytest.raises(ToolError, match="binary"):
        file.run(FileParams(action="read", path="bin.dat"), ctx)


def test_list_skips_git_and_shows_links(ctx: ToolContext) -> None:
    (ctx.root / "link").symlink_to("/etc")
    out = run(ctx, action="list", path=".")
    assert "src/" in out and "  app.py" in out and "link -> /etc" in out and ".git" not in out


def test_write_creates_dirs_and_refuses_oversize_and_git(ctx: ToolContext) -> None:
    assert "Created" in run(ctx, action="write", path="new/dir/x.py", content="x = 1\n")
    assert (ctx.root / "new" / "dir" / "x.py").read_text() == "x = 1\n"
    with pytest.raises(PathRefused, match="over the limit"):
        file.run(FileParams(action="write", path="huge.txt", content="é" * (MAX_WRITE_BYTES // 2 + 1)), ctx)
    with pytest.raises(PathRefused, match=r"\.git"):
        file.run(FileParams(action="write", path=".git/HEAD", content="x"), ctx)


def test_write_breaks_hard_links_instead_of_writing_through(ctx: ToolContext, tmp_path: Path) -> None:
    shared = ctx.root / "shared.txt"
    shared.write_text("original\n")
    (ctx.root / "alias.txt").hardlink_to(shared)
    run(ctx, action="write", path="alias.txt", content="changed\n")
    assert shared.read_text() == "original\n"


def test_edit_exact(ctx: ToolContext) -> None:
    out = run(
        ctx,
        action="edit",
        path="src/app.py",
        search="def add(a, b):\n    return a - b",
        replace="def add(a, b):\n    return a + b",
    )
    assert "+    return a + b" in out
    assert (ctx.root / "src" / "app.py").read_text().startswith("def add(a, b):\n    return a + b\n")


def test_edit_ambiguous_asks_for_context(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"matches 2 places .*lines 2, 6"):
        file.run(FileParams(action="edit", path="src/app.py", search="    return a - b", replace="x"), ctx)


def test_edit_whitespace_insensitive_reindents() -> None:
    text = "class A:\n    def f(self):\n        return 1\n"
    new = apply_edit(text, "def f(self):\n    return 1", "def f(self):\n    return 2", shown="a.py")
    assert new == "class A:\n    def f(self):\n        return 2\n"


def test_edit_mismatch_shows_closest_lines() -> None:
    text = "a = 1\ndef compute(total, count):\n    return total / count\nz = 3\n"
    with pytest.raises(ToolError) as err:
        apply_edit(text, "def compute(total, n):\n    return total / n", "x", shown="m.py")
    message = err.value.message
    assert "not found in m.py" in message and "2-3" in message and "return total / count" in message


def test_edit_needs_search_and_replace(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="needs both"):
        file.run(FileParams(action="edit", path="src/app.py", search="x"), ctx)
    with pytest.raises(ToolError, match="empty"):
        apply_edit("abc", "  \n", "x", shown="f")
