"""Who may look at the dashboard, and at which repositories' jobs.

Two ways in (docs/dashboard.md): a configured token (`EQUITR_DASHBOARD_TOKEN`), which sees every job, and
GitHub sign-in through the App's OAuth credentials (`GH_CLIENT_ID`, `GH_CLIENT_SECRET`), which sees the jobs
of the repositories the person can push to among those the App is installed on. GitHub's user token is used
once, at sign-in, to list those repositories, and then dropped: nothing of it is kept or sent to the browser.

Sessions live in this process's memory (a restart signs everyone out); the browser holds only a random
session id, signed, in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from cachetools import TTLCache
from pydantic import SecretStr

from equitr.config.settings import Settings
from equitr.errors import ConfigError, SignInFailed

SESSION_COOKIE = "equitr_session"
STATE_COOKIE = "equitr_oauth_state"
SESSION_TTL_S = 8 * 3600
STATE_TTL_S = 600
MAX_SESSIONS = 10_000
MIN_TOKEN_LENGTH = 16
# Wrong tokens allowed per client address in FAILURE_WINDOW_S before sign-in answers 429 for the rest of it.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 600
# Roles that may push: GitHub reports them in a repository's `permissions` for the signed-in user.
WRITE_ROLES = ("admin", "maintain", "push")
MAX_REPO_PAGES = 50  # 5,000 repositories per installation at most: a sign-in stays bounded
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: `repos` is None for the token (every repository), else the lower-cased full names
    they may see."""

    who: str
    repos: frozenset[str] | None
    expires_at: float
    csrf: str

    def may_see(self, repo: str) -> bool:
        return self.repos is None or repo.lower() in self.repos


