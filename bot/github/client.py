"""Authenticated GitHub clients: per installation (App mode), for a token (Action / token mode), as the App.

    tokens = InstallationTokens(app_id=..., private_key=..., base_url=settings.github_api_url)  # one per process
    gh = await installation_api(session, installation_id=42, tokens=tokens, base_url=...)
    gh = await installation_api(session, token=settings.github_token, base_url=...)
    app = app_api(session, tokens=tokens)  # JWT endpoints: GET /app, GET /repos/{o}/{r}/installation

`base_url` is `GITHUB_API_URL` (GitHub Enterprise Server, or the fake server in tests).
"""

from __future__ import annotations

import aiohttp
from pydantic import SecretStr

from equitr.errors import ConfigError
from equitr.errors.retry import RetryPolicy
from equitr.github.auth import DEFAULT_API_URL, InstallationTokens
from equitr.github.retry import RetryingGitHubAPI, Sleep
from equitr.github.scope import Scope

USER_AGENT = "equitr"


async def installation_api(
    session: aiohttp.ClientSession,
    *,
    base_url: str = DEFAULT_API_URL,
    installation_id: int | None = None,
    app_id: int | str | None = None,
    private_key: SecretStr | None = None,
    token: SecretStr | None = None,
    tokens: InstallationTokens | None = None,
    scope: Scope | None = None,
    requester: str = USER_AGENT,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
) -> RetryingGitHubAPI:
    """A client for one installation (App mode) or for `token` (token mode), with retries.

    App mode needs `installation_id` and either a shared `tokens` cache (preferred: one per process) or
    `app_id` + `private_key` (a cache just for this client). The installation token is fetched now, limited
    to `scope` when given (`equitr.github.scope`), so credential problems surface here as
    `GitHubError`/`ConfigError`, and refreshed once on a 401. Token mode ignores `scope`: that token's
    permissions are whatever its issuer granted (the workflow's `permissions:` for the Action).
    """
    if installation_id is not None and (tokens is not None or (app_id is not None and private_key is not None)):
        if tokens is None:
            assert app_id is not None and private_key is not None
            tokens = InstallationTokens(
                app_id=app_id, private_key=private_key, base_url=base_url, policy=policy, sleep=sleep
            )
        cache, installation = tokens, installation_id
        current = await cache.token(session, installation, scope)

        async def refresh() -> str:
            return await cache.refresh(session, installation, stale=api.oauth_token, scope=scope)

        api = RetryingGitHubAPI(
            session,
            requester,
            oauth_token=current,
            base_url=base_url,
            refresh_token=refresh,
            policy=policy,
            sleep=sleep,
        )
        return api
    if token is not None and token.get_secret_value():
        return RetryingGitHubAPI(
            session, requester, oauth_token=token.get_secret_value(), base_url=base_url, policy=policy, sleep=sleep
        )
    raise ConfigError(
        "No GitHub credentials for this request: App mode needs GH_APP_ID, the private key and an installation "
        "(the event's `installation.id`); token mode needs GITHUB_TOKEN.",
        hint="set GH_APP_ID + GH_PRIVATE_KEY (App) or GITHUB_TOKEN, then check with `equitr doctor`",
    )


def app_api(
    session: aiohttp.ClientSession,
    *,
    tokens: InstallationTokens,
    requester: str = USER_AGENT,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
) -> RetryingGitHubAPI:
    """A client that authenticates as the App itself (a fresh JWT per request), on `tokens.base_url`."""
    return RetryingGitHubAPI(
        session, requester, base_url=tokens.base_url, app_jwt=tokens.jwt, policy=policy, sleep=sleep
    )
