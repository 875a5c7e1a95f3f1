"""`equitr action`: the entry point of the GitHub Action (`actions/action.yml`).

Also `python -m equitr.action`. It validates what the runner gives (`equitr.action.env`), runs
(`equitr.action.execute`) and writes the summary (`equitr.action.summary`); every error ends as one line and a
hint on stderr, an annotation on the run's page and a note in the step summary, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from equitr import redact
from equitr.action.env import (
    BACKLOG_EVENTS,
    DISPATCHED_EVENTS,
    action_settings,
    add_arguments,
    optional_path,
    read_runner_env,
    resolve_options,
)
from equitr.action.summary import append_summary, render_summary, write_outputs
from equitr.errors import EquitrError, GitHubError

GITHUB_HINT = (
    "Pass `github-token` (default `${{ github.token }}`) and grant the job `contents: write`, `issues: write` "
    "and `pull-requests: write` in the workflow's `permissions:` (docs/action.md)."
)


def add_parser(sub: Any) -> None:
    """Register `equitr action` on the main CLI's subparsers."""
    add_arguments(sub.add_parser("action", help="entry point of the GitHub Action (reads GITHUB_* variables)"))


def command(args: argparse.Namespace) -> int:
    """Run with parsed arguments; errors become one line plus a hint, never a traceback."""
    from gidgethub import GitHubException

    from equitr.action.execute import execute

    environ = os.environ
    try:
        env = read_runner_env(environ)
        options = resolve_options(args, env)
        if env.event_name not in DISPATCHED_EVENTS | BACKLOG_EVENTS:
            message = (
                f"equitr action has nothing to do for `{env.event_name}` events; it handles "
                + ", ".join(sorted(DISPATCHED_EVENTS | BACKLOG_EVENTS))
                + "."
            )
            _annotate(environ, "warning", message)
            print(message)
            append_summary(env.summary_path, f"## equitr\n\n{message}\n")
            return 0
        with tempfile.TemporaryDirectory(prefix="equitr-action-") as tmp:
            settings = action_settings(environ, Path(tmp))
            with _commands_stopped(environ):
                report = asyncio.run(execute(env, options, settings))
    except GitHubError as exc:
        return _fail(environ, exc.message, GITHUB_HINT if exc.status in (401, 403, 404) else exc.hint)
    except EquitrError as exc:
        return _fail(environ, exc.message, exc.hint)
    except Exception as exc:
        if isinstance(exc, GitHubException):
            return _fail(environ, f"GitHub refused a request: {exc}.", GITHUB_HINT)
        if environ.get("RUNNER_DEBUG") == "1":
            traceback.print_exc()
        return _fail(
            environ,
            f"unexpected error ({type(exc).__name__}: {exc}).",
            "Re-run the job with debug logging enabled to see where it happened, and report it.",
        )
    summary = render_summary(report)
    append_summary(report.env.summary_path, summary)
    write_outputs(report)
    print(summary)
    for job in report.failed:
        _annotate(environ, "warning", f"job {job.id} ({job.kind} on #{job.number}) ended {job.state}: {job.reason}")
    return 1 if report.failed and options.fail_on_error else 0


def _fail(environ: Mapping[str, str], message: str, hint: str | None) -> int:
    from equitr.redact import escape_workflow_commands, on_github_runner, redact
    from equitr.text.sanitize import sanitize_inline

    message = redact(message)
    shown = escape_workflow_commands if on_github_runner(dict(environ)) else str
    print(f"equitr: {shown(message)}", file=sys.stderr)
    if hint:
        print(f"  → {shown(hint)}", file=sys.stderr)
    _annotate(environ, "error", message)
    summary = optional_path(environ.get("GITHUB_STEP_SUMMARY"))
    append_summary(summary, f"## equitr could not run\n\n{sanitize_inline(message)}\n\n{sanitize_inline(hint or '')}\n")
    return 1


@contextmanager
def _commands_stopped(environ: Mapping[str, str]) -> Iterator[None]:
    """On GitHub's runners, nothing printed while the jobs run is read as a workflow command: the runner
    ignores `::…` lines between `::stop-commands::TOKEN` and `::TOKEN::` (TOKEN random, so no text can end
    the pause early). Log lines are also escaped one by one (`equitr.redact.LogFilter`); this covers the rest
    (a library printing to stdout, a subprocess's output)."""
    if environ.get("GITHUB_ACTIONS") != "true":
        yield
        return
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", flush=True)
    try:
        yield
    finally:
        sys.stderr.flush()
        print(f"::{token}::", flush=True)


def _annotate(environ: Mapping[str, str], level: str, message: str) -> None:
    """A workflow command, so the message shows on the run's page (only on GitHub's runners)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::{level} title=equitr::{escaped}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equitr action", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        redact.install_log_filter()
    return command(args)
