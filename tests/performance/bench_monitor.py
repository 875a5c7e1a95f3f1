"""Benchmark: what the PerformanceMonitor costs a job, and what a `/metrics` scrape costs.

    python tests/performance/bench_monitor.py [--jobs 1000] [--redis redis://…]

Prints the time to serialise (bound and redact) a typical and a maximal record, to save one in SQLite (and
Redis when `--redis` is given), and to scrape `/metrics` (the store's counters and live job states) after
`--jobs` jobs were folded in.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from equitr.jobs.metrics import StoreCollector, fold
from equitr.jobs.model import NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.redis import RedisStore
from equitr.jobs.store.sqlite import SqliteStore
from equitr.monitor.records import JobRecord, PerformanceMonitor


def record(job_id: int, *, model_calls: int, github_calls: int, steps: int) -> JobRecord:
    mon = PerformanceMonitor(job_id)
    for name in ("queue_wait", "checkout", "setup", "plan", "tests_before", "tests_after", "review", "push"):
        mon.add_phase(name, 0.0, 1.0)
    for n in range(steps):
        mon.add_phase("step", 0.0, 0.5, str(n + 1))
    for n in range(model_calls):
        role = ("supervisor", "worker", "reviewer")[n % 3]
        mon.model_call(
            model=f"openai/model-{n % 3}", role=role, tokens_in=2000, tokens_out=300, cost_usd=0.001, latency_s=2.0
        )
    for n in range(github_calls):
        mon.github_call(method="GET", route=f"/repos/o/r/issues/{n}/comments", status=200, rate_remaining=4000 - n)
    mon.outcome(
        diff="+ a changed line\n" * (steps * 200),
        trajectory=[
            {"step": n, "tool": "file:edit", "summary": "edited a file " * 20, "ok": True} for n in range(steps)
        ],
        tests_before={"summary": "1 failed", "output": "test output line\n" * 2000},
        tests_after={"summary": "all passed", "output": "test output line\n" * 2000},
    )
    return mon.record()


def best_ms(action: Callable[[], object], tries: int = 5) -> float:
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def bench_store(label: str, store: JobStore, jobs: int) -> None:
    typical = record(1, model_calls=12, github_calls=40, steps=8)
    made = [store.create(NewJob("fix", "o/r", n, "alice", f"d-{n}"), [f"delivery:d-{n}"]) for n in range(jobs)]
    first = made[0]
    assert first is not None
    print(f"{label}: save_record (typical)        {best_ms(lambda: store.save_record(first.id, typical)):8.1f} ms")
    for job in made:
        assert job is not None
        share = fold(job.with_(started_at=job.created_at), typical, "done")
        store.add_metrics(job.id, share.inc, share.set)
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    size = len(generate_latest(registry))
    print(f"{label}: /metrics after {jobs} jobs ({size} bytes) {best_ms(lambda: generate_latest(registry)):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    typical = record(1, model_calls=12, github_calls=40, steps=8)
    maximal = record(1, model_calls=600, github_calls=2500, steps=600)
    for label, rec in (("typical", typical), ("maximal", maximal)):
        text = rec.to_json()
        print(f"to_json ({label}, {len(text) // 1024} KiB)         {best_ms(rec.to_json, 3):8.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        bench_store("sqlite", store, args.jobs)
        store.close()
    if args.redis:
        redis_store = RedisStore(args.redis, prefix=f"bench:{time.monotonic_ns()}:")
        bench_store("redis", redis_store, args.jobs)
        redis_store.close()


if __name__ == "__main__":
    main()
