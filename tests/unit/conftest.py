"""Fixtures shared by the unit tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from equitr.jobs.store import JobStore
from equitr.jobs.store.redis import RedisStore
from equitr.jobs.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """Each job store, empty: SQLite in a temporary file, and a real redis-server under a fresh key prefix."""
    if request.param == "sqlite":
        s: JobStore = SqliteStore(tmp_path / "jobs.db")
    else:
        s = RedisStore(request.getfixturevalue("redis_url"), prefix=f"test:{time.monotonic_ns()}:")
    yield s
    s.close()
