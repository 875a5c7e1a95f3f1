"""GitHub App authentication: App JWTs and cached installation tokens.

An App authenticates as itself with a short-lived JWT (RS256, signed with its private key) and then
exchanges it for an installation access token per installation. Tokens last an hour; `InstallationTokens`
keeps one per installation and scope (`equitr.github.scope`: a job's token covers its one repository and the
permissions its kind needs) and mints a new one at least five minutes before the old one expires, so a
request never leaves with a token about to die. Concurrent callers for the same key on one event loop share one
mint; the cache is shared by every loop of the process (a worker thread runs each job on a loop of its own). The
private key stays a `SecretStr` until the moment of signing and is never logged; every JWT and token is
registered with `equitr.redact` the moment it exists, so it is masked wherever it might later be printed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import jwt
from cachetools import TLRUCache
from pydantic import SecretStr

from equitr import redact
from equitr.errors import ConfigError, GitHubError
from equitr.errors.retry import RetryPolicy
from equitr.github.retry import RetryingGitHubAPI, Sleep
from equitr.github.scope import Scope

JWT_BACKDATE_S = 60  # GitHub's advice: issue 60 s in the past against clock drift
JWT_MAX_LIFETIME_S = 600  # GitHub refuses App JWTs that live longer than 10 minutes
REFRESH_MARGIN_S = 300.0
DEFAULT_API_URL = "https://api.github.com"  # mint a new installation token this long before `expires_at`

Clock = Callable[[], float]


def app_jwt(*, app_id: int | str, private_key: SecretStr, now: float | None = None, lifetime_s: int = 540) -> str:
    """An App JWT: `iat` 60 s in the past, `exp` `lifetime_s` ahead (at most 10 minutes after `iat`)."""
    if lifetime_s + JWT_BACKDATE_S > JWT_MAX_LIFETIME_S:
        raise ValueError(f"an App JWT may live at most {JWT_MAX_LIFETIME_S} s after its iat")
    issued = int(time.time() if now is None else now)
    claims = {"iat": issued - JWT_BACKDATE_S, "exp": issued + lifetime_s, "iss": str(app_id)}
    try:
        token = jwt.encode(claims, private_key.get_secret_value(), algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        # The library's message can quote key material; say what is wrong without it.
        raise ConfigError(
            "the GitHub App private key could not be used to sign a JWT",
            hint="set GH_PRIVATE_KEY (or GH_PRIVATE_KEY_PATH) to the PEM file GitHub gave you for this App",
        ) from None
    redact.register(token, expires_at=issued + lifetime_s)
    return token


@dataclass(frozen=True)
class InstallationToken:
    token: SecretStr
    expires_at: float  # epoch seconds


Minter = Callable[[aiohttp.ClientSession, int, str, Scope], Awaitable[InstallationToken]]
"""(session, installation id, App JWT, scope) → a fresh installation token."""
Key = tuple[int, Scope]
WHOLE = Scope()  # every repository and permission of the installation


def parse_expires_at(value: str) -> float:
    """GitHub's `expires_at` (`2016-07-11T22:14:10Z`) as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class InstallationTokens:
    """Installation access tokens per installation and scope, cached until `refresh_margin_s` before expiry.

    One instance per process (it is the cache). `token()` returns a cached token or mints one with
    `POST /app/installations/{id}/access_tokens` on `base_url`, asking for `scope` only; concurrent callers
    for one installation and scope wait for the same mint. `clock`, `sleep` and `mint` are injectable.

    Thread-safe: the huey worker threads each run a job on an event loop of its own and share this cache
    (a token minted for one job serves the next). An asyncio lock belongs to one loop, so the "one mint at a
    time" lock is per (loop, key), and dropped when no caller on that loop holds or waits for it; two
    loops that miss the cache at the same moment each mint (both tokens are valid).
    """

    def __init__(
        self,
        *,
        app_id: int | str,
        private_key: SecretStr,
        base_url: str = DEFAULT_API_URL,
        requester: str = "equitr",
        clock: Clock = time.time,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        maxsize: int = 1024,
        mint: Minter | None = None,
        sleep: Sleep | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.app_id = app_id
        self._private_key = private_key
        self.base_url = base_url.rstrip("/")
        self.requester = requester
        self._clock = clock
        self.refresh_margin_s = refresh_margin_s
        self._mint = mint or self._mint_over_http
        self._sleep = sleep
        self._policy = policy
        self._cache: TLRUCache[Key, InstallationToken] = TLRUCache(maxsize=maxsize, ttu=self._use_until, timer=clock)
        self._guard = threading.Lock()  # the cache and the lock table, across worker threads
        self._locks: dict[tuple[asyncio.AbstractEventLoop, Key], tuple[asyncio.Lock, int]] = {}
        self.mints = 0  # how many tokens were minted (for metrics and tests)

    def __repr__(self) -> str:
        return f"InstallationTokens(app_id={self.app_id!r}, base_url={self.base_url!r}, cached={len(self._cache)})"

    def _use_until(self, _key: Key, value: InstallationToken, _now: float) -> float:
        return value.expires_at - self.refresh_margin_s

    def jwt(self) -> str:
        """A fresh App JWT (for `/app/...` endpoints)."""
        return app_jwt(app_id=self.app_id, private_key=self._private_key, now=self._clock())

    async def token(self, session: aiohttp.ClientSession, installation_id: int, scope: Scope | None = None) -> str:
        """A token for `installation_id`, limited to `scope`, with at least `refresh_margin_s` left; mints one
        when needed."""
        key = (installation_id, scope or WHOLE)
        if (cached := self._cached(key)) is not None:
            return cached
        async with self._one_mint(key):
            if (cached := self._cached(key)) is not None:  # another caller minted while we waited
                return cached
            fresh = await self._mint(session, installation_id, self.jwt(), key[1])
            self.mints += 1
            value = fresh.token.get_secret_value()
            redact.register(value, expires_at=fresh.expires_at)  # before anything can print it
            if fresh.expires_at - self.refresh_margin_s <= self._clock():
                raise GitHubError(
                    f"GitHub issued an installation token for installation {installation_id} that expires "
                    "almost at once; is this machine's clock right?",
                )
            with self._guard:
                self._cache[key] = fresh
            return value

    def _cached(self, key: Key) -> str | None:
        with self._guard:
            cached = self._cache.get(key)
        return cached.token.get_secret_value() if cached is not None else None

    @asynccontextmanager
    async def _one_mint(self, key: Key) -> AsyncIterator[None]:
        """Held by one caller per loop and key at a time: the others on that loop wait for its mint."""
        at = (asyncio.get_running_loop(), key)
        with self._guard:
            lock, users = self._locks.get(at) or (asyncio.Lock(), 0)
            self._locks[at] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[at]
                if users == 1:
                    del self._locks[at]  # no strong reference to a finished loop is kept
                else:
                    self._locks[at] = (lock, users - 1)

    async def refresh(
        self,
        session: aiohttp.ClientSession,
        installation_id: int,
        *,
        stale: str | None = None,
        scope: Scope | None = None,
    ) -> str:
        """A new token after GitHub refused `stale` (or the cached one): forget it, then `token()`."""
        self.invalidate(installation_id, token=stale, scope=scope)
        return await self.token(session, installation_id, scope)

    def invalidate(self, installation_id: int, *, token: str | None = None, scope: Scope | None = None) -> None:
        """Forget the cached token (only if it is still `token`, when given: a newer one stays)."""
        key = (installation_id, scope or WHOLE)
        with self._guard:
            cached = self._cache.get(key)
            if cached is not None and (token is None or cached.token.get_secret_value() == token):
                del self._cache[key]

    async def _mint_over_http(
        self, session: aiohttp.ClientSession, installation_id: int, app_jwt: str, scope: Scope
    ) -> InstallationToken:
        api = RetryingGitHubAPI(session, self.requester, base_url=self.base_url, policy=self._policy, sleep=self._sleep)
        try:
            data = await api.post(
                "/app/installations/{installation_id}/access_tokens",
                {"installation_id": installation_id},
                data=scope.body(),
                jwt=app_jwt,
            )
        except GitHubError as error:
            if error.status == 404:
                raise GitHubError(
                    f"GitHub App installation {installation_id} was not found (it may have been removed).",
                    status=404,
                    hint="reinstall the App on the repository, or check GH_APP_ID",
                ) from error
            if error.status == 422:
                raise GitHubError(
                    f"GitHub refused an installation token for {scope.describe()} on installation "
                    f"{installation_id}: the installation does not grant that repository or permission.",
                    status=422,
                    hint="grant the App the permissions in docs/app.md (contents, issues and pull requests: "
                    "read and write), and accept the new permissions on the installation",
                ) from error
            raise
        return InstallationToken(token=SecretStr(data["token"]), expires_at=parse_expires_at(data["expires_at"]))
