"""The `run` tool: the repository's test command in the sandbox, optionally narrowed to some targets."""

from __future__ import annotations

import re
import shlex

from bot.errors import EquitrError, ToolError
from bot.sandbox.bwrap import run_command
from bot.sandbox.context import ToolContext, ToolResult, clip
from bot.sandbox.paths import resolve_in_checkout
from bot.sandbox.setup import SetupResult, run_setup
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
    result = run_command(
        argv,
        root=ctx.root,
        mode=ctx.sandbox_mode,
        limits=ctx.limits,
        ro_paths=ctx.ro_paths,
        env_dir=ctx.job_env if setup is not None else None,
    )
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
    return ToolResult(
        ok=result.ok,
        output=output,
        truncated=clipped or result.clipped,
        data={"exit_code": result.exit_code, "killed_reason": result.killed_reason, "duration_s": result.duration_s},
    )
