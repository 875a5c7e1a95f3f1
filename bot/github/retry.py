"""Retries for GitHub's REST API, which gidgethub leaves to its users.

`RetryingGitHubAPI` is gidgethub's aiohttp client with `_request` wrapped in a retry loop:

- `retry-after` on any answer is honoured (up to `max_wait_s`);
- primary rate limit (403/429 with `x-ratelimit-remaining: 0`): wait until `x-ratelimit-reset`, capped;
- secondary rate limit (403/429 saying so, without `retry-after`): at least a minute, then growing, as
  GitHub's documentation asks;
- 500/502/503/504 and connection errors: exponential backoff with jitter, except where a POST may have been
  carried out already (500/502/504, a connection lost after sending): its caller looks before it posts again;
- 401 with the client's own installation token: one fresh token (`refresh_token`), then the request again;
  (with `app_jwt`, requests without other credentials are sent as the App, with a fresh JWT);
- nothing else: other 4xx answers are final.

After `tries` (or when a wait would exceed `max_wait_s`) the last answer goes through gidgethub's usual
decoding, and every failure leaves as one documented `equitr.errors.GitHubError`: `.status` is the HTTP
status (None when GitHub could not be reached), `.kind` says rate limit, network or other, and the message
is fit for a status comment (gidgethub's own exception is its `__cause__`). The policy is the shared
`equitr.errors.retry.RetryPolicy` (`GITHUB`). `sleep`, `clock` and `random` are injectable so tests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random as random_module
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import gidgethub
import gidgethub.aiohttp
from prometheus_client import Counter

from equitr.errors import GitHubError, Parked
from equitr.errors.retry import GITHUB, RetryPolicy, retry_after_s
from equitr.monitor import records as monitor

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
SECONDARY_LIMIT_MIN_WAIT_S = 60.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Answers after which a POST may or may not have been carried out: sending it again could make a second
# comment or pull request. The caller, which can look for what it wrote (`comments.upsert`), decides.
AMBIGUOUS = frozenset({500, 502, 504})

# Set (seconds) by the runner for a job's task: a rate-limit wait longer than this raises `Parked` instead of
# sleeping, while `MAY_PARK` allows it (the job is cheap to run again: nothing spent on a model yet), and the
# runner hands the job back to the queue until the limit resets, which frees its worker for other
# installations' jobs. A job that may not be parked waits in place (`ON_WAIT` is told first), but a wait it
# cannot make (over `max_wait_s`, or its tries used up) parks it too: rescheduled, not failed. Unset (None),
# every wait happens in place and a wait too long ends the request.
PARK_AFTER_S: contextvars.ContextVar[float | None] = contextvars.ContextVar("equitr_park_after_s", default=None)
MAY_PARK: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar("equitr_may_park", default=None)
ON_WAIT: contextvars.ContextVar[Callable[[float], Awaitable[None]] | None] = contextvars.ContextVar(
    "equitr_on_wait", default=None
)



@contextlib.contextmanager
def without_waiting() -> Iterator[None]:
    """Requests made inside never wait for a rate limit (they raise `Parked` at once): for a best-effort write
    made while the job is stopped by one, or about to leave the worker."""
    tokens = (PARK_AFTER_S.set(0.0), MAY_PARK.set(None), ON_WAIT.set(None))
    try:
        yield
    finally:
        ON_WAIT.reset(tokens[2])
        MAY_PARK.reset(tokens[1])
        PARK_AFTER_S.reset(tokens[0])


Sleep = Callable[[float], Awaitable[None]]
TokenRefresh = Callable[[], Awaitable[str]]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def retry_delay(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    attempt: int,
    policy: RetryPolicy,
    now: float,
    rand: Callable[[], float] = random_module.random,
) -> float | None:
    """Seconds to wait before trying again, or None when this answer is final. Pure."""
    retry_after = _header(headers, "retry-after")
    if retry_after is not None and (status in (403, 429) or status in RETRY_STATUSES):
        return retry_after_s(retry_after, now=now)
    if status in (403, 429):
        remaining = _header(headers, "x-ratelimit-remaining")
        reset = _header(headers, "x-ratelimit-reset")
        if remaining == "0" and reset is not None:
            try:
                return max(float(reset) - now, 0.0) + 1.0
            except ValueError:
                return None
        if "secondary rate limit" in _message(body).lower():
            # At least a minute, then longer; spread by up to a quarter, so that workers stopped by the same
            # limit do not all come back at the same second and trip it again.
            step = max(SECONDARY_LIMIT_MIN_WAIT_S * 2.0 ** (attempt - 1), SECONDARY_LIMIT_MIN_WAIT_S)
            return step * (1.0 + rand() / 4)
        return policy.backoff_s(attempt, rand) if status == 429 else None
    if status in RETRY_STATUSES:
        return policy.backoff_s(attempt, rand)
    return None


# Requests outside jobs (the webhook's permission checks, ending reports delivered by the sweeper) are counted
# in this process only: `equitr serve` shows its own on /metrics (docs/monitoring.md).
OUTSIDE_JOBS = Counter(
    "equitr_github_calls_outside_jobs",
    "GitHub API requests this process made outside jobs (webhook permission checks, ending reports), each try, "
    "by method, templated route and status (0: no answer)",
    ["method", "route", "status"],
    registry=None,
)


def _monitored(method: str, url: str, status: int, headers: Mapping[str, str], latency_s: float) -> None:
    """Every request sent (each try of a retried one) goes to the running job's monitor, if any."""
    mon = monitor.current()
    if mon is None:
        OUTSIDE_JOBS.labels(method.upper(), monitor.route_template(urlsplit(url).path), str(status)).inc()
        return
    remaining = _header(headers, "x-ratelimit-remaining")
    mon.github_call(
        method=method,
        route=urlsplit(url).path,
        status=status,
        rate_remaining=int(remaining) if remaining is not None and remaining.isdigit() else None,
        latency_s=latency_s,
    )


