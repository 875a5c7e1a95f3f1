"""The `equitr` command line (also `python -m equitr`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from equitr import __version__, redact
from equitr import action as action_cmd
from equitr.errors import EquitrError

log = logging.getLogger("equitr")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equitr",
        description="Turn GitHub issue and pull-request comments into coding-agent work.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=f"equitr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the webhook server (and, by default, the workers)")
    serve.add_argument("--host", default=None, help="address to listen on (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8000)")
    serve.add_argument("--workers", type=int, default=None, help="in-process worker threads (default: $EQUITR_WORKERS)")
    serve.add_argument("--no-workers", action="store_true", help="only take webhooks; run `equitr worker` elsewhere")

    sub.add_parser("worker", help="run workers only (scale-out against a shared queue)")

    dash = sub.add_parser(
        "dashboard",
        help="serve the web dashboard of a job store (docs/dashboard.md)",
        epilog="Sign-in: EQUITR_DASHBOARD_TOKEN, and/or GitHub sign-in with GH_CLIENT_ID and GH_CLIENT_SECRET. "
        "Without either it refuses to start, unless --no-auth on a loopback address.",
    )
    dash.add_argument("--db", type=Path, default=None, help="an SQLite job store (default: $EQUITR_DB, or the Redis "
                      "store of $EQUITR_QUEUE_URL)")
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dash.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    dash.add_argument(
        "--no-auth", action="store_true", help="no sign-in: only on a loopback address, for your own machine"
    )

    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--json", action="store_true", help="print a JSON array of job objects")
    jobs.add_argument("--limit", type=int, default=50)

    replay = sub.add_parser("replay", help="feed one webhook payload through the server's code path")
    replay.add_argument("--event", required=True, help="the X-GitHub-Event name, e.g. issue_comment")
    replay.add_argument("payload", type=Path, help="a webhook payload JSON file")
    replay.add_argument("--dry-run", action="store_true", help="print the GitHub calls instead of making them")

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
        choices=["auto", "plan", "tools"],
        help="plan: the supervisor plans, equitr carries the steps out; tools: the supervisor calls the tools "
        "itself (native tool calling); auto: tools when the model's server calls tools natively "
        "(default: models.strategy, else auto)",
    )
    run.add_argument("task", help="what to do, in words")

    models = sub.add_parser("models", help="list, check and price models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    msub.add_parser("list", help="known models with context window, JSON support and prices")
    check = msub.add_parser("check", help="validate a model name and check that it answers")
    check.add_argument("name")
    cost = msub.add_parser("cost", help="what N tokens of a model cost")
    cost.add_argument("name")
    cost.add_argument("--tokens", type=int, required=True)

    interp = sub.add_parser("interpret", help="read a raw model reply as the planner would; print the plan")
    interp.add_argument("--request", required=True, help="the user's request the reply answers")
    interp.add_argument("file", nargs="?", default="-", help="the reply (a file, or - for stdin)")

    report = sub.add_parser("report", help="what the jobs did, cost and took")
    report.add_argument("--since", default="7d", help="period: 12h, 7d, 4w (default 7d)")

    sub.add_parser("doctor", help="check settings, credentials, queue and sandbox; say what to fix")
    action_cmd.add_parser(sub)
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
        result: int = COMMANDS[args.command](args)
        return result
    except EquitrError as exc:
        print(f"equitr: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  → {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- serve / worker ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.server import build_app, serve

    settings = settings_mod.load()
    settings.require_server()
    workers = 0 if args.no_workers else (args.workers or settings.workers)
    app = build_app(settings, workers=workers)
    port = args.port or settings.port
    host = args.host or settings.host
    log.info(
        "equitr serving on %s:%s (%s queue, %s in-process workers)",
        host,
        port,
        "redis" if settings.redis_url else "sqlite",
        workers,
    )
    serve(app, settings, host=host, port=port)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from equitr import services as services_mod
    from equitr.config import settings as settings_mod
    from equitr.queue import Workers
    from equitr.server import init_sentry

    settings = settings_mod.load()
    init_sentry(settings)
    services = services_mod.build(settings)
    runner = services.runner()
    services.bind_worker(runner)
    runner.sweep(startup=True)
    log.info("equitr worker: %s threads on the %s queue", settings.workers, "redis" if settings.redis_url else "sqlite")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    pool = Workers(services.queue, count=settings.workers)
    pool.start()
    while not stop.wait(1.0):
        pass
    log.info("equitr worker: stopping (running jobs get %gs to end)", settings.shutdown_grace_s)
    pool.drain(runner.drain, settings.shutdown_grace_s)
    services.close()
    return 0


# -- dashboard -----------------------------------------------------------------------------------------


def cmd_dashboard(args: argparse.Namespace) -> int:
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from equitr.config import settings as settings_mod
    from equitr.dashboard import check_config, config_from, create_dashboard
    from equitr.errors import ConfigError
    from equitr.server import serve
    from equitr.store import open_store

    if not 0 < args.port < 65536:
        print("equitr: --port must be between 1 and 65535", file=sys.stderr)
        return 2
    settings = settings_mod.load()
    auth = config_from(settings, no_auth=args.no_auth)
    check_config(auth, host=args.host)
    db = args.db if args.db is not None else settings.db
    redis_url = None if args.db is not None else settings.redis_url
    if redis_url is None and not db.is_file():
        raise ConfigError(f"there is no job store at {db}.", hint="Point --db (or EQUITR_DB) at equitr's SQLite file.")
    store = open_store(db=db, redis_url=redis_url, sync=settings.db_sync)

    async def home(request: Any) -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=303)

    app = Starlette(routes=[Route("/", home), Mount("/dashboard", app=create_dashboard(store, auth))])
    log.info("equitr dashboard on http://%s:%s/dashboard/ (%s)", args.host, args.port, (redis_url and "redis") or db)
    try:
        serve(app, settings, host=args.host, port=args.port)
    finally:
        store.close()
    return 0


# -- jobs ----------------------------------------------------------------------------------------------


def cmd_jobs(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.money import usd
    from equitr.store import open_store

    settings = settings_mod.load()
    store = open_store(db=settings.db, redis_url=settings.redis_url)
    jobs = store.jobs(limit=args.limit)
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2))
        return 0
    if not jobs:
        print("no jobs yet")
        return 0
    print(f"{'id':>5}  {'state':<9}  {'kind':<7}  {'target':<32}  {'delivery':<36}  {'cost':>9}  reason")
    for j in jobs:
        target, cost = f"{j.repo}#{j.number}", usd(j.cost_usd, places=4)
        print(f"{j.id:>5}  {j.state:<9}  {j.kind:<7}  {target:<32}  {j.delivery_id:<36}  {cost:>9}  {j.reason}")
    return 0


# -- replay --------------------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    return asyncio.run(_replay(args))


async def _replay(args: argparse.Namespace) -> int:
    import tempfile

    import aiohttp

    from equitr import services as services_mod
    from equitr.app import create_app
    from equitr.asgi import call
    from equitr.config import settings as settings_mod
    from equitr.dryrun import DryRunAccess, DryRunGitHub, DryRunModel
    from equitr.signature import sign
    from equitr.work.handlers import WorkEnv, handlers

    try:
        body = args.payload.read_bytes()
    except OSError as exc:
        print(f"equitr: cannot read {args.payload}: {exc.strerror}", file=sys.stderr)
        return 1
    settings = settings_mod.load()
    overrides: dict[str, Any] = {}
    tmp = None
    if args.dry_run:
        # A throwaway store and queue: a dry run leaves nothing behind.
        tmp = tempfile.TemporaryDirectory(prefix="equitr-replay-")
        overrides = {"db": Path(tmp.name) / "replay.db", "queue_url": ""}
    settings = settings.model_copy(update=overrides)
    secret = settings.gh_secret.get_secret_value() if settings.gh_secret else uuid.uuid4().hex
    services = services_mod.build(settings)
    if args.dry_run:
        services.access = DryRunAccess(DryRunGitHub())
        # Jobs stop where real work starts: no clone (the access has no git token) and no model call.
        env = WorkEnv(settings=settings, access=services.access, model_factory=lambda _s, _e: DryRunModel())
        runner = services.runner(handlers(env))
    else:
        runner = services.runner()
    try:
        async with aiohttp.ClientSession() as session:
            dispatcher = services.dispatcher(services_mod.session_factory(services, session))
            dispatcher.max_age_s = None  # a saved payload replayed on purpose, however old
            app = create_app(dispatcher=dispatcher, secret=secret)
            headers = {
                "x-github-event": args.event,
                "x-github-delivery": f"replay-{uuid.uuid4()}",
                "x-hub-signature-256": sign(body, secret),
                "content-type": "application/json",
            }
            status, answer = await call(app, "POST", "/webhook", body=body, headers=headers)
        print(f"POST /webhook → {status} {json.dumps(answer)}")
        # Run what was queued right here, through the same runner a worker uses.
        for notice in _drain_notices(services):
            await runner._notify(notice)
        for job_id in answer.get("jobs", []) if isinstance(answer, dict) else []:
            outcome = await runner.run(int(job_id))
            job = services.store.get(int(job_id))
            if job is not None:
                print(
                    f"job {job.id} ({job.kind} on {job.repo}#{job.number}) → {job.state}"
                    + (f": {job.reason}" if job.reason else "")
                    if outcome
                    else ""
                )
    finally:
        services.close()
        if tmp is not None:
            tmp.cleanup()
    return 0 if status < 400 else 1


def _drain_notices(services: Any) -> list[dict[str, Any]]:
    """Notices waiting in the queue, taken out so that `replay` can post them inline."""
    out: list[dict[str, Any]] = []
    huey = services.queue.huey
    while True:
        task = huey.dequeue()
        if task is None:
            return out
        if task.name == "equitr.notify":
            out.append(task.args[0])


# -- doctor --------------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from equitr.doctor import run_checks

    ok = True
    for check in asyncio.run(run_checks()):
        mark = {"ok": "✓", "warn": "!", "fail": "✗"}[check.status]
        print(f"{mark} {check.name}: {check.message}")
        if check.fix:
            print(f"    fix: {check.fix}")
        ok = ok and check.status != "fail"
    return 0 if ok else 1


# -- run / models / interpret -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from equitr.commands import MAX_BUDGET_USD, budget_in_range
    from equitr.config import settings as settings_mod
    from equitr.jobrecord import save_local_run
    from equitr.monitor import PerformanceMonitor
    from equitr.runlocal import RunOptions, run_local

    if args.budget is not None and not budget_in_range(args.budget):
        print(f"equitr: --budget must be more than 0 and at most {MAX_BUDGET_USD:g} (USD)", file=sys.stderr)
        return 2
    if args.iterations is not None and not 1 <= args.iterations <= 20:
        print("equitr: --iterations must be between 1 and 20", file=sys.stderr)
        return 2
    options = RunOptions(
        repo=args.repo,
        task=args.task,
        model=args.model,
        worker_model=args.worker_model,
        budget_usd=args.budget,
        test_command=args.test_command,
        setup_command=args.setup_command,
        max_iterations=args.iterations,
        transcript=args.transcript,
        strategy=args.strategy,
    )
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


def cmd_models(args: argparse.Namespace) -> int:
    from equitr.models import manager

    if args.models_command == "list":
        print(manager.format_table(manager.models_list()))
        return 0
    if args.models_command == "check":
        ok, message = manager.models_check(args.name)
        print(message)
        return 0 if ok else 1
    if args.tokens < 0:
        print("equitr: --tokens must be 0 or more", file=sys.stderr)
        return 2
    usd = manager.models_cost(args.name, args.tokens)
    print(f"{args.name}: {args.tokens:,} tokens ≈ ${usd:.6f}")
    return 0


def cmd_interpret(args: argparse.Namespace) -> int:
    from equitr.interpret import interpret

    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(errors="replace")
        except OSError as exc:
            print(f"equitr: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
    print(json.dumps(interpret(text, request=args.request).to_json(), indent=2))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.report import parse_since, render
    from equitr.store import open_store

    since = parse_since(args.since)
    settings = settings_mod.load()
    store = open_store(db=settings.db, redis_url=settings.redis_url)
    try:
        print(render(store.jobs(limit=100_000), since_s=since))
    finally:
        store.close()
    return 0


COMMANDS = {
    "report": cmd_report,
    "action": action_cmd.command,
    "run": cmd_run,
    "models": cmd_models,
    "interpret": cmd_interpret,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "dashboard": cmd_dashboard,
    "jobs": cmd_jobs,
    "replay": cmd_replay,
    "doctor": cmd_doctor,
}