@dataclass(frozen=True, slots=True)
class AuthConfig:
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    server_url: str = "https://github.com"  # GitHub's web address: the OAuth pages
    api_url: str = "https://api.github.com"
    public_url: str | None = None  # the dashboard's own address, when behind a proxy
    no_auth: bool = False  # loopback only, on explicit request (`equitr dashboard --no-auth`)

    @property
    def github(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def any(self) -> bool:
        return bool(self.token) or self.github or self.no_auth


def config_from(settings: Settings, *, no_auth: bool = False) -> AuthConfig:
    def secret(value: SecretStr | None) -> str | None:
        text = value.get_secret_value().strip() if value is not None else ""
        return text or None

    return AuthConfig(
        token=secret(settings.dashboard_token),
        client_id=(settings.gh_client_id or "").strip() or None,
        client_secret=secret(settings.gh_client_secret),
        server_url=settings.web_url,
        api_url=settings.github_api_url,
        public_url=settings.dashboard_url,
        no_auth=no_auth,
    )


def check_config(config: AuthConfig, *, host: str) -> None:
    """Refuse settings that would open the dashboard to anyone, or with a guessable token."""
    if config.token is not None and len(config.token.strip()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"EQUITR_DASHBOARD_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
            hint='Use a long random one, e.g. `python -c "import secrets; print(secrets.token_urlsafe(32))"`.',
        )
    if bool(config.client_id) != bool(config.client_secret):
        raise ConfigError(
            "GitHub sign-in needs both GH_CLIENT_ID and GH_CLIENT_SECRET (the App's OAuth credentials).",
            hint="Copy both from the GitHub App's settings page (Client ID; Generate a new client secret).",
        )
    if config.no_auth and not is_loopback(host):
        raise ConfigError(
            f"--no-auth is only allowed on a loopback address, not {host}.",
            hint="Listen on 127.0.0.1, or set EQUITR_DASHBOARD_TOKEN or GH_CLIENT_ID/GH_CLIENT_SECRET.",
        )
    if not config.any:
        raise ConfigError(
            "The dashboard has no sign-in configured: set EQUITR_DASHBOARD_TOKEN, or GH_CLIENT_ID and "
            "GH_CLIENT_SECRET for GitHub sign-in.",
            hint="On your own machine only: `equitr dashboard --no-auth` (listens on 127.0.0.1).",
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Sessions:
    """Signed session ids → sessions, in memory, expiring."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._sessions: TTLCache[str, Session] = TTLCache(maxsize=MAX_SESSIONS, ttl=SESSION_TTL_S)

    def sign(self, value: str) -> str:
        mac = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return f"{value}.{mac}"

    def unsign(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        value, _, mac = cookie.rpartition(".")
        good = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return value if hmac.compare_digest(good, mac) else None

    def start(self, who: str, repos: frozenset[str] | None) -> str:
        """A new session; the signed cookie value that names it."""
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(who, repos, time.time() + SESSION_TTL_S, secrets.token_urlsafe(24))
        return self.sign(sid)

    def get(self, cookie: str | None) -> Session | None:
        sid = self.unsign(cookie)
        if sid is None:
            return None
        session = self._sessions.get(sid)
        if session is None or session.expires_at < time.time():
            return None
        return session

    def end(self, cookie: str | None) -> None:
        sid = self.unsign(cookie)
        if sid is not None:
            self._sessions.pop(sid, None)


class Throttle:
    """Counts wrong sign-in tokens per client address: guessing stops being cheap after a few."""

    def __init__(self) -> None:
        self._failures: TTLCache[str, int] = TTLCache(maxsize=MAX_SESSIONS, ttl=FAILURE_WINDOW_S)

    def blocked(self, client: str) -> bool:
        return self._failures.get(client, 0) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        self._failures[client] = self._failures.get(client, 0) + 1


def token_matches(config: AuthConfig, given: str) -> bool:
    if not config.token:
        return False
    return hmac.compare_digest(given.strip().encode(), config.token.strip().encode())


# -- GitHub sign-in -----------------------------------------------------------------------------------------


def authorize_url(config: AuthConfig, *, state: str, redirect_uri: str) -> str:
    from urllib.parse import urlencode

    query = urlencode({"client_id": config.client_id or "", "state": state, "redirect_uri": redirect_uri})
    return f"{config.server_url}/login/oauth/authorize?{query}"


async def github_identity(config: AuthConfig, *, code: str, redirect_uri: str) -> tuple[str, frozenset[str]]:
    """Trade the OAuth code for a user token, and with it learn the login and the repositories (among the App's
    installations) the user can push to. The token is not kept."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S * 3, sock_connect=HTTP_TIMEOUT_S, sock_read=HTTP_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            token = await _exchange(http, config, code=code, redirect_uri=redirect_uri)
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "User-Agent": "equitr-dashboard",
                "X-GitHub-Api-Version": "2022-11-28",
            }
            user = await _get(http, f"{config.api_url}/user", headers)
            login = str(user.get("login") or "") if isinstance(user, dict) else ""
            if not login:
                raise SignInFailed("GitHub did not say who signed in.")
            repos: set[str] = set()
            for installation in await _paged(http, f"{config.api_url}/user/installations", headers, "installations"):
                inst_id = installation.get("id") if isinstance(installation, dict) else None
                if not isinstance(inst_id, int):
                    continue
                url = f"{config.api_url}/user/installations/{inst_id}/repositories"
                for repo in await _paged(http, url, headers, "repositories", missing_ok=True):
                    if isinstance(repo, dict) and _can_push(repo.get("permissions")):
                        repos.add(str(repo.get("full_name", "")).lower())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInFailed(f"GitHub could not be reached to complete the sign-in ({type(exc).__name__}).") from None
    repos.discard("")
    return login, frozenset(repos)


def _can_push(permissions: Any) -> bool:
    return isinstance(permissions, dict) and any(permissions.get(role) is True for role in WRITE_ROLES)


async def _exchange(http: aiohttp.ClientSession, config: AuthConfig, *, code: str, redirect_uri: str) -> str:
    data = {
        "client_id": config.client_id or "",
        "client_secret": config.client_secret or "",
        "code": code,
        "redirect_uri": redirect_uri,
    }
    async with http.post(
        f"{config.server_url}/login/oauth/access_token", data=data, headers={"Accept": "application/json"}
    ) as resp:
        body = await resp.json(content_type=None)
    token = body.get("access_token") if isinstance(body, dict) else None
    if resp.status != 200 or not isinstance(token, str) or not token:
        reason = body.get("error") if isinstance(body, dict) else None
        raise SignInFailed(f"GitHub refused the sign-in ({reason or resp.status}); try again.")
    return token


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as resp:
        if resp.status != 200:
            raise SignInFailed(f"GitHub answered {resp.status} to {url.split('?')[0]}; try again.")
        return await resp.json(content_type=None)


async def _paged(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], field: str, *, missing_ok: bool = False
) -> list[Any]:
    """Every item of a paginated list answer (`{"total_count", field: [...]}`), following `Link: next`; with
    `missing_ok`, a 403 or 404 is an empty list (an installation the user lost access to meanwhile)."""
    items: list[Any] = []
    next_url: str | None = f"{url}?per_page=100"
    for _ in range(MAX_REPO_PAGES):
        if next_url is None:
            break
        async with http.get(next_url, headers=headers) as resp:
            if missing_ok and resp.status in (403, 404):
                return items
            if resp.status != 200:
                raise SignInFailed(f"GitHub answered {resp.status} to {url}; try again.")
            body = await resp.json(content_type=None)
            next_link = resp.links.get("next")
            next_url = str(next_link["url"]) if next_link else None
        if next_url is not None and not next_url.startswith(url):
            next_url = None  # the user token goes to GitHub's API and nowhere else
        page = body.get(field) if isinstance(body, dict) else None
        items += page if isinstance(page, list) else []
    return items
