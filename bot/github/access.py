"""GitHub access for a job or a webhook: an authenticated gidgethub client per installation (App mode) or
for the configured token (token / Action mode)."""

from __future__ import annotations

import aiohttp
from gidgethub.abc import GitHubAPI
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.settings import Settings

USER_AGENT = "equitr"


class GitHubAccess:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: int | None = None,
        private_key: SecretStr | None = None,
        token: SecretStr | None = None,
    ) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.private_key = private_key
        self.token = token
        self._tokens = None
        if app_id is not None and private_key is not None:
            from bot.github.auth import InstallationTokens

            self._tokens = InstallationTokens(app_id=app_id, private_key=private_key, base_url=base_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubAccess:
        private_key = None
        if settings.mode == "app":
            try:
                private_key = settings.private_key()
            except ConfigError:
                private_key = None  # `serve` refuses to start without it; local commands don't need it
        return cls(
            base_url=settings.github_api_url,
            app_id=settings.gh_app_id,
            private_key=private_key,
            token=settings.github_token,
        )

    async def api(self, session: aiohttp.ClientSession, installation_id: int | None) -> GitHubAPI:
        from bot.github.retry import RetryingGitHubAPI

        if self._tokens is not None and installation_id is not None:
            tokens = self._tokens
            token = await tokens.token(session, installation_id)
            return RetryingGitHubAPI(
                session,
                USER_AGENT,
                oauth_token=token,
                base_url=self.base_url,
                refresh_token=lambda: tokens.refresh(session, installation_id),
            )
        if self.token is not None and self.token.get_secret_value():
            return RetryingGitHubAPI(
                session, USER_AGENT, oauth_token=self.token.get_secret_value(), base_url=self.base_url
            )
        raise ConfigError(
            "No GitHub credentials for this request: the App's private key or GITHUB_TOKEN is missing, "
            "or the event came without an installation.",
            hint="Set GH_APP_ID + GH_PRIVATE_KEY (App) or GITHUB_TOKEN, then check with `equitr doctor`.",
        )
