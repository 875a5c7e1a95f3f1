"""`equitr serve`: the webhook server, and by default the workers in the same process."""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger("equitr")


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the webhook server (and, by default, the workers)")
    serve.add_argument("--host", default=None, help="address to listen on (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8000)")
    serve.add_argument("--workers", type=int, default=None, help="in-process worker threads (default: $EQUITR_WORKERS)")
    serve.add_argument("--no-workers", action="store_true", help="only take webhooks; run `equitr worker` elsewhere")


def command(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.web.server import build_app, serve

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