def _describe(method: str, url: str) -> str:
    return f"{method} {urlsplit(url).path}"


class RetryingGitHubAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp client with retries, one token refresh on 401, and `GitHubError`s."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str,
        *,
        oauth_token: str | None = None,
        base_url: str = "https://api.github.com",
        refresh_token: TokenRefresh | None = None,
        app_jwt: Callable[[], str] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        super().__init__(session, requester, oauth_token=oauth_token, base_url=base_url.rstrip("/"))
        self.refresh_token = refresh_token
        self.app_jwt = app_jwt
        self.policy = policy or GITHUB
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._clock = clock
        self._random = random

    def __repr__(self) -> str:  # never show the token
        return f"RetryingGitHubAPI(base_url={self.base_url!r}, requester={self.requester!r})"

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        request_headers = dict(headers)
        if self.app_jwt is not None and "authorization" not in request_headers:
            request_headers["authorization"] = f"bearer {self.app_jwt()}"
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            sent = time.monotonic()
            try:
                async with asyncio.timeout(self.policy.timeout_s):
                    status, response_headers, response_body = await super()._request(method, url, request_headers, body)
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                _monitored(method, url, 0, {}, time.monotonic() - sent)  # status 0: no answer
                may_retry = method in IDEMPOTENT or isinstance(error, aiohttp.ClientConnectorError)
                if not may_retry or attempt >= self.policy.tries:
                    timed_out = isinstance(error, TimeoutError)
                    what = f"no answer within {self.policy.timeout_s:g} s" if timed_out else type(error).__name__
                    raise GitHubError(
                        f"Could not reach GitHub for {_describe(method, url)} after {attempt} attempt(s): {what}",
                        hint="check the network between equitr and GitHub, and GITHUB_API_URL"
                        + ("; EQUITR_GITHUB_TIMEOUT sets how long one request may take" if timed_out else ""),
                        kind="network-error",
                    ) from error
                pause = self.policy.backoff_s(attempt, self._random)
                log.warning("GitHub %s: %s; retrying in %.1fs", _describe(method, url), type(error).__name__, pause)
                await self.sleep(pause)
                continue
            _monitored(method, url, status, response_headers, time.monotonic() - sent)
            if status == 401 and not refreshed and self._uses_own_token(request_headers):
                assert self.refresh_token is not None
                refreshed = True
                self.oauth_token = await self.refresh_token()
                request_headers["authorization"] = f"token {self.oauth_token}"
                log.info("GitHub %s: 401, retrying once with a fresh installation token", _describe(method, url))
                continue
            delay = retry_delay(
                status,
                response_headers,
                response_body,
                attempt=attempt,
                policy=self.policy,
                now=self._clock(),
                rand=self._random,
            )
            if method == "POST" and status in AMBIGUOUS:
                return status, response_headers, response_body
            last = delay is None or attempt >= self.policy.tries or delay > self.policy.max_wait_s
            if delay is not None and status in (403, 429):
                await self._rate_limited(method, url, status, delay, last=last)
            if last:
                return status, response_headers, response_body
            assert delay is not None
            log.warning("GitHub %s: %s; retrying in %.1fs", _describe(method, url), status, delay)
            await self.sleep(delay)

    async def _rate_limited(self, method: str, url: str, status: int, delay: float, *, last: bool) -> None:
        """Before a rate-limit wait of `delay` s in a job: park the job (raise `Parked`) when the wait is long and
        the job may be parked, or when the wait cannot be made here (`last`); else tell `ON_WAIT` of a long one."""
        park_after = PARK_AFTER_S.get()
        if park_after is None or (delay <= park_after and not last):
            return
        may_park = MAY_PARK.get()
        if last or may_park is None or may_park():
            raise Parked(
                f"GitHub's rate limit stopped {_describe(method, url)} for {delay:.0f} s",
                status=status,
                until=self._clock() + delay,
            )
        on_wait = ON_WAIT.get()
        if on_wait is not None:
            await on_wait(delay)

    def _uses_own_token(self, headers: Mapping[str, str]) -> bool:
        return (
            self.refresh_token is not None
            and self.oauth_token is not None
            and headers.get("authorization") == f"token {self.oauth_token}"
        )

    async def _make_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> tuple[bytes, str | None, int]:
        try:
            return await super()._make_request(method, url, *args, **kwargs)
        except gidgethub.HTTPException as error:
            raise _explain(method, url, error, self.rate_limit) from error

    async def getstatus(self, url: str, *args: Any, **kwargs: Any) -> int:
        try:
            return await super().getstatus(url, *args, **kwargs)
        except GitHubError as error:
            if error.status is None:
                raise
            return error.status


