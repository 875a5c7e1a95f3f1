"""Benchmark: time-to-response of `POST /webhook` vs a bare starlette endpoint, over real HTTP.

    python tests/performance/bench_webhook.py [--requests 500]

Both apps run under uvicorn on loopback in this process; one client sends a real `issue_comment` payload
(`/equitr help` from a collaborator, a new comment id each time) so every request stores one job durably
(SQLite, WAL, synchronous=FULL) and enqueues it. The permission answer comes from an in-process stand-in
for GitHub and is cached after the first request, as in production. Prints p50/p99 and the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.cli.dryrun import DryRunGitHub
from equitr.config.settings import Settings
from equitr.web import services as services_mod
from equitr.web.app import create_app
from tests.conftest import SECRET, free_port, headers, payload


def serve(app: Any) -> tuple[int, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return port, server


def measure(port: int, bodies: list[tuple[bytes, dict[str, str]]], gap_s: float = 0.0) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for body, hdrs in bodies:
        if gap_s:
            time.sleep(gap_s)
        started = time.perf_counter()
        conn.request("POST", "/webhook", body=body, headers=hdrs)
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - started)
        assert response.status in (200, 202), response.status
    conn.close()
    return times


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--sync", choices=["full", "normal"], default="full", help="EQUITR_DB_SYNC")
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="pause between requests, so work done after an answer (the 👀 call) is not charged to the next one",
    )
    args = parser.parse_args()
    n = args.requests

    async def bare(request: Request) -> Response:
        await request.body()
        return Response("ok")

    bare_port, bare_server = serve(Starlette(routes=[Route("/webhook", bare, methods=["POST"])]))

    tmp = tempfile.TemporaryDirectory()
    services = services_mod.build(
        Settings(EQUITR_DB=Path(tmp.name) / "bench.db", GH_SECRET=SECRET, EQUITR_DB_SYNC=args.sync)
    )
    github = DryRunGitHub(out=lambda line: None)

    async def factory(installation_id: int | None) -> DryRunGitHub:
        return github

    app = create_app(dispatcher=services.dispatcher(factory), secret=SECRET)
    port, server = serve(app)

    template = payload("issue_comment", "created")
    bodies = []
    for i in range(n + 20):
        data = json.loads(json.dumps(template))
        data["comment"]["id"] = 10_000 + i
        data["comment"]["body"] = "/equitr help"
        body = json.dumps(data).encode()
        bodies.append((body, headers(body, "issue_comment", f"bench-{i}")))
    bare_bodies = [(b, h) for b, h in bodies]

    measure(port, bodies[:20])  # warm-up: permission cache, connections, SQLite pages
    measure(bare_port, bare_bodies[:20])
    ours = measure(port, bodies[20:], args.gap_ms / 1000)
    base = measure(bare_port, bare_bodies[20:], args.gap_ms / 1000)
    jobs = len(services.store.jobs(limit=n + 100))
    print(f"requests: {n} each, {args.gap_ms:g} ms apart; jobs stored (EQUITR_DB_SYNC={args.sync}): {jobs}")
    print(f"bare starlette  p50 {pct(base, 50):6.2f} ms   p99 {pct(base, 99):6.2f} ms")
    print(f"equitr /webhook p50 {pct(ours, 50):6.2f} ms   p99 {pct(ours, 99):6.2f} ms")
    print(f"ratio           p50 {pct(ours, 50) / pct(base, 50):6.2f}x     p99 {pct(ours, 99) / pct(base, 99):6.2f}x")
    server.should_exit = True
    bare_server.should_exit = True
    services.close()


if __name__ == "__main__":
    main()
