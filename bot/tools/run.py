"""The `run` tool: the repository's test command in the sandbox, optionally narrowed to some targets."""

from __future__ import annotations

import re
import shlex

from bot.errors import EquitrError, PathRefused, SandboxError, ToolError
from bot.sandbox.bwrap import run_command
from bot.sandbox.context import ToolContext, ToolResult, clip
from bot.sandbox.gitsafe import git_in
from bot.sandbox.paths import read_regular, resolve_in_checkout
from bot.sandbox.setup import SetupResult, run_setup
from bot.tools.file import atomic_write
from bot.tools.schema import RunParams

# A target is a test path, optionally with a node id (`tests/test_x.py::TestY::test_z[case-1]`).
_TARGET = re.compile(r"[\w./@+=,\[\]:-]+")


def parse_targets(target: str | None, ctx: ToolContext) -> list[str]:
    """Validated target tokens: plain paths inside the checkout, no options, no shell syntax."""
    if not target or not target.strip():
        return []
    if any(ord(ch) < 32 for ch in target):
        raise ToolError("Target refused: it contains control characters (a newline?); use spaces between paths.")
    tokens = target.split()
    for token in tokens:
        if not _TARGET.fullmatch(token) or token.startswith("-"):
            raise ToolError(
                f"Target `{token}` refused: give test paths or node ids (e.g. `tests/test_app.py::test_x`) "
                "separated by spaces; no options or shell characters."
            )
        resolve_in_checkout(ctx.root, token.split("::", 1)[0], for_write=False)
    return tokens


def ensure_setup(ctx: ToolContext) -> SetupResult | None:
    """Run the repository's setup command the first time tests run in this job; its result after that."""
    if not ctx.setup_command.strip():
        return None
    with ctx.setup.lock:
        if ctx.setup.result is None:
            try:
                ctx.setup.result = run_setup(
                    ctx.setup_command,
                    root=ctx.root,
                    env_dir=ctx.job_env,
                    mode=ctx.sandbox_mode,
                    limits=ctx.limits,
                    ro_paths=ctx.ro_paths,
                )
            except (EquitrError, OSError) as exc:  # recorded, so a later test run does not try it again
                message = exc.message if isinstance(exc, EquitrError) else f"{type(exc).__name__}: {exc}"
                ctx.setup.result = SetupResult(ctx.setup_command, ok=False, summary=f"could not run: {message}")
        return ctx.setup.result


def run(params: RunParams, ctx: ToolContext) -> ToolResult:
    command = shlex.split(ctx.test_command)
    if not command:
        raise ToolError("No test command is configured for this repository (`test_command` in .equitr.toml).")
    argv = [*command, *parse_targets(params.target, ctx)]
    setup = ensure_setup(ctx)
    if setup is not None and not setup.ok:
        text, clipped = clip(setup.output, ctx.max_output_chars)
        return ToolResult(
            ok=False,
            output=f"{setup.report()}\nThe tests were not run. Fix `fix.setup_command` in .equitr.toml.\n{text}",
            truncated=clipped,
            data={"exit_code": None, "killed_reason": None, "duration_s": 0.0, "setup_failed": setup.summary},
        )
    before = _snapshot(ctx)
    result = run_command(
        argv,
        root=ctx.root,
        mode=ctx.sandbox_mode,
        limits=ctx.limits,
        ro_paths=ctx.ro_paths,
        env_dir=ctx.job_env if setup is not None else None,
    )
    undone = _undo_test_writes(ctx, before)
    if result.killed_reason == "timeout":
        status = f"killed after the {ctx.limits.wall_time_s:.0f} s time limit"
    elif result.killed_reason == "output":
        status = "killed: it printed more output than the limit allows"
    elif result.killed_reason == "memory":
        status = f"killed: out of memory (limit {ctx.limits.memory_bytes // 2**20} MiB)"
    else:
        status = f"exit code {result.exit_code}"
    if result.peak_processes is not None and result.peak_processes >= ctx.limits.max_processes:
        status += f"; it hit the limit of {ctx.limits.max_processes} processes"
    body = result.stdout + (f"\n--- stderr ---\n{result.stderr}" if result.stderr.strip() else "")
    text, clipped = clip(body, ctx.max_output_chars)
    output = f"$ {shlex.join(argv)}\n{status} ({result.duration_s:.1f} s)\n{text}"
    if setup is not None:
        output = f"{setup.report()}\n{output}"
    if undone:
        shown = ", ".join(undone[:5]) + (f" and {len(undone) - 5} more" if len(undone) > 5 else "")
        output += f"\nThe test run changed files of the repository; equitr put them back: {shown}."
    return ToolResult(
        ok=result.ok,
        output=output,
        truncated=clipped or result.clipped,
        data={"exit_code": result.exit_code, "killed_reason": result.killed_reason, "duration_s": result.duration_s},
    )


def _snapshot(ctx: ToolContext) -> dict[str, bytes | None]:
    """The content of every file the job wrote, before code under test runs."""
    snap: dict[str, bytes | None] = {}
    for rel in sorted(ctx.edited):
        try:
            snap[rel] = read_regular(ctx.root / rel)
        except OSError:
            snap[rel] = None
    return snap


def _undo_test_writes(ctx: ToolContext, before: dict[str, bytes | None]) -> list[str]:
    """Put back whatever the test run changed in the repository's files: what the job wrote, as it was,
    and every other tracked file as committed. The change stays what the job's tools wrote; a test cannot
    slip a line into it. New untracked files are left alone: they are never staged."""
    undone: list[str] = []
    for rel, data in before.items():
        try:
            now: bytes | None = read_regular(ctx.root / rel)
        except OSError:
            now = None
        if now == data:
            continue
        undone.append(rel)
        try:
            if data is None:
                (ctx.root / rel).unlink(missing_ok=True)
            else:
                atomic_write(resolve_in_checkout(ctx.root, rel, for_write=True), data)
        except (PathRefused, OSError) as exc:  # e.g. a parent directory swapped for a symlink
            detail = exc.message if isinstance(exc, PathRefused) else str(exc)
            raise SandboxError(
                f"The test run changed `{rel}` in a way equitr cannot undo ({detail}); the job stops here "
                "so that nothing the tests wrote becomes part of the change."
            ) from None
    if not (ctx.root / ".git").is_dir():  # not a checkout (a bare directory in tests): nothing is tracked
        return undone
    out = git_in(ctx.root, ["diff", "--name-only", "-z"], check=False).stdout
    others = sorted({p for p in out.split("\0") if p} - set(before))
    if others:
        git_in(ctx.root, ["checkout", "--quiet", "--", *(f":(top,literal){p}" for p in others)], check=False)
    return undone + others
