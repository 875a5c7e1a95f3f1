"""The queue keeps what it acknowledged (R1, R10).

R1: Redis without the append-only file loses every acknowledged job, dedupe key and the job-id sequence
when it restarts, so `equitr worker`/`serve`/`doctor` refuse it unless the operator opts in; and when Redis
loses its data while equitr runs anyway, deliveries get a 503 and `/healthz` says so, instead of new jobs
quietly taking ids from 1 again. R10: huey's SQLite connections never run with synchronous=OFF.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from equitr.config.settings import Settings
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, RedisServer, headers, payload

VOLATILE = ("--appendonly", "no", "--save", "")


def env_for(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
        "EQUITR_QUEUE_URL": url,
        "EQUITR_DB": str(tmp_path / "unused.db"),
        "GITHUB_TOKEN": "ghs_" + "t" * 36,
        "GITHUB_API_URL": "http://127.0.0.1:1",
        **extra,
    }


def run_worker(env: dict[str, str], log: Path, *, seconds: float) -> tuple[int | None, str]:
    """Start `equitr worker`; its exit status (None if it was still running after `seconds`) and output."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "equitr", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None and "equitr worker:" not in log.read_text():
        time.sleep(0.1)
    code = proc.poll()
    if code is None:
        proc.terminate()
        proc.wait(30)
    return code, log.read_text()


def test_r1_a_worker_refuses_redis_without_the_append_only_file(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", *VOLATILE) as redis:
        code, out = run_worker(env_for(redis.url, tmp_path), tmp_path / "worker.log", seconds=60)
    assert code == 1, out
    assert "appendonly no" in out and "appendonly yes" in out and "EQUITR_ALLOW_VOLATILE_REDIS=1" in out
    assert "Traceback" not in out


def test_r1_with_config_disabled_the_setting_is_read_from_info(tmp_path: Path) -> None:
    """Managed Redis often renames CONFIG away; INFO persistence still tells."""
    with RedisServer(tmp_path / "redis", *VOLATILE, "--rename-command", "CONFIG", "") as redis:
        done = subprocess.run(
            [sys.executable, "-m", "equitr", "doctor"],
            env=env_for(redis.url, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("✗ queue:"))
    assert "appendonly no" in line


def test_r1_the_operator_can_accept_a_volatile_redis(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", *VOLATILE) as redis:
        code, out = run_worker(
            env_for(redis.url, tmp_path, EQUITR_ALLOW_VOLATILE_REDIS="1"), tmp_path / "worker.log", seconds=60
        )
    assert code is None, out  # it was running
    assert "equitr worker:" in out
    assert "Allowed because EQUITR_ALLOW_VOLATILE_REDIS=1" in out


def test_r1_doctor_reports_persistence_and_a_redis_without_password(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis", *VOLATILE, "--maxmemory-policy", "allkeys-lru", password=None) as redis:
        done = subprocess.run(
            [sys.executable, "-m", "equitr", "doctor"],
            env=env_for(redis.url, tmp_path, EQUITR_REDIS_INSECURE="1", EQUITR_ALLOW_VOLATILE_REDIS="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    lines = done.stdout.splitlines()
    assert any(line.startswith("! redis auth:") and "has no password" in line for line in lines), done.stdout
    assert any(line.startswith("! redis persistence:") and "appendonly no" in line for line in lines), done.stdout
    assert any(line.startswith("! redis persistence:") and "allkeys-lru" in line for line in lines), done.stdout


def pull_request(number: int) -> bytes:
    data = payload("pull_request", "opened")
    data["pull_request"]["draft"] = False
    data["pull_request"]["number"] = data["number"] = number
    data["pull_request"]["head"]["sha"] = f"{number:040x}"
    data["installation"] = {"id": 7, "node_id": "x"}
    return json.dumps(data).encode()


async def test_r1_redis_that_loses_its_data_while_equitr_runs_gets_503_not_job_ids_from_1_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redis = RedisServer(tmp_path / "redis", *VOLATILE).start()
    settings = Settings(
        EQUITR_QUEUE_URL=redis.url, EQUITR_DB=tmp_path / "unused.db", GH_SECRET=SECRET, EQUITR_ALLOW_VOLATILE_REDIS=True
    )
    services = services_mod.build(settings)

    async def no_github(installation_id: int | None) -> Any:
        raise AssertionError("automatic reviews are queued without asking GitHub")

    app = create_app(dispatcher=services.dispatcher(no_github), secret=SECRET, health=services.health)
    try:
        first = pull_request(1)
        status, answer = await call(app, "POST", "/webhook", body=first, headers=headers(first, "pull_request", "r1-a"))
        assert (status, answer["jobs"]) == (202, [1])
        redis.stop()
        redis.start()  # the same port, empty: what a restart without persistence looks like
        second = pull_request(2)
        with caplog.at_level(logging.CRITICAL, logger="equitr.jobs.store"):
            status, answer = await call(
                app, "POST", "/webhook", body=second, headers=headers(second, "pull_request", "r1-b")
            )
            health, _ = await call(app, "GET", "/healthz")
    finally:
        services.close()
        redis.stop()
    assert status == 503, answer
    assert health == 503
    assert any("Redis lost equitr's data" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("sync", "level"), [("full", 2), ("normal", 1)])
def test_r10_hueys_sqlite_connections_are_as_durable_as_the_store(tmp_path: Path, sync: str, level: int) -> None:
    """synchronous: 2 = FULL, 1 = NORMAL, 0 = OFF (what huey ran with before)."""
    services = services_mod.build(Settings(EQUITR_DB=tmp_path / "equitr.db", EQUITR_DB_SYNC=sync))
    seen: list[int] = []

    def consumer_thread() -> None:  # huey opens one connection per thread
        seen.append(services.queue.huey.storage.conn.execute("PRAGMA synchronous").fetchone()[0])

    try:
        services.queue.enqueue_job(1)
        consumer_thread()
        thread = threading.Thread(target=consumer_thread)
        thread.start()
        thread.join()
    finally:
        services.close()
    assert seen == [level, level]
