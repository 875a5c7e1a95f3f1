"""Blocking work (git, a sandboxed command) run off the job's event loop, and stopped with the job.

A job is one task on one event loop; cancelling it (`/equitr cancel`, a lost lease, shutdown) is a plain
`task.cancel()`. A thread cannot be cancelled, though: `in_thread` turns the task's cancellation into `stop`
(a sandboxed command sees it and is killed with its process group) and waits for the thread to end before
the cancellation goes on, so a checkout is never removed under a command still writing into it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
STOP_WAIT_S = 10.0  # how long a cancelled job waits for its thread to stop its command and let go of its files


async def in_thread(func: Callable[..., T], /, *args: Any, stop: threading.Event | None = None) -> T:
    """`func(*args)` in a thread (`asyncio.to_thread`); when the awaiting task is cancelled, `stop` is set
    and the thread is given `STOP_WAIT_S` to end before the CancelledError goes on."""
    work = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if stop is not None:
            stop.set()
        await asyncio.wait({work}, timeout=STOP_WAIT_S)
        work.add_done_callback(_retrieve)  # its result or error is moot now: the job was cancelled
        raise


def _retrieve(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()
