"""`equitr jobs`: the latest jobs of the store, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--json", action="store_true", help="print a JSON array of job objects")
    jobs.add_argument("--limit", type=int, default=50)


def command(args: argparse.Namespace) -> int:
    from equitr.config import settings as settings_mod
    from equitr.jobs.store import open_store
    from equitr.text.money import usd

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
