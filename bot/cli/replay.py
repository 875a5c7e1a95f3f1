"""`equitr replay`: one saved webhook payload through the server's own code path, then its jobs, right here.

The payload is signed and POSTed to the real ASGI app in-process (no port), and what it queued runs through
the same runner a worker uses. `--dry-run` uses a throwaway store and queue, prints the GitHub calls instead
of making them, and stops jobs where real work (a clone, a model call) would start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    replay = sub.add_parser("replay", help="feed one webhook payload through the server's code path")
    replay.add_argument("--event", required=True, help="the X-GitHub-Event name, e.g. issue_comment")
    replay.add_argument("payload", type=Path, help="a webhook payload JSON file")
    replay.add_argument("--dry-run", action="store_true", help="print the GitHub calls instead of making them")


def command(args: argparse.Namespace) -> int:
    return asyncio.run(_replay(args))


async def _replay(args: argparse.Namespace) -> int:
    import tempfile

    import aiohttp

    from equitr.cli.dryrun import DryRunAccess, DryRunGitHub, DryRunModel
    from equitr.config import settings as settings_mod
    from equitr.handlers.handlers import WorkEnv, handlers
    from equitr.web import services as services_mod
    from equitr.web.app import create_app
    from equitr.web.asgi import call
    from equitr.web.signature import sign

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
        for notice in services.queue.drain_notices():
            await runner.post_notice(notice)
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

