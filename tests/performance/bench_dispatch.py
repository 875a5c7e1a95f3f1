"""Benchmark: where a webhook's time goes once it is parsed — the dispatcher without HTTP.

    python tests/performance/bench_dispatch.py [--deliveries 1200]

For each EQUITR_DB_SYNC mode: storing a job with its dedupe keys (one SQLite transaction), the huey
enqueue, and the whole `Dispatcher.dispatch` of a real `issue_comment` payload (routing, the cached
permission check, the store and the enqueue, plus the thread hop in `full` mode). Prints p50/p99; the
first fifth of the runs is warm-up and not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.cli.dryrun import DryRunGitHub
from equitr.config.settings import Settings
from equitr.jobs.model import NewJob
from equitr.web import services as services_mod
from tests.conftest import SECRET, payload


def pcts(times: list[float]) -> str:
    kept = times[len(times) // 5 :]
    p99 = statistics.quantiles(kept, n=100, method="inclusive")[98]
    return f"p50 {statistics.median(kept) * 1000:5.2f} ms   p99 {p99 * 1000:5.2f} ms"


def measure(sync: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = services_mod.build(Settings(EQUITR_DB=Path(tmp) / "b.db", GH_SECRET=SECRET, EQUITR_DB_SYNC=sync))
        store_times, enqueue_times = [], []
        for i in range(n):
            job = NewJob(
                kind="help", repo="o/r", number=1, requester="a", delivery_id=f"s-{i}", installation_id=1, args={}
            )
            started = time.perf_counter()
            made = services.store.create(job, (f"delivery:s-{i}", f"comment:{i}"))
            stored = time.perf_counter()
            assert made is not None
            services.queue.enqueue_job(made.id)
            store_times.append(stored - started)
            enqueue_times.append(time.perf_counter() - stored)

        github = DryRunGitHub(out=lambda line: None)

        async def factory(installation_id: int | None) -> DryRunGitHub:
            return github

        dispatcher = services.dispatcher(factory)
        template = payload("issue_comment", "created")

        async def dispatch_all() -> list[float]:
            times = []
            for i in range(n):
                data: dict[str, Any] = json.loads(json.dumps(template))
                data["comment"]["id"] = 100_000 + i
                data["comment"]["body"] = "/equitr help"
                started = time.perf_counter()
                outcome = await dispatcher.dispatch("issue_comment", f"d-{i}", data)
                times.append(time.perf_counter() - started)
                assert outcome.status == 202, outcome
            return times

        dispatch_times = asyncio.run(dispatch_all())
        services.close()
    print(f"EQUITR_DB_SYNC={sync} ({n} each)")
    print(f"  store job + dedupe keys  {pcts(store_times)}")
    print(f"  huey enqueue             {pcts(enqueue_times)}")
    print(f"  whole dispatch           {pcts(dispatch_times)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1200)
    args = parser.parse_args()
    for sync in ("full", "normal"):
        measure(sync, args.deliveries)


if __name__ == "__main__":
    main()
