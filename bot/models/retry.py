"""Retries by error class: what to retry, how long to wait, and when to stop.

429 waits what `retry-after` says (seconds or an HTTP date); 5xx, connection errors and timeouts back off
exponentially with jitter; everything else (400/401/403/404, spent quota) fails at once. The decision of
*whether* an error is retryable is made where the error is built (`wire.http_error`) and carried on
`ModelError.retryable`, so this module stays small and pure apart from the sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from equitr.errors import ModelError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    tries: int = 4  # attempts in total, not retries
    base_s: float = 0.5  # first backoff step
    cap_s: float = 20.0  # longest single backoff
    max_retry_after_s: float = 60.0  # a server asking for a longer pause than this is not waited for

    def backoff_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed attempt number `attempt` (1-based): 'equal jitter' — half fixed, half random,
        so the wait grows for sure while concurrent workers still spread out."""
        step: float = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        jitter: float = (rng or random).uniform(0, step / 2)
        return step / 2 + jitter


NO_RETRY = RetryPolicy(tries=1)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`retry-after` as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
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
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def delay_for(error: ModelError, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before the next attempt, or None when this error must not be retried."""
    if not error.retryable or attempt >= policy.tries:
        return None
    if error.retry_after_s is not None:
        return error.retry_after_s if error.retry_after_s <= policy.max_retry_after_s else None
    return policy.backoff_s(attempt)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[ModelError, float], None] | None = None,
) -> T:
    """Run `call` until it succeeds, fails with a non-retryable error, or the tries run out."""
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
