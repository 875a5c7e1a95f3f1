"""The `git` tool: status, diff, log and a local commit, all through `gitsafe`. Never a push."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from equitr.errors import SandboxError, ToolError
from equitr.sandbox.gitsafe import GitResult, commit_index, git_in, stage
from equitr.sandbox.paths import resolve_in_checkout
from equitr.tools.base import Alias, Params, ToolContext, ToolResult, ToolSpec, clip

GitAction = Literal["status", "diff", "log", "commit"]


class GitParams(Params):
    """Local git only: status, diff, log, commit. Pushing is never the agent's."""

    action: GitAction
    path: str | None = None
    message: Annotated[str | None, Field(max_length=2000)] = None
    max_count: Annotated[int, Field(ge=1, le=200)] = 20


def _pathspec(params: GitParams, ctx: ToolContext) -> list[str]:
    if not params.path:
        return []
    resolved = resolve_in_checkout(ctx.root, params.path, for_write=False)
    relative = resolved.relative_to(ctx.root.resolve()).as_posix() or "."
    return ["--", f":(literal){relative}"]


def _git(ctx: ToolContext, *args: str) -> GitResult:
    try:
        return git_in(ctx.root, list(args), check=True)
    except SandboxError as error:
        raise ToolError(error.message) from None


def _has_head(ctx: ToolContext) -> bool:
    return git_in(ctx.root, ["rev-parse", "--verify", "--quiet", "HEAD"], check=False).ok


def status(params: GitParams, ctx: ToolContext) -> str:
    out = _git(ctx, "status", "--short", "--branch", "--untracked-files=all", *_pathspec(params, ctx)).stdout
    return out.strip() or "Nothing to report."


def diff(params: GitParams, ctx: ToolContext) -> str:
    spec = _pathspec(params, ctx)
    base = ["HEAD"] if _has_head(ctx) else []
    out = _git(ctx, "diff", "--stat", "--patch", *base, *spec).stdout
    untracked = _git(ctx, "ls-files", "--others", "--exclude-standard", *spec).stdout.split()
    if untracked:
        out += "\nUntracked files (not in the diff until committed):\n" + "\n".join(untracked)
    return out.strip() or "No changes."


def log(params: GitParams, ctx: ToolContext) -> str:
    if not _has_head(ctx):
        return "No commits yet."
    fmt = "--format=%h %ad %an: %s"
    out = _git(ctx, "log", fmt, "--date=short", f"--max-count={params.max_count}", *_pathspec(params, ctx)).stdout
    return out.strip() or "No commits touch that path."


def commit(params: GitParams, ctx: ToolContext) -> str:
    if not params.message or not params.message.strip():
        raise ToolError("action `commit` needs a `message` describing the change.")
    try:
        stage(ctx.root, ctx.edited, policy=ctx.policy)  # what the file tool wrote, never what tests left behind
    except SandboxError as error:
        raise ToolError(error.message) from None
    try:
        committed = commit_index(ctx.root, params.message.strip())
    except SandboxError as error:
        raise ToolError(error.message) from None
    if not committed:
        return "Nothing to commit: the file tool has changed nothing since the last commit."
    return "Committed: " + _git(ctx, "log", "-1", "--format=%h %s").stdout.strip()


_ACTIONS = {"status": status, "diff": diff, "log": log, "commit": commit}


def run(params: GitParams, ctx: ToolContext) -> ToolResult:
    text, clipped = clip(_ACTIONS[params.action](params, ctx), ctx.max_output_chars)
    return ToolResult(ok=True, output=text, truncated=clipped)


SPEC = ToolSpec(
    name="git",
    order=3,
    params=GitParams,
    run=run,
    schema={
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["status", "diff", "log", "commit"]},
            "path": {"type": "string"},
            "message": {"type": "string"},
            "max_count": {"type": "integer", "minimum": 1},
        },
        "required": ["action"],
        "additionalProperties": False,
    },
    prompt_line="action: status|diff|log|commit (required), path, message (commit), max_count",
    description="Local git: status, diff, log (of a path), commit. Never pushes.",
    aliases=(
        Alias("git git_tool"),
        Alias("git_log log history git_history git_blame blame git_show", {"action": "log"}),
        Alias("git_diff diff", {"action": "diff"}),
        Alias("git_status status", {"action": "status"}),
        Alias("git_commit commit", {"action": "commit"}),
    ),
    param_aliases={
        "action": "action command operation op mode subcommand cmd git_command",
        "path": "path filename file_path file filepath path_name dir directory file_name paths files",
        "message": "message msg commit_message commit_msg",
        "max_count": "max_count n limit count max num number max_results last",
    },
    enum_aliases={
        "action": {
            "log": "log history commits git_log blame show shortlog",
            "diff": "diff changes git_diff difference",
            "status": "status st state git_status",
            "commit": "commit save git_commit",
        },
    },
    positional={
        "": ("action", "path"),
        "status": ("path",),
        "diff": ("path",),
        "log": ("path",),
        "commit": ("path",),
    },
    infer_keys=frozenset({"message"}),
    mutates=lambda p: p.action == "commit",
    subject=lambda p: p.path or "",
)
