"""One retry policy for every remote equitr talks to: GitHub's API and the model providers.

A `RetryPolicy` bounds the attempts and shapes the waits: exponential backoff with "equal jitter" (half
fixed, half random, capped), and a longest wait a server may ask for (`retry-after`, a rate-limit reset)
before equitr gives up instead. *Whether* an answer is worth another try is the caller's: the GitHub client
decides from the status and headers (`equitr.github.retry.retry_delay`), a model call from
`ModelError.retryable`, decided where the error was built (`equitr.models.wire.http_error`).

`GITHUB` and `MODELS` are the two policies in use; tests and callers vary them with `dataclasses.replace`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TypeVar

from equitr.errors import ModelError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    tries: int = 4  # attempts in total, the first included
    base_s: float = 0.5  # first backoff step; each next one doubles
    cap_s: float = 20.0  # longest single backoff step
    max_wait_s: float = 60.0  # a server asking for a longer pause (retry-after, a rate-limit reset) is not waited for
    timeout_s: float = 30.0  # one GitHub request, connection to last byte (aiohttp's is 300); models have their own

    def backoff_s(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay after failed attempt number `attempt` (1-based): the wait grows for sure while concurrent
        workers still spread out."""
        step = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return step / 2 + rand() * step / 2


GITHUB = RetryPolicy(tries=5, base_s=1.0, cap_s=30.0, max_wait_s=900.0)  # EQUITR_GITHUB_TIMEOUT sets timeout_s
MODELS = RetryPolicy(tries=4, base_s=0.5, cap_s=20.0, max_wait_s=60.0)


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """HTTP `retry-after` as seconds to wait: delta-seconds or an HTTP date (`now`: epoch seconds); None when
    absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def delay_for(error: ModelError, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before the next model call, or None when this error must not be retried."""
    if not error.retryable or attempt >= policy.tries:
        return None
    if error.retry_after_s is not None:
        return error.retry_after_s if error.retry_after_s <= policy.max_wait_s else None
    return policy.backoff_s(attempt)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[ModelError, float], None] | None = None,
) -> T:
    """Run the model call `call` until it succeeds, fails with a non-retryable error, or the tries run out."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ModelError as error:
            wait = delay_for(error, attempt, policy)
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(error, wait)
            await sleep(wait)
