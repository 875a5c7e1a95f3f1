"""The `file` tool: read (numbered line ranges), list (a shallow tree), write (guarded), edit (search/replace).

Every path goes through `resolve_in_checkout`. Edits match exactly first, then ignoring whitespace; a
mismatch answers with the closest lines so a model can copy them and try again.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from equitr.errors import PathRefused, ToolError
from equitr.sandbox.paths import MAX_WRITE_BYTES, check_write_size, read_regular, resolve_in_checkout
from equitr.tools.base import Alias, Params, ToolContext, ToolResult, ToolSpec

FileAction = Literal["read", "list", "write", "edit"]


class FileParams(Params):
    """Read (optionally a line range), list a directory, write a whole file, or edit by search/replace."""

    action: FileAction
    path: Annotated[str, Field(min_length=1, max_length=1000)] = "."
    start_line: Annotated[int | None, Field(ge=1)] = None
    end_line: Annotated[int | None, Field(ge=1)] = None
    content: Annotated[str | None, Field(max_length=MAX_WRITE_BYTES)] = None
    search: str | None = None
    replace: str | None = None


MAX_READ_LINES = 2000
MAX_READ_CHARS = 100_000
# What the tool reads into equitr's memory at most; code under test can leave a file of any size.
MAX_READ_BYTES = 4 * 1024**2
LIST_DEPTH = 3
LIST_ENTRIES = 400
_SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"})


def _read_text(path: Path, shown: str) -> str:
    if not path.exists():
        raise ToolError(f"`{shown}` does not exist. Use the file tool with action `list` to see what is there.")
    if path.is_dir():
        raise ToolError(f"`{shown}` is a directory; use action `list` for directories.")
    try:
        data = read_regular(path, MAX_READ_BYTES + 1)
    except OSError as exc:
        raise ToolError(f"`{shown}` cannot be read: {exc.strerror or exc}.") from None
    if len(data) > MAX_READ_BYTES:
        raise ToolError(
            f"`{shown}` is larger than {MAX_READ_BYTES // 1024**2} MiB, the most the file tool reads. Use the "
            "search tool to find the lines you need in it."
        )
    if b"\0" in data[:8192]:
        raise ToolError(f"`{shown}` is a binary file ({len(data)} bytes); it cannot be shown as text.")
    return data.decode("utf-8", "replace")


def read(params: FileParams, ctx: ToolContext) -> ToolResult:
    path = resolve_in_checkout(ctx.root, params.path, for_write=False)
    lines = _read_text(path, params.path).splitlines()
    total = len(lines)
    start = params.start_line or 1
    if total and start > total:
        raise ToolError(f"`{params.path}` has {total} lines; start_line {start} is past the end.")
    end = min(params.end_line or total, total, start + MAX_READ_LINES - 1)
    if end < start and total:
        raise ToolError(f"end_line {params.end_line} is before start_line {start}.")
    body: list[str] = []
    size = 0
    for number in range(start, end + 1):
        row = f"{number:>6}\t{lines[number - 1]}"
        if size + len(row) > MAX_READ_CHARS:
            end = number - 1
            break
        body.append(row)
        size += len(row) + 1
    clipped = end < (params.end_line or total) and end < total
    note = f"\n[showing lines {start}-{end} of {total}; read on with start_line={end + 1}]" if clipped else ""
    header = f"{params.path} (lines {start}-{end} of {total})\n" if total else f"{params.path} is empty\n"
    return ToolResult(ok=True, output=header + "\n".join(body) + note, truncated=clipped)


def list_dir(params: FileParams, ctx: ToolContext) -> ToolResult:
    base = resolve_in_checkout(ctx.root, params.path, for_write=False)
    if not base.is_dir():
        raise ToolError(f"`{params.path}` is not a directory. Use action `read` for files.")
    rows: list[str] = []
    clipped = False

    def walk(directory: Path, depth: int) -> None:
        nonlocal clipped
        try:
            entries = sorted(os.scandir(directory), key=lambda e: (not e.is_dir(follow_symlinks=False), e.name))
        except OSError:
            return
        for entry in entries:
            if len(rows) >= LIST_ENTRIES:
                clipped = True
                return
            indent = "  " * depth
            if entry.is_symlink():
                rows.append(f"{indent}{entry.name} -> {os.readlink(entry.path)}")
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in _SKIP_DIRS:
                    continue
                rows.append(f"{indent}{entry.name}/")
                if depth + 1 < LIST_DEPTH:
                    walk(Path(entry.path), depth + 1)
            else:
                rows.append(f"{indent}{entry.name}")

    walk(base, 0)
    note = f"\n[listing stopped at {LIST_ENTRIES} entries; list a subdirectory to see more]" if clipped else ""
    return ToolResult(ok=True, output=f"{params.path}/\n" + "\n".join(rows) + note, truncated=clipped)


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename: never follows a symlink or a hard link at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".equitr-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(params: FileParams, ctx: ToolContext) -> ToolResult:
    if params.content is None:
        raise ToolError("action `write` needs `content` (the whole new file).")
    path = resolve_in_checkout(ctx.root, params.path, for_write=True, policy=ctx.policy)
    if path.is_dir():
        raise ToolError(f"`{params.path}` is a directory; give a file path.")
    data = check_write_size(params.content)
    existed = path.exists()
    atomic_write(path, data)
    ctx.edited.add(path.relative_to(ctx.root.resolve()).as_posix())
    lines = params.content.count("\n") + (0 if params.content.endswith("\n") or not params.content else 1)
    return ToolResult(ok=True, output=f"{'Overwrote' if existed else 'Created'} {params.path} ({lines} lines).")


def _norm(line: str) -> str:
    return " ".join(line.split())


def _reindent(replace: list[str], file_indent: str, search_indent: str) -> list[str]:
    """Shift `replace` by the indentation difference between the file and what the model wrote."""
    if file_indent.startswith(search_indent):
        extra = file_indent[len(search_indent) :]
        return [extra + line if line.strip() else line for line in replace]
    if search_indent.startswith(file_indent):
        cut = len(search_indent) - len(file_indent)
        return [line[cut:] if line[:cut].strip() == "" else line for line in replace]
    return replace


def _indent(lines: list[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    return first[: len(first) - len(first.lstrip())]


def _closest(lines: list[str], search: list[str]) -> tuple[float, int]:
    """The best-matching window of len(search) lines: (similarity, start index)."""
    width = max(1, len(search))
    target = "\n".join(_norm(s) for s in search)
    best = (0.0, 0)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    for start in range(max(1, len(lines) - width + 1)):
        matcher.set_seq1("\n".join(_norm(s) for s in lines[start : start + width]))
        if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
            continue
        ratio = matcher.ratio()
        if ratio > best[0]:
            best = (ratio, start)
    return best


def apply_edit(text: str, search: str, replace: str, *, shown: str) -> str:
    """The file text after replacing `search` with `replace` (pure; raises ToolError for the model)."""
    if not search.strip():
        raise ToolError("`search` is empty; give the exact lines to replace (read the file first).")
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    lines = text.splitlines(keepends=True)
    if count > 1:
        first = search.splitlines()[0] if search.splitlines() else search
        where = [str(i + 1) for i, line in enumerate(lines) if first in line][:10]
        raise ToolError(
            f"`search` matches {count} places in {shown} (lines {', '.join(where)}). "
            "Include more surrounding lines in `search` so it matches exactly one place."
        )
    plain = [line.rstrip("\r\n") for line in lines]
    wanted = [s for s in search.splitlines()]
    while wanted and not wanted[-1].strip():
        wanted.pop()
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    key = [_norm(s) for s in wanted]
    starts = [i for i in range(len(plain) - len(key) + 1) if [_norm(s) for s in plain[i : i + len(key)]] == key]
    if len(starts) == 1:
        i = starts[0]
        new = _reindent(replace.splitlines(), _indent(plain[i : i + len(key)]), _indent(wanted))
        ending = "\n" if lines[i + len(key) - 1].endswith("\n") else ""
        replaced = "\n".join(new) + (ending if new else "")
        return "".join(lines[:i]) + replaced + "".join(lines[i + len(key) :])
    if len(starts) > 1:
        raise ToolError(
            f"`search` matches {len(starts)} places in {shown} when whitespace is ignored (lines "
            f"{', '.join(str(s + 1) for s in starts[:10])}). Include more surrounding lines."
        )
    ratio, start = _closest(plain, wanted)
    window = plain[start : start + max(1, len(wanted))]
    shown_lines = "\n".join(f"{start + n + 1:>6}\t{line}" for n, line in enumerate(window))
    raise ToolError(
        f"`search` was not found in {shown}. The closest lines ({ratio:.0%} similar) are "
        f"{start + 1}-{start + len(window)}:\n{shown_lines}\n"
        "Copy the text exactly as it is in the file (read it first if unsure) into `search` and try again."
    )


def edit(params: FileParams, ctx: ToolContext) -> ToolResult:
    if params.search is None or params.replace is None:
        raise ToolError("action `edit` needs both `search` (exact current text) and `replace` (the new text).")
    path = resolve_in_checkout(ctx.root, params.path, for_write=True, policy=ctx.policy)
    text = _read_text(path, params.path)
    new = apply_edit(text, params.search, params.replace, shown=params.path)
    atomic_write(path, check_write_size(new))
    ctx.edited.add(path.relative_to(ctx.root.resolve()).as_posix())
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), new.splitlines(keepends=True), params.path, params.path, n=1
        )
    )
    return ToolResult(ok=True, output=f"Edited {params.path}:\n{diff[:4000]}")


_ACTIONS = {"read": read, "list": list_dir, "write": write, "edit": edit}


def run(params: FileParams, ctx: ToolContext) -> ToolResult:
    try:
        return _ACTIONS[params.action](params, ctx)
    except (IsADirectoryError, NotADirectoryError, FileNotFoundError) as error:
        raise ToolError(f"{params.action} `{params.path}` failed: {error.strerror}.") from None
    except PermissionError:
        raise PathRefused(f"{params.action} `{params.path}`: permission denied.") from None


_LINES = {
    "start_line": "start start_line from_line line_start start_line_number from begin first_line line "
    "lineno line_number start_lineno offset",
    "end_line": "end end_line to_line line_end end_line_number to stop last_line until end_lineno",
}

SPEC = ToolSpec(
    name="file",
    order=2,
    params=FileParams,
    run=run,
    schema={
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["read", "list", "write", "edit"]},
            "path": {"type": "string", "minLength": 1},
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
            "content": {"type": "string"},
            "search": {"type": "string"},
            "replace": {"type": "string"},
        },
        "required": ["action", "path"],
        "additionalProperties": False,
    },
    prompt_line="action: read|list|write|edit (required), path (required), start_line, end_line (read), content "
    "(write), search + replace (edit: exact old text, new text)",
    description="Read a file (numbered lines; start_line/end_line for a part), list a directory, write a whole "
    "file, or edit one: `search` is the exact current text, `replace` the new text. An edit with only `path` "
    "and `description` is handed to a programmer who sees the file and carries out the description.",
    takes_description=True,
    aliases=(
        Alias("file files file_tool filesystem fs editor str_replace_editor"),
        Alias("read_file read cat view view_file open_file open show_file get_file head", {"action": "read"}),
        Alias("write_file write create_file save_file new_file", {"action": "write"}),
        Alias("edit_file edit modify_file update_file replace_in_file str_replace apply_edit", {"action": "edit"}),
        Alias("patch_file patch search_replace", {"action": "edit"}),
        Alias("list_files list_dir list_directory ls tree dir list list_structure", {"action": "list"}),
    ),
    param_aliases={
        "action": "action command operation op mode action_type cmd method",
        "path": "path filename file_path file filepath path_name dir directory file_name folder target name location",
        **_LINES,
        "content": "content text body data contents new_content file_content code file_text",
        "search": "search old old_text find old_string search_text original before old_str from_text",
        "replace": "replace new new_text new_string replacement replace_text after new_str with to_text",
        # A line range ("10-20"); it becomes start_line and end_line (see equitr.interpret.validate).
        "lines": "lines line_range range",
    },
    enum_aliases={
        "action": {
            "read": "read cat view open show get read_file display print head load",
            "list": "list list_structure ls tree dir list_dir list_files listdir browse directory structure "
            "list_directory",
            "write": "write create save overwrite write_file new put create_file",
            "edit": "edit modify update replace patch change edit_file str_replace sed search_replace fix rewrite",
        },
    },
    positional={
        "": ("action", "path"),
        "read": ("path", "start_line", "end_line"),
        "list": ("path",),
        "write": ("path", "content"),
        "edit": ("path", "search", "replace"),
    },
    infer_keys=frozenset({"content", "old_text", "new_text", "start_line", "old_string", "path"}),
    raw_text=frozenset({"content", "search", "replace"}),
    mutates=lambda p: p.action in ("edit", "write"),
    subject=lambda p: "" if p.path.strip("./") == "" else p.path,
)
