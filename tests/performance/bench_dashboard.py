"""Benchmark: the dashboard's pages over a large SQLite store, in-process (no browser, no socket).

    python tests/performance/bench_dashboard.py [--jobs 5000] [--every 3] [--repeat 20] [--redis-url URL]

Stores `--jobs` finished jobs on 20 repositories (in SQLite, or in the Redis at `--redis-url`), a monitor record
(tests/fakes/dashboard_data.py's) for every `--every`-th, then times the jobs list (first and last page, a
filter), a job's page, and the charts uncached (first request) and cached. Prints p50/p99 over `--repeat`
requests each (one for the uncached charts).

Measured on the shared 2-core development machine (load average 5-8), 100,000 jobs, `--every 50`, p50:

                            SQLite before          SQLite after    Redis after
                            (every job read, then  (find_jobs)     (find_jobs)
                            filtered in Python)
    jobs, first page        4675 ms                6.0 ms          19.8 ms
    jobs, last page         4484 ms                12.4 ms         6.9 ms
    jobs, one repository    6819 ms                12.7 ms         25.1 ms
    jobs, today             -                      8.6 ms          6.5 ms (642 ms before the direct range read)
    charts (uncached)       5885 ms                6777 ms         11686 ms (every job of the window is read)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from equitr.jobs.model import NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.redis import RedisStore
from equitr.jobs.store.sqlite import SqliteStore
from equitr.web.dashboard import AuthConfig, create_dashboard
from tests.fakes.dashboard_data import _record

TOKEN = "t" * 20


def seed(store: JobStore, jobs: int, every: int) -> int:
    recorded = 0
    for i in range(jobs):
        repo = f"octo/r{i % 20}"
        job = store.create(NewJob(kind="fix", repo=repo, number=i, requester="a", delivery_id=f"d{i}"), [f"k{i}"])
        assert job is not None
        store.claim(job.id, "bench:1:1", 60)
        store.finish(job.id, "bench:1:1", "done", "", 0.01)
        if i % every == 0:
            record = _record(job.id, time.time() - i * 60, model=f"m{i % 4}", repo=repo, number=i, hostile="", ok=True)
            store.save_record(job.id, record)
            recorded += 1
    return recorded


async def timed(http: httpx.AsyncClient, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        answer = await http.get(path)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return times


def pcts(times: list[float]) -> str:
    p99 = statistics.quantiles(times, n=100, method="inclusive")[98] if len(times) > 1 else times[0]
    return f"p50 {statistics.median(times) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--redis-url", default="", help="a Redis to fill (a key prefix of its own; not cleaned up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store: JobStore
        if args.redis_url:
            store = RedisStore(args.redis_url, prefix=f"bench:{time.time_ns()}:")
        else:
            store = SqliteStore(Path(tmp) / "bench.db", sync="normal")
        started = time.perf_counter()
        recorded = seed(store, args.jobs, args.every)
        kind = "Redis" if args.redis_url else "SQLite"
        took = time.perf_counter() - started
        print(f"{args.jobs} jobs in {kind}, {recorded} monitor records (stored in {took:.0f} s)")
        app = create_dashboard(store, AuthConfig(token=TOKEN))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            await http.post("/login", data={"token": TOKEN})
            print(f"{'charts (uncached)':<28}", pcts(await timed(http, "/charts", 1)))
            today = time.strftime("%Y-%m-%d", time.gmtime())
            for label, path in [
                ("jobs, first page", "/"),
                ("jobs, last page", f"/?page={args.jobs // 50}"),
                ("jobs, one repository", "/?repo=octo/r3&state=done"),
                ("jobs, today", f"/?since={today}&until={today}"),
                ("a job's page", "/jobs/1"),
                ("charts (cached)", "/charts"),
            ]:
                print(f"{label:<28}", pcts(await timed(http, path, args.repeat)))
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
