"""The `run` tool: the repository's test command in the sandbox, optionally narrowed to some targets."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
from pathlib import Path
from typing import Annotated

from pydantic import Field

from equitr.errors import EquitrError, SandboxError, ToolError
from equitr.monitor.records import timed
from equitr.sandbox.bwrap import killed_text, run_command
from equitr.sandbox.gitsafe import git_in
from equitr.sandbox.paths import MAX_WRITE_BYTES, read_regular, real_parents, resolve_in_checkout
from equitr.sandbox.setup import SetupResult, run_setup
from equitr.tools.base import Alias, Params, ToolContext, ToolResult, ToolSpec, clip
from equitr.tools.file import atomic_write


class RunParams(Params):
    """Run the repository's configured test command (optionally narrowed to some test paths)."""

    target: Annotated[str | None, Field(max_length=500)] = None


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
            watch = ctx.disk.watch(ctx.job_dirs)
            try:
                with timed("setup"):
                    ctx.setup.result = run_setup(
                        ctx.setup_command,
                        env_dir=ctx.job_env,
                        watch=watch,
                        network=ctx.setup_network,
                        **ctx.sandboxed(),
                    )
            except (EquitrError, OSError) as exc:  # recorded, so a later test run does not try it again
                message = exc.message if isinstance(exc, EquitrError) else f"{type(exc).__name__}: {exc}"
                ctx.setup.result = SetupResult(ctx.setup_command, ok=False, summary=f"could not run: {message}")
            if watch.reason is not None:
                raise ctx.disk.exceeded(f"The setup command was stopped: {watch.reason}")
            ctx.disk.check(ctx.job_dirs, what="The setup command")
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
    watch = ctx.disk.watch(ctx.job_dirs)
    result = run_command(argv, env_dir=ctx.job_env if setup is not None else None, watch=watch, **ctx.sandboxed())
    undone = _undo_test_writes(ctx, before)
    if watch.reason is not None:
        raise ctx.disk.exceeded(f"The test run was stopped: {watch.reason}")
    ctx.disk.check(ctx.job_dirs, what="The test run")
    status = killed_text(result, ctx.limits) or f"exit code {result.exit_code}"
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


Snapshot = dict[str, tuple[bytes, int] | None]  # path → (content, permission bits), None: absent


def _state(root: Path, rel: str) -> tuple[bytes, int] | str | None:
    """A job-written path as it is now, looked at without following any symlink: its content and mode,
    None when absent, or a reason string when it is something a restore must not touch blindly."""
    if not real_parents(root, rel):
        return "a directory above it was replaced by a symlink or a repository"
    try:
        info = os.lstat(root / rel)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return "it is no longer a regular file"
    try:
        # Never more than equitr could have written: anything longer differs from it anyway.
        return read_regular(root / rel, MAX_WRITE_BYTES + 1), stat.S_IMODE(info.st_mode)
    except OSError as exc:
        return str(exc)


def _snapshot(ctx: ToolContext) -> Snapshot:
    """The files the job wrote, before code under test runs. They were restored after the last run, so
    anything but a regular file or an absence here means the working tree is not what equitr left."""
    snap: Snapshot = {}
    for rel in sorted(ctx.edited):
        state = _state(ctx.root, rel)
        if isinstance(state, str):
            raise SandboxError(f"`{rel}` changed outside equitr's tools ({state}); the job stops here.")
        snap[rel] = state
    return snap


def _undo_test_writes(ctx: ToolContext, before: Snapshot) -> list[str]:
    """Put back whatever the test run changed in the repository's files: what the job wrote, as it was
    (content and mode), and every other tracked file as committed. The change stays what the job's tools
    wrote; a test cannot slip a line, a symlink or an executable bit into it. New untracked files are left
    alone: they are never staged. No code under test runs now (its sandbox is gone), so the checks and
    the repairs below cannot race it."""
    undone: list[str] = []
    for rel, was in before.items():
        now = _state(ctx.root, rel)
        if now == was:
            continue
        if isinstance(now, str) and "above it" in now:
            raise SandboxError(
                f"The test run changed `{rel}` in a way equitr will not undo ({now}); the job stops here so "
                "that nothing the tests wrote becomes part of the change."
            )
        undone.append(rel)
        path = ctx.root / rel
        if os.path.lexists(path):  # a file, a symlink (removed, never followed) or a directory
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        if was is not None:
            content, mode = was
            atomic_write(path, content)
            os.chmod(path, mode)  # a regular file equitr just wrote
    if not (ctx.root / ".git").is_dir():  # not a checkout (a bare directory in tests): nothing is tracked
        return undone
    out = git_in(ctx.root, ["diff", "--name-only", "-z"], check=False).stdout
    others = sorted({p for p in out.split("\0") if p} - set(before))
    if others:
        git_in(ctx.root, ["checkout", "--quiet", "--", *(f":(top,literal){p}" for p in others)], check=False)
    return undone + others


SPEC = ToolSpec(
    name="run",
    order=4,
    params=RunParams,
    run=run,
    schema={
        "type": "object",
        "properties": {"target": {"type": "string"}},
        "additionalProperties": False,
    },
    prompt_line="target (optional test path); runs the repository's tests",
    description="Run the repository's tests (only `target`, test paths, when given) in the sandbox; returns "
    "their output.",
    aliases=(
        Alias("run test tests pytest run_tests run_test shell bash sh exec execute run_command command"),
        Alias("terminal make tox nox npm_test unittest run_shell"),
    ),
    param_aliases={
        "target": "target path test tests test_path file files target_path paths test_file module test_name selector",
        # A command line; the test paths in it become the target (see equitr.interpret.validate).
        "command": "command cmd script shell args arguments",
    },
    positional={"": ("target",)},
    infer_keys=frozenset({"target", "test", "tests", "command"}),
    # Code under test can swap files for symlinks while a read checks and opens a path: a test run runs alone.
    mutates=lambda p: True,
    subject=lambda p: p.target or "",
)
