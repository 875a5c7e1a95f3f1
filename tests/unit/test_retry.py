"""Retry decisions: retry-after parsing, backoff bounds, which errors are retried."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from equitr.errors import ModelError
from equitr.errors.retry import GITHUB, MODELS, RetryPolicy, delay_for, retry_after_s, with_retries
from equitr.models.wire import Endpoint, http_error

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
WHERE = Endpoint(label="Test", unreachable_hint="start it")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("Sun, 01 Jun 2025 12:00:30 GMT", 30.0),
        ("Sun, 01 Jun 2025 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_s(value: str | None, seconds: float | None) -> None:
    assert retry_after_s(value, now=NOW.timestamp()) == seconds


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_s=1, cap_s=8)
    rng = random.Random(1)
    waits = {n: [policy.backoff_s(n, rng.random) for _ in range(200)] for n in range(1, 7)}
    for n, values in waits.items():
        step = min(8, 2 ** (n - 1))
        assert all(step / 2 <= v <= step for v in values)
        assert len(set(values)) > 100  # jitter spreads concurrent workers
    assert max(waits[6]) <= 8


def _err(status: int, body: str = "{}", headers: dict[str, str] | None = None) -> ModelError:
    return http_error(status, body, headers or {}, endpoint=WHERE)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (422, False), (408, True), (429, True),
     (500, True), (502, True), (503, True), (504, True), (529, True)],
)  # fmt: skip
def test_classes(status: int, retryable: bool) -> None:
    assert _err(status).retryable is retryable


@pytest.mark.parametrize(
    "body",
    [
        '{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}',
        '{"error": {"code": "insufficient_quota", "message": "x"}}',
        '{"type": "error", "error": {"type": "billing_error", "message": "x"}}',
        '{"type": "error", "error": {"type": "invalid_request_error", '
        '"message": "Your credit balance is too low to access the Anthropic API."}}',
    ],
)
def test_spend_limit_errors_are_never_retried(body: str) -> None:
    for status in (400, 402, 403, 429):
        error = _err(status, body, {"retry-after": "1"})
        assert not error.retryable and "quota or spend limit" in error.message


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert _err(429, headers={"retry-after-ms": "1500", "retry-after": "9"}).retry_after_s == 1.5


def test_delay_for_respects_policy() -> None:
    policy = RetryPolicy(tries=3, max_wait_s=10)
    rate = ModelError("x", status=429, retryable=True, retry_after_s=4)
    assert delay_for(rate, 1, policy) == 4
    assert delay_for(rate, 3, policy) is None  # out of tries
    assert delay_for(ModelError("x", retryable=True, retry_after_s=11), 1, policy) is None
    assert delay_for(ModelError("x", status=400), 1, policy) is None


async def test_with_retries_stops_at_first_non_retryable() -> None:
    calls = []

    async def call() -> str:
        calls.append(1)
        raise ModelError("bad", status=400) if len(calls) == 2 else ModelError("busy", status=503, retryable=True)

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(ModelError, match="bad"):
        await with_retries(call, RetryPolicy(tries=5), sleep=no_sleep)
    assert len(calls) == 2


def test_one_policy_with_the_github_and_model_settings() -> None:
    """GitHub and the model providers share one RetryPolicy; only the numbers differ."""
    assert (GITHUB.tries, GITHUB.base_s, GITHUB.cap_s, GITHUB.max_wait_s) == (5, 1.0, 30.0, 900.0)
    assert RetryPolicy() == MODELS and (MODELS.tries, MODELS.max_wait_s) == (4, 60.0)
    assert [GITHUB.backoff_s(n, lambda: 0.0) for n in (1, 2, 3, 7)] == [0.5, 1.0, 2.0, 15.0]
