"""`equitr dashboard`: the web dashboard of a job store on its own port (docs/dashboard.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("equitr")


def add_parser(sub: Any) -> None:
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


def command(args: argparse.Namespace) -> int:
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from equitr.config import settings as settings_mod
    from equitr.errors import ConfigError
    from equitr.jobs.store import open_store
    from equitr.web.dashboard import check_config, config_from, create_dashboard
    from equitr.web.server import serve

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
