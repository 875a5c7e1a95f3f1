"""C3: `/metrics` and the details of `/healthz` are for the operator only, and `equitr serve` listens on
loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from equitr.config.settings import Settings
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, free_port

TOKEN = "metrics-" + "t0ken" * 4


@pytest.fixture
def services(tmp_path: Path) -> Iterator[services_mod.Services]:
    built = services_mod.build(Settings(EQUITR_DB=tmp_path / "equitr.db", GH_SECRET=SECRET))
    yield built
    built.close()


def app(services: services_mod.Services, token: str | None) -> Any:
    async def no_github(installation_id: int | None) -> Any:
        raise AssertionError("not needed")

    return create_app(
        dispatcher=services.dispatcher(no_github), secret=SECRET, health=services.health, metrics_token=token
    )


@pytest.mark.parametrize("token", [None, TOKEN])
async def test_healthz_without_the_token_is_liveness_only(services: services_mod.Services, token: str | None) -> None:
    for auth in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}):
        status, answer = await call(app(services, token), "GET", "/healthz", headers=auth)
        assert (status, answer) == (200, {"ok": True})


async def test_healthz_with_the_token_shows_the_queue(services: services_mod.Services) -> None:
    status, answer = await call(app(services, TOKEN), "GET", "/healthz", headers={"authorization": f"Bearer {TOKEN}"})
    assert status == 200 and answer["queue"] == "sqlite" and answer["jobs"] == {} and "pending" in answer


async def test_metrics_need_the_token(services: services_mod.Services) -> None:
    status, answer = await call(app(services, None), "GET", "/metrics")
    assert status == 403 and "EQUITR_METRICS_TOKEN" in answer["status"]
    status, answer = await call(app(services, None), "GET", "/metrics", headers={"authorization": "Bearer "})
    assert status == 403  # no token configured means no way in, not an empty token that matches
    for auth in ({}, {"authorization": "Bearer wrong"}):
        status, _ = await call(app(services, TOKEN), "GET", "/metrics", headers=auth)
        assert status == 401
    status, text = await call(app(services, TOKEN), "GET", "/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "equitr_webhook_requests" in text


def listening(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


async def test_serve_listens_on_loopback_by_default(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_", "HOST"))},
        "GH_SECRET": SECRET,
        "GITHUB_TOKEN": "not-used",
        "EQUITR_DB": str(tmp_path / "equitr.db"),
    }
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "equitr", "serve", "--port", str(port), "--no-workers"],  # no --host
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):
            if listening(port):
                break
            assert proc.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        assert listening(port) == {"0100007F"}, log.read_text()  # 127.0.0.1, and nothing else
    finally:
        proc.terminate()
        proc.wait(30)
