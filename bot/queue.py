"""The queue that carries job ids to workers: huey, on SQLite (embedded default) or Redis (scale-out).

Only ids travel through the queue; the job itself lives in the store (`bot.store`). A message that the queue
loses (a worker killed mid-task takes its message with it) is recovered from the store by `sweep`, which
runs when a worker starts and then every minute.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer

log = logging.getLogger(__name__)

Executor = Callable[[int], None]
Notifier = Callable[[dict[str, Any]], None]
Sweeper = Callable[[], None]

# The functions the worker process runs; bound once by `bind` in processes that consume.
_bound: dict[str, Callable[..., None]] = {}


def _call(name: str, *args: Any) -> None:
    func = _bound.get(name)
    if func is None:
        # Raising makes huey log it; the store still holds the job, and the sweeper re-enqueues it.
        raise RuntimeError(f"no {name} bound in this process; is it a worker?")
    func(*args)


class Queue:
    def __init__(self, *, db: Path, redis_url: str | None, name: str = "equitr") -> None:
        self.huey: Huey = (
            RedisHuey(name, url=redis_url, results=False)
            if redis_url
            # No fsync of its own: the job row (fsynced by the store) is the durable record, and a message
            # lost to a power cut is re-sent by the sweeper.
            else SqliteHuey(name, filename=str(db), fsync=False, results=False)
        )
        self._run_job = self.huey.task(name="equitr.run_job")(lambda job_id: _call("run_job", job_id))
        self._notify = self.huey.task(name="equitr.notify", retries=3, retry_delay=10)(
            lambda notice: _call("notify", notice)
        )
        self.huey.periodic_task(crontab(minute="*"), name="equitr.sweep")(lambda: _call("sweep"))

    def enqueue_job(self, job_id: int) -> None:
        self._run_job(job_id)

    def enqueue_notice(self, notice: dict[str, Any]) -> None:
        """A comment to post that is not a job (e.g. the polite refusal), delivered at least once."""
        self._notify(notice)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def close(self) -> None:
        close = getattr(self.huey.storage, "close", None)
        if close is not None:
            close()


def bind(*, run_job: Executor, notify: Notifier, sweep: Sweeper) -> None:
    _bound.update(run_job=run_job, notify=notify, sweep=sweep)


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """huey's consumer without its signal handlers: inside `equitr serve` uvicorn owns the signals."""

    def _set_signal_handlers(self) -> None:
        pass


class Workers:
    """Worker threads consuming the queue, in this process."""

    def __init__(self, queue: Queue, *, count: int) -> None:
        self.consumer = _EmbeddedConsumer(
            queue.huey, workers=count, worker_type="thread", periodic=True, max_delay=0.5, initial_delay=0.05
        )
        self._stopped = threading.Event()

    def start(self) -> None:
        self.consumer.start()

    def stop(self, *, graceful: bool = True) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self.consumer.stop(graceful=graceful)
