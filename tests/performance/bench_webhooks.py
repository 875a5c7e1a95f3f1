"""Benchmark: deliveries per second and p50/p99 time-to-answer of a real `equitr serve` process under 50
concurrent senders, each sending signed `/equitr help` comments (every one a new job, stored durably and
queued) as fast as it gets answers.

    python tests/performance/bench_webhooks.py [--senders 50] [--seconds 30] [--sync full|normal] [--workers]

The server runs as its own process (uvicorn, SQLite WAL by default, EQUITR_DB_SYNC=full) against the fake
GitHub over HTTP, which answers the permission check (cached after the first delivery, as in production) and
the 👀 reactions. `--workers` also runs the in-process workers, which then post the help answers. Measured in
December 2026 on the 2-core development machine: docs/operations.md ("Fault suite and load numbers").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import SECRET, comment_payload, headers
from tests.fakes.fixtures import APP_ID, AppKey
from tests.fakes.github import FakeGitHub
from tests.reliability.harness import REPO, Server


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads: less sensitive than wall time to a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sender(
    gh: FakeGitHub, url: str, index: int, until: float, times: list[float], errors: list[int], *, report: bool = False
) -> None:
    number = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        while time.monotonic() < until:
            number += 1
            # A comment the fake GitHub holds, as in production: the server's 👀 on it succeeds (a made-up id
            # would get a 404 and a logged warning per delivery, which production does not pay).
            comment = gh.add_comment(REPO, 1, "/equitr help", user="alice")
            data = comment_payload(REPO, number=1, comment_id=comment["id"], body="/equitr help")
            if report:  # the reliability report's sender: no installation, so no 👀 and no permission call
                data.pop("installation", None)
            body = json.dumps(data).encode()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers(body, "issue_comment", f"b-{index}-{number}")) as r:
                await r.read()
                if r.status not in (200, 202):
                    errors.append(r.status)
            times.append(time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = AppKey(APP_ID, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    tmp = Path(tempfile.mkdtemp(prefix="equitr-bench-"))
    async with FakeGitHub(app_id=key.app_id, app_public_key=key.private_key.public_key(), check_responses=False) as gh:
        gh.add_repo(REPO)
        gh.add_installation(7, repos=[REPO])
        gh.add_issue(REPO, title="Load", user="alice")
        gh.set_permission(REPO, "alice", "write")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
            "GH_APP_ID": str(key.app_id),
            "GH_PRIVATE_KEY": key.pem.get_secret_value(),
            "GH_SECRET": SECRET,
            "GITHUB_API_URL": gh.base_url,
            "EQUITR_DB": str(tmp / "equitr.db"),
            "EQUITR_DB_SYNC": args.sync,
        }
        server = Server(env, tmp / "serve.log", *([] if args.workers else ["--no-workers"]))
        server.start()
        await server.ready()
        url = f"{server.url}/webhook"
        warm: list[float] = []
        await sender(gh, url, 0, time.monotonic() + 1, warm, [])  # permission cache, connections, SQLite pages
        times: list[float] = []
        errors: list[int] = []
        assert server.proc is not None
        cpu_before = cpu_s(server.proc.pid)
        started = time.monotonic()
        until = started + args.seconds
        await asyncio.gather(
            *(sender(gh, url, i + 1, until, times, errors, report=args.as_report) for i in range(args.senders))
        )
        elapsed = time.monotonic() - started
        cpu = cpu_s(server.proc.pid) - cpu_before
        server.signal(9)  # measured; nothing to drain
    q = statistics.quantiles(times, n=100, method="inclusive")
    print(
        f"{args.senders} senders × {args.seconds:g} s, EQUITR_DB_SYNC={args.sync}, "
        f"workers {'on' if args.workers else 'off'}: "
        f"{len(times)} deliveries, {len(times) / elapsed:.0f} deliveries/s, "
        f"p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, errors {len(errors)}; "
        f"server CPU {cpu * 1000 / max(len(times), 1):.2f} ms per delivery"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sync", choices=["full", "normal"], default="full")
    parser.add_argument("--workers", action="store_true", help="run the in-process workers too")
    parser.add_argument(
        "--as-report",
        action="store_true",
        help="send what the reliability report's send.py sent (no `installation`): its 264/s is comparable only so",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
