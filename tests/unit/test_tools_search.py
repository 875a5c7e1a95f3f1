from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import ToolError
from equitr.tools import search
from equitr.tools.base import ToolContext
from equitr.tools.search import SearchParams


@pytest.fixture
def repo(tmp_path: Path) -> ToolContext:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_text(
        "MAX_SIZE = 10\n\nclass Parser:\n    def parse_line(self, text):\n        return text.split('(')\n"
    )
    (tmp_path / "pkg" / "util.js").write_text("export function parseLine(x) { return x }\nconst answer = 42;\n")
    (tmp_path / "main.go").write_text("package main\nfunc (p *Parser) Parse(s string) {}\n")
    (tmp_path / "README.md").write_text("Call parse_line(text) to parse.\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("parse_line in git metadata\n")
    (tmp_path / "outside-link").symlink_to("/etc")
    return ToolContext(root=tmp_path)


def _run(ctx: ToolContext, **kw: object) -> str:
    result = search.run(SearchParams(**kw), ctx)  # type: ignore[arg-type]
    assert result.ok
    return result.output


def test_text_is_fixed_string_and_skips_git(repo: ToolContext) -> None:
    out = _run(repo, query="parse_line(")
    assert "README.md:1:" in out
    assert ".git" not in out


def test_regex_and_file_pattern(repo: ToolContext) -> None:
    out = _run(repo, query=r"parse\w+", search_type="regex", file_pattern="*.py")
    assert "pkg/core.py:4:" in out and "README" not in out and "util.js" not in out


def test_symbol_finds_definitions_not_uses(repo: ToolContext) -> None:
    out = _run(repo, query="parse_line", search_type="symbol")
    assert "pkg/core.py:4:" in out and "README" not in out
    assert "pkg/core.py:1:" in _run(repo, query="MAX_SIZE", search_type="symbol")
    assert "pkg/util.js:1:" in _run(repo, query="parseLine", search_type="symbol")
    assert "pkg/core.py:3:" in _run(repo, query="pkg.core.Parser", search_type="symbol")
    assert "main.go:2:" in _run(repo, query="Parse", search_type="symbol")
    assert "pkg/util.js:2:" in _run(repo, query="answer", search_type="symbol")


def test_filename_substring_and_glob(repo: ToolContext) -> None:
    assert _run(repo, query="core", search_type="filename").splitlines()[1:] == ["pkg/core.py"]
    assert "pkg/util.js" in _run(repo, query="*.js", search_type="filename")
    assert "No matches" in _run(repo, query="config", search_type="filename")  # .git is skipped


def test_symlinks_are_not_followed(repo: ToolContext) -> None:
    assert "No matches" in _run(repo, query="root:", search_type="text")


def test_results_are_capped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "many.txt").write_text("needle\n" * 30)
    for i in range(20):
        (tmp_path / f"f{i}.txt").write_text("needle\n")
    result = search.run(SearchParams(query="needle", max_results=10), ToolContext(root=tmp_path))
    assert result.truncated
    assert len([line for line in result.output.splitlines() if ":needle" in line]) == 10
    assert "narrow the query" in result.output


def test_bad_regex_and_bad_symbol_explain(repo: ToolContext) -> None:
    with pytest.raises(ToolError, match="Search failed"):
        search.run(SearchParams(query="(unclosed", search_type="regex"), repo)
    with pytest.raises(ToolError, match="not a symbol"):
        search.run(SearchParams(query="+++", search_type="symbol"), repo)


def test_query_starting_with_dash_is_not_an_option(repo: ToolContext) -> None:
    (repo.root / "flags.txt").write_text("use --files here\n")
    assert "flags.txt:1:" in _run(repo, query="--files")
