"""GitHub access for a webhook or a job: an authenticated client per installation (App mode) or for the
configured token (token / Action mode), plus the raw token for git (clone and push)."""

from __future__ import annotations

import logging
from dataclasses import replace

import aiohttp
from pydantic import SecretStr

from equitr.config.settings import Settings
from equitr.errors import ConfigError, EquitrError
from equitr.errors.retry import GITHUB, RetryPolicy
from equitr.events.decisions import Identity
from equitr.github.auth import InstallationTokens
from equitr.github.client import app_api, installation_api
from equitr.github.retry import RetryingGitHubAPI
from equitr.github.scope import Scope

log = logging.getLogger(__name__)
ACTIONS_LOGIN = "github-actions[bot]"  # who `${{ github.token }}` writes as


class GitHubAccess:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: int | None = None,
        private_key: SecretStr | None = None,
        token: SecretStr | None = None,
        bot_login: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url
        self.policy = policy
        self.app_id = app_id
        self.private_key = private_key
        self.token = token
        self.bot_logins = frozenset(x.strip().lower() for x in (bot_login or "").split(",") if x.strip())
        self._identity: Identity | None = None
        # One token cache for the process, whatever loop asks: the server's, and each worker job's own
        # (InstallationTokens is safe across threads and loops).
        self._tokens_cache: InstallationTokens | None = None
        if app_id is not None and private_key is not None:
            self._tokens_cache = InstallationTokens(
                app_id=app_id, private_key=private_key, base_url=base_url, policy=policy
            )

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
            bot_login=settings.bot_login,
            policy=replace(GITHUB, timeout_s=settings.github_timeout_s),
        )

    def _tokens(self) -> InstallationTokens | None:
        return self._tokens_cache

    async def api(
        self, session: aiohttp.ClientSession, installation_id: int | None, *, scope: Scope | None = None
    ) -> RetryingGitHubAPI:
        """A client for the installation (App mode: with a token limited to `scope`, when given) or the token."""
        tokens = self._tokens()
        return await installation_api(
            session,
            base_url=self.base_url,
            installation_id=installation_id if tokens else None,
            tokens=tokens,
            token=self.token,
            scope=scope,
            policy=self.policy,
        )

    async def identity(self, session: aiohttp.ClientSession) -> Identity:
        """Who equitr writes as, asked once: in App mode its App id and `<slug>[bot]` (from `GET /app`), in
        token mode `EQUITR_BOT_LOGIN` or `github-actions[bot]`. Never raises: without the slug, comments are
        still recognised by the App id."""
        if self._identity is not None:
            return self._identity
        tokens = self._tokens()
        if tokens is None:
            self._identity = Identity(app_id=None, logins=self.bot_logins or frozenset({ACTIONS_LOGIN}))
        elif self.bot_logins:
            self._identity = Identity(app_id=self.app_id, logins=self.bot_logins)
        else:
            try:
                app = await app_api(session, tokens=tokens, policy=self.policy).getitem("/app")
                self._identity = Identity(app_id=self.app_id, logins=frozenset({f"{app['slug']}[bot]".lower()}))
            except (EquitrError, aiohttp.ClientError, KeyError, TypeError) as exc:
                # Not remembered: the next job asks again.
                log.warning("could not ask GitHub for the App's name (%s); its reviews are not recognised", exc)
                return Identity(app_id=self.app_id, logins=frozenset())
        return self._identity

    async def git_token(
        self, session: aiohttp.ClientSession, installation_id: int | None, *, scope: Scope | None = None
    ) -> str:
        """The token git uses for clone and push (App mode: limited to `scope`); handed only to those
        commands, never stored."""
        tokens = self._tokens()
        if tokens is not None and installation_id is not None:
            return await tokens.token(session, installation_id, scope)
        if self.token is not None and self.token.get_secret_value():
            return self.token.get_secret_value()
        raise ConfigError("No GitHub token for git: set GH_APP_ID + GH_PRIVATE_KEY, or GITHUB_TOKEN.")
