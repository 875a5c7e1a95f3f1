"""`equitr report`: what the store's jobs did, cost and took over a period (the tables are `equitr.jobs.report`'s)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="what the jobs did, cost and took")
    report.add_argument("--since", default="7d", help="period: 12h, 7d, 4w (default 7d)")


def command(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.jobs.report import parse_since, render
    from equitr.jobs.store import open_store

    since = parse_since(args.since)
    settings = settings_mod.load()
    store = open_store(db=settings.db, redis_url=settings.redis_url)
    try:
        print(render(store.jobs(limit=100_000), since_s=since))
    finally:
        store.close()
    return 0
