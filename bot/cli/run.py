"""`equitr run`: the agent on a local git repository, no GitHub needed (the engine is `equitr.local.run`).

This module is the command's arguments: their checks, the `RunOptions` they become, and the run's record
in `EQUITR_DB` for `equitr dashboard`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from equitr.config.repo import STRATEGIES


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the agent on a local git repository (no GitHub needed)",
        epilog="The repository's .equitr.toml, as committed in the commit HEAD is on, is read as the App reads it "
        "from the default branch; these flags override it within its bounds. "
        "exit status: 0 a change was accepted (branch equitr/<slug>, or equitr/<slug>-2 … when that name is taken), "
        "3 the run ended without an accepted change, 1 an error (bad repository, model or setting), 2 bad arguments",
    )
    run.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: the current directory)")
    run.add_argument("--model", help="supervisor model, provider/model (default: $EQUITR_SUPERVISOR_MODEL)")
    run.add_argument("--worker-model", help="worker model (default: $EQUITR_WORKER_MODEL, else the supervisor's)")
    run.add_argument(
        "--budget", type=float, help="stop once this many USD are spent (default: budget.per_job_usd, else 1)"
    )
    run.add_argument(
        "--test-command", help="how to run the tests (default: fix.test_command, else guessed from the repository)"
    )
    run.add_argument(
        "--setup-command",
        help="install what the tests need, once, with the network, into a private environment "
        '(e.g. "pip install -e .[test]"; default: fix.setup_command)',
    )
    run.add_argument(
        "--iterations", type=int, help="plan/review rounds at most, 1 to 20 (default: limits.max_iterations, else 3)"
    )
    run.add_argument(
        "--transcript", type=Path, help="write every model call (the prompts and the replies) to FILE as JSON lines"
    )
    run.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="plan: the supervisor plans, equitr carries the steps out; tools: the supervisor calls the tools "
        "itself (native tool calling); auto: tools when the model's server calls tools natively "
        "(default: models.strategy, else auto)",
    )
    run.add_argument("task", help="what to do, in words")


def command(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.events.commands import MAX_BUDGET_USD, budget_in_range
    from equitr.handlers.record import save_local_run
    from equitr.local.api import FixOptions
    from equitr.local.run import RunOptions, run_local
    from equitr.monitor.records import PerformanceMonitor

    if args.budget is not None and not budget_in_range(args.budget):
        print(f"equitr: --budget must be more than 0 and at most {MAX_BUDGET_USD:g} (USD)", file=sys.stderr)
        return 2
    if args.iterations is not None and not 1 <= args.iterations <= 20:
        print("equitr: --iterations must be between 1 and 20", file=sys.stderr)
        return 2
    choices = FixOptions(
        model=args.model,
        worker_model=args.worker_model,
        budget_usd=args.budget,
        strategy=args.strategy,
        test_command=args.test_command,
        setup_command=args.setup_command,
        max_iterations=args.iterations,
    )
    options = RunOptions(repo=args.repo, task=args.task, fix=choices, transcript=args.transcript)
    settings = settings_mod.load()
    mon = PerformanceMonitor()
    started = time.time()
    with mon.active():  # the phases and model calls of the run, recorded at the engine's seams
        code = asyncio.run(run_local(options, settings))
    if os.environ.get("EQUITR_DB"):  # kept in that store for `equitr dashboard`; nothing is written otherwise
        try:
            save_local_run(
                settings.db, mon.record(), repo=f"local/{args.repo.resolve().name}", ok=code == 0, started_at=started
            )
        except (OSError, sqlite3.Error) as exc:
            print(f"equitr: the run's record was not saved in {settings.db}: {exc}", file=sys.stderr)
    return code
