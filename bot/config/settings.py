"""One validated settings object, read from the environment once at start-up.

Secrets are `SecretStr`: printing the settings, logging them or putting them in an error shows `**********`.
A secret that is set but empty counts as missing — an empty webhook secret would make every forged
signature valid, so it must stop start-up rather than limp along.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from equitr.errors import ConfigError

# How a setup command reaches the network (equitr.sandbox.netns): a helper's own namespace, or the host's.
NetworkMode = Literal["auto", "slirp4netns", "pasta", "host"]

Mode = Literal["app", "token", "local"]

_SECRET_HELP = {
    "GH_SECRET": "the webhook secret you entered when registering the GitHub App "
    "(Settings → Developer settings → GitHub Apps → your app → Webhook secret)",
    "GH_APP_ID": "the numeric App ID shown on the GitHub App's settings page",
    "GH_PRIVATE_KEY": "the App's private key (PEM text), or GH_PRIVATE_KEY_PATH pointing at the .pem file "
    "you downloaded from the App's settings page",
    "GITHUB_TOKEN": "a token with access to the repository (in a GitHub Action: `${{ github.token }}`)",
}


class Settings(BaseSettings):
    """Every environment variable of DESIGN.md §3, validated."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", populate_by_name=True)

    gh_app_id: int | None = Field(default=None, validation_alias="GH_APP_ID")
    gh_private_key: SecretStr | None = Field(default=None, validation_alias="GH_PRIVATE_KEY")
    gh_private_key_path: Path | None = Field(default=None, validation_alias="GH_PRIVATE_KEY_PATH")
    gh_secret: SecretStr | None = Field(default=None, validation_alias="GH_SECRET")
    github_token: SecretStr | None = Field(default=None, validation_alias="GITHUB_TOKEN")
    github_api_url: str = Field(default="https://api.github.com", validation_alias="GITHUB_API_URL")
    # The login(s) equitr's comments appear under, comma-separated. Unset: `<slug>[bot]` of the App (asked
    # of GitHub) in App mode, `github-actions[bot]` in token mode. Set it when GITHUB_TOKEN is a personal
    # access token or another App's token: only comments by these logins are trusted to carry equitr's markers.
    bot_login: str | None = Field(default=None, validation_alias="EQUITR_BOT_LOGIN")

    db: Path = Field(default=Path("equitr.db"), validation_alias="EQUITR_DB")
    queue_url: str = Field(default="", validation_alias="EQUITR_QUEUE_URL")
    # full: every stored job is fsynced before the 202 (survives power loss); normal: survives a crash of
    # equitr or the machine's processes, and answers faster. See docs/queue.md for the measurements.
    db_sync: Literal["full", "normal"] = Field(default="full", validation_alias="EQUITR_DB_SYNC")
    # Opt-ins to Redis set-ups equitr refuses by default (docs/queue.md): no password; no persistence.
    redis_insecure: bool = Field(default=False, validation_alias="EQUITR_REDIS_INSECURE")
    allow_volatile_redis: bool = Field(default=False, validation_alias="EQUITR_ALLOW_VOLATILE_REDIS")
    workers: int = Field(default=2, ge=1, le=64, validation_alias="EQUITR_WORKERS")
    lease_s: float = Field(default=60.0, gt=0, validation_alias="EQUITR_LEASE_SECONDS")
    # On SIGTERM, running jobs get this long to end; the rest are handed back to the queue (not counted as a
    # failed attempt). With up to 5 s to hand them back, under the 30 s most platforms wait before SIGKILL.
    shutdown_grace_s: float = Field(default=20.0, ge=0, le=3600, validation_alias="EQUITR_SHUTDOWN_GRACE")

    supervisor_model: str | None = Field(default=None, validation_alias="EQUITR_SUPERVISOR_MODEL")
    worker_model: str | None = Field(default=None, validation_alias="EQUITR_WORKER_MODEL")
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    ollama_host: str | None = Field(default=None, validation_alias="OLLAMA_HOST")

    workdir: Path | None = Field(default=None, validation_alias="EQUITR_WORKDIR")
    sandbox: Literal["bwrap", "none"] = Field(default="bwrap", validation_alias="EQUITR_SANDBOX")
    # How a repository's setup command reaches the network: a namespace of its own through slirp4netns or
    # pasta (auto: whichever is installed), or "host" (the host's network, loopback included: opt-in only).
    setup_network: NetworkMode = Field(
        default="auto", validation_alias="EQUITR_SETUP_NETWORK"
    )
    sentry_dsn: SecretStr | None = Field(default=None, validation_alias="SENTRY_DSN")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")
    # Loopback by default: a reverse proxy in front is the way in (docs/security.md). `0.0.0.0` to listen
    # on every interface (a platform router, a container).
    host: str = Field(default="127.0.0.1", min_length=1, validation_alias="HOST")
    # Shows `/metrics` and the details of `/healthz` to requests with `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = Field(default=None, validation_alias="EQUITR_METRICS_TOKEN")
    # Seconds a client has to send a request's headers, and again its body (GitHub gives up after 10).
    read_timeout_s: float = Field(default=10.0, gt=0, le=300, validation_alias="EQUITR_READ_TIMEOUT")
    # The web dashboard (docs/dashboard.md): a shared sign-in token for small setups, and/or GitHub sign-in
    # through the App's OAuth credentials; GITHUB_SERVER_URL is where GitHub's sign-in pages live (GHES).
    dashboard_token: SecretStr | None = Field(default=None, validation_alias="EQUITR_DASHBOARD_TOKEN")
    gh_client_id: str | None = Field(default=None, validation_alias="GH_CLIENT_ID")
    gh_client_secret: SecretStr | None = Field(default=None, validation_alias="GH_CLIENT_SECRET")
    github_server_url: str | None = Field(default=None, validation_alias="GITHUB_SERVER_URL")
    # The dashboard's public address (behind a proxy): the OAuth callback is built from it, and an https
    # address marks the session cookie Secure.
    dashboard_url: str | None = Field(default=None, validation_alias="EQUITR_DASHBOARD_URL")
    # Seconds one model call may take (connecting included; each retry gets as long again, and a job's
    # max_minutes bounds them all), and one GitHub request.
    model_timeout_s: float = Field(default=120.0, gt=0, le=3600, validation_alias="EQUITR_MODEL_TIMEOUT")
    github_timeout_s: float = Field(default=30.0, gt=0, le=600, validation_alias="EQUITR_GITHUB_TIMEOUT")
    # Where equitr's documentation is published, so that error comments link to it: the documentation site
    # (`mkdocs build`), or the repository folder holding docs/ on GitHub (`…/blob/main`); see
    # equitr.errors.render.doc_url.
    docs_url: str | None = Field(default=None, validation_alias="EQUITR_DOCS_URL")

    @field_validator("github_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("GITHUB_API_URL must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("github_server_url")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("GITHUB_SERVER_URL must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("EQUITR_DASHBOARD_URL must be the dashboard's http(s) address, e.g. https://equitr.example.org/dashboard")
        return value.rstrip("/")

    @field_validator("docs_url")
    @classmethod
    def _docs_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "EQUITR_DOCS_URL must be an http(s) URL: the documentation site (e.g. https://OWNER.github.io/equitr) "
                "or the folder that holds docs/ on GitHub (e.g. https://github.com/OWNER/equitr/blob/main)"
            )
        return value.rstrip("/")

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://", "sqlite://")):
            raise ValueError("EQUITR_QUEUE_URL must be empty (embedded SQLite queue) or a redis:// URL")
        return value

    # -- derived -----------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        if self.gh_app_id is not None:
            return "app"
        if _present(self.github_token):
            return "token"
        return "local"

    @property
    def web_url(self) -> str:
        """GitHub's web address: GITHUB_SERVER_URL, else the one that goes with GITHUB_API_URL (github.com, or a
        GitHub Enterprise Server's host without `/api/v3`)."""
        if self.github_server_url:
            return self.github_server_url
        if self.github_api_url == "https://api.github.com":
            return "https://github.com"
        return self.github_api_url.removesuffix("/api/v3")

    @property
    def redis_url(self) -> str | None:
        return self.queue_url if self.queue_url.startswith(("redis", "unix")) else None

    def private_key(self) -> SecretStr:
        """The App's private key, from GH_PRIVATE_KEY or the file GH_PRIVATE_KEY_PATH names."""
        if _present(self.gh_private_key):
            assert self.gh_private_key is not None
            # Platforms that only take one-line variables store the PEM with literal "\n".
            return SecretStr(self.gh_private_key.get_secret_value().replace("\\n", "\n"))
        if self.gh_private_key_path is not None:
            try:
                text = self.gh_private_key_path.read_text()
            except OSError as exc:
                raise ConfigError(
                    f"GH_PRIVATE_KEY_PATH points at {self.gh_private_key_path}, which cannot be read ({exc.strerror}).",
                    hint="Point it at the .pem file downloaded from the GitHub App's settings page.",
                ) from None
            if not text.strip():
                raise ConfigError(f"GH_PRIVATE_KEY_PATH points at an empty file: {self.gh_private_key_path}.")
            return SecretStr(text)
        raise _missing("GH_PRIVATE_KEY")

    def require_server(self) -> None:
        """`equitr serve` needs a webhook secret and a way to talk to GitHub (App or token)."""
        if not _present(self.gh_secret):
            raise _missing("GH_SECRET", empty=self.gh_secret is not None)
        if self.mode == "app":
            self.private_key()
        elif self.mode == "local":
            raise ConfigError(
                "equitr serve needs GitHub credentials: set GH_APP_ID with GH_PRIVATE_KEY (or "
                "GH_PRIVATE_KEY_PATH) for a GitHub App, or GITHUB_TOKEN for a single repository.",
                hint='To try equitr without GitHub, use `equitr run --repo PATH "task"`.',
            )

    def require_token(self) -> SecretStr:
        """Action / token mode needs GITHUB_TOKEN."""
        if not _present(self.github_token):
            raise _missing("GITHUB_TOKEN", empty=self.github_token is not None)
        assert self.github_token is not None
        return self.github_token


def _present(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def _missing(name: str, *, empty: bool = False) -> ConfigError:
    state = "is set but empty" if empty else "is not set"
    return ConfigError(
        f"{name} {state}. Set it to {_SECRET_HELP[name]}.",
        hint=f"export {name}=... (or put it in your platform's secret settings), then start equitr again.",
        kind="missing-setting",
    )


def load() -> Settings:
    """Read and validate the environment; pydantic's errors become one readable ConfigError."""
    from pydantic import ValidationError as PydanticError

    try:
        return Settings()
    except PydanticError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("Invalid settings: " + "; ".join(lines)) from None
