"""The `equitr` command line (also `python -m equitr`): the top-level parser and `main`.

Each sub-command is one module here with `add_parser(sub)` (its arguments) and `command(args)` (what it
does, returning the exit status); a new sub-command is one module and one row in `COMMANDS`. Everything a
command needs beyond argparse is imported inside `command`, so `equitr --help` and a typo stay fast. The
`action` row is the GitHub Action's entry point, which lives with the Action (`equitr.action.main`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from equitr import __version__, redact
from equitr.action import main as action
from equitr.cli import dashboard, doctor, interpret, jobs, models, replay, report, run, serve, worker
from equitr.errors import EquitrError


class SubCommand(Protocol):
    """What each module of this package is: the arguments of one sub-command, and the sub-command."""

    def add_parser(self, sub: Any) -> None: ...

    def command(self, args: argparse.Namespace) -> int: ...


# In the order `equitr --help` lists them.
COMMANDS: dict[str, SubCommand] = {
    "serve": serve,
    "worker": worker,
    "dashboard": dashboard,
    "jobs": jobs,
    "replay": replay,
    "run": run,
    "models": models,
    "interpret": interpret,
    "report": report,
    "doctor": doctor,
    "action": action,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equitr",
        description="Turn GitHub issue and pull-request comments into coding-agent work.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=f"equitr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


# The exit status of a command whose reader went away (`equitr jobs | head`): 128 + SIGPIPE, as a shell tool
# killed by SIGPIPE reports it.
EXIT_BROKEN_PIPE = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    """Every command; a reader that stops early (`| head`) ends the command quietly, with no traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at interpreter exit, where a broken pipe can only be reported
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit does not fail on the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact.install_log_filter()
    if args.command is None:
        _parser().print_help()
        return 2
    try:
        return COMMANDS[args.command].command(args)
    except EquitrError as exc:
        print(f"equitr: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  → {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
