"""What every model provider shares: the `ChatModel` protocol, where the providers live (`Endpoints`), and
the description of one provider (`ProviderSpec`).

A provider is one module of `equitr.models` that exports `PROVIDER = ProviderSpec(...)`, listed once in
`equitr.models.registry`; the client, the model manager, model names and prices read the specs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, SecretStr

from equitr.errors import ConfigError
from equitr.models.capabilities import CapabilityCache, default_file
from equitr.models.types import ChatRequest, Reply
from equitr.models.wire import Endpoint, request_json

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"

Support = Literal["yes", "no", "probe"]  # structured output; "probe" = tested on first use, then cached


class ChatModel(Protocol):
    """What answers a model: each provider's client, the routing `ModelClient`, the in-process model, and the
    scripted model of the tests."""

    async def chat(self, request: ChatRequest) -> Reply:
        """One reply to `request`. Its `model` is the provider's own name (`ModelClient` takes
        `provider/name`)."""
        ...


class ModelSettings(Protocol):
    """The part of `equitr.config.settings.Settings` the model client reads."""

    openai_api_key: SecretStr | None
    openai_base_url: str | None
    anthropic_api_key: SecretStr | None
    ollama_host: str | None
    workdir: Path | None


class Endpoints(BaseModel):
    """Where each provider lives and the keys for it. Keys are SecretStr: printing this shows `**********`."""

    model_config = ConfigDict(frozen=True)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None  # for openai-compatible/…
    anthropic_api_key: SecretStr | None = None
    ollama_host: str | None = None
    openai_url: str = OPENAI_URL  # overridable for tests and proxies
    anthropic_url: str = ANTHROPIC_URL
    ollama_num_ctx: int = 8192
    capability_file: Path | None = None  # None: probes are remembered by this process only

    @classmethod
    def from_settings(cls, settings: ModelSettings, **overrides: Any) -> Endpoints:
        """The endpoints of a configured process (`equitr serve`, `worker`, `action`, `run`, the Python API): what
        it probes is kept in the work directory's capability file, for its restarts and the machine's other
        workers (`equitr.models.capabilities.default_file`)."""
        return cls(
            openai_api_key=settings.openai_api_key,
            openai_base_url=settings.openai_base_url,
            anthropic_api_key=settings.anthropic_api_key,
            ollama_host=settings.ollama_host,
            **{"capability_file": default_file(settings.workdir), **overrides},
        )


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a provider's client is made of: the shared HTTP session, the endpoints and the capability cache."""

    session: aiohttp.ClientSession
    endpoints: Endpoints
    capabilities: CapabilityCache


def _no_context(endpoints: Endpoints) -> int | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    """Everything equitr knows about one `provider/…` prefix, in the provider's own module."""

    name: str
    make_client: Callable[[Wiring], ChatModel]  # ConfigError when a setting it needs is missing
    # (ok, one line for `equitr models check`); may raise ConfigError or ModelError, which the caller reports.
    check_available: Callable[[str, Endpoints, aiohttp.ClientSession], Awaitable[tuple[bool, str]]]
    json_support: Callable[[str, Endpoints, CapabilityCache], Support]
    catalogue_id: str | None = None  # the price library's id; None: runs on the user's hardware, $0
    native_tools: bool = False  # known to call tools natively (`equitr models list`; others are probed)
    local: bool = False  # runs on the user's hardware
    context_window: Callable[[Endpoints], int | None] = _no_context  # what equitr asks for, when it sets one
    aliases: tuple[str, ...] = ()  # other spellings people use for the prefix


def require_key(key: SecretStr | None, env: str, models: str) -> str:
    """The key's value; ConfigError naming the setting when a provider's key is missing."""
    if key is None or not key.get_secret_value().strip():
        raise ConfigError(
            f"{models} models need {env}, which is not set.",
            hint=f"export {env}=... or choose another model (see `equitr models list`).",
            kind="missing-setting",
        )
    return key.get_secret_value()


def bearer(key: SecretStr | None) -> dict[str, str]:
    value = key.get_secret_value() if key else ""
    return {"Authorization": f"Bearer {value}"} if value else {}


def secrets(key: SecretStr | None) -> list[str]:
    return [key.get_secret_value()] if key else []


@dataclass(frozen=True, slots=True, kw_only=True)
class HostedAPI:
    """A hosted API (OpenAI's, Anthropic's): one key, one host, one model prefix, one page per model. Its key's
    setting is named once here, for the client, its advice on errors and `equitr models check` alike."""

    label: str  # "OpenAI"
    host: str  # "api.openai.com"
    env: str  # the key's setting: "OPENAI_API_KEY"
    key_source: str  # where a key comes from
    models: str  # the model prefix: "openai/…"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            label=self.label,
            unreachable_hint=f"Check the network connection to {self.host}.",
            auth_hint=f"Check {self.env} ({self.key_source}).",
            missing_model_hint=f"See `equitr models list` for valid {self.models} names.",
        )

    def require_key(self, key: SecretStr | None) -> str:
        return require_key(key, self.env, self.models)

    async def check(
        self, session: aiohttp.ClientSession, model: str, *, key: SecretStr | None, url: str, headers: dict[str, str]
    ) -> tuple[bool, str]:
        """`equitr models check`: the key is set and the model's own page (`url`) answers."""
        value = key.get_secret_value() if key else ""
        if not value:
            return False, f"{self.env} is not set."
        await request_json(
            session, "GET", url, endpoint=self.endpoint, timeout_s=5.0, headers=headers, secrets=[value]
        )
        return True, f"{self.label} serves {model} for this key"
