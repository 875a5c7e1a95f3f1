"""`equitr worker`: workers only, consuming a queue shared with `equitr serve --no-workers` (scale-out)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger("equitr")


def add_parser(sub: Any) -> None:
    sub.add_parser("worker", help="run workers only (scale-out against a shared queue)")


def command(args: argparse.Namespace) -> int:
    import signal
    import threading

    from equitr.config import settings as settings_mod
    from equitr.jobs.queue import Workers
    from equitr.web import services as services_mod
    from equitr.web.server import init_sentry

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