def rate_limited(error: Exception, detail: str | None = None) -> bool:
    """Whether GitHub refused because of a rate limit (primary or secondary), not for a permission: from
    equitr's client (`GitHubError.kind`) or a plain gidgethub one."""
    if isinstance(error, GitHubError):
        return error.kind == "rate-limited"
    status = getattr(error, "status_code", None)
    text = (detail if detail is not None else str(error)).lower()
    return isinstance(error, gidgethub.RateLimitExceeded) or (
        status is not None and int(status) in (403, 429) and "rate limit" in text
    )


# What GitHub's refusal means, by status, first match wins: (applies, message, hint).
_REFUSALS: tuple[tuple[Callable[[int], bool], str, str], ...] = (
    (
        lambda status: status == 401,
        "GitHub refused equitr's credentials for {where} (401: {detail}).",
        "check GH_APP_ID and the private key (App) or GITHUB_TOKEN; `equitr doctor` tests them",
    ),
    (
        lambda status: status >= 500,
        "GitHub failed on {where} with {status} ({detail}), also after retrying.",
        "GitHub may be having trouble (https://www.githubstatus.com); try again later",
    ),
    (
        lambda status: status == 403,
        "GitHub refused {where} (403: {detail}).",
        "the App may lack a permission it needs on this repository; check its installation settings",
    ),
)


def _explain(method: str, url: str, error: gidgethub.HTTPException, rate_limit: Any) -> GitHubError:
    status = int(error.status_code)
    where = _describe(method, url)
    detail = str(error.args[0]) if error.args and error.args[0] else error.status_code.phrase
    detail = detail.strip().rstrip(".")  # GitHub's messages end in a full stop; ours add one
    if rate_limited(error, detail):
        reset = getattr(getattr(error, "rate_limit", None) or rate_limit, "reset_datetime", None)
        when = f" It resets at {reset:%H:%M} UTC." if reset is not None else ""
        return GitHubError(
            f"GitHub's rate limit stopped {where}: {detail}.{when}",
            status=status,
            hint="wait for the limit to reset",
            kind="rate-limited",
        )
    for applies, text, hint in _REFUSALS:
        if applies(status):
            return GitHubError(text.format(where=where, status=status, detail=detail), status=status, hint=hint)
    return GitHubError(f"GitHub answered {status} to {where}: {detail}.", status=status)
