"""The model client: one `chat` for every provider, with retries, a fallback model, usage, time and cost.

    client = ModelClient(session, Endpoints.from_settings(settings), fallback_model="local/smollm2")
    request = ChatRequest(messages, model="ollama/qwen3:30b", max_tokens=800, timeout_s=120,
                          json_schema=PLAN_JSON_SCHEMA)
    reply = await client.chat(request)

Each provider module implements `ChatModel` for its own model names; this module picks one by the
`provider/` prefix. Errors are `ModelError` (retryable or not, with a hint) or `ConfigError` (a missing
key or an unknown name — neither retried nor sent to the fallback model, because the user must fix them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import aiohttp

from equitr.errors import ConfigError, ModelError
from equitr.errors.retry import MODELS, RetryPolicy, Sleep, with_retries
from equitr.models import prices
from equitr.models.capabilities import CapabilityCache, Mode
from equitr.models.names import ModelName, Provider, parse_model_name
from equitr.models.provider import ChatModel, Endpoints, Wiring
from equitr.models.registry import SPECS
from equitr.models.types import ChatRequest, Reply

log = logging.getLogger(__name__)

@runtime_checkable
class Structured(Protocol):
    """A model client that knows the structured-output mode a model gets (probing its server once if needed)."""

    async def structured_mode(self, model: str, *, timeout_s: float) -> Mode: ...


@runtime_checkable
class ToolAware(Protocol):
    """A model client that can say whether a model calls tools natively (`ModelClient` probes once)."""

    async def tool_support(self, model: str, *, timeout_s: float = 60.0) -> bool: ...


class Breaker:
    """Models whose last call failed after all its tries, skipped (in favour of the fallback) for a
    cool-down. Per process, shared by every job and worker thread."""

    def __init__(self, cool_down_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cool_down_s = cool_down_s
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_open(self, key: str) -> bool:
        with self._lock:
            return self._until.get(key, 0.0) > self.clock()

    def trip(self, key: str) -> None:
        with self._lock:
            self._until[key] = self.clock() + self.cool_down_s

    def close(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._until.clear()


BREAKER = Breaker()
_CAPABILITIES: dict[Path | None, CapabilityCache] = {}
_CAPABILITIES_LOCK = threading.Lock()


def forget_process_state() -> None:
    """Forget what earlier jobs in this process learnt about models (for tests)."""
    BREAKER.reset()
    with _CAPABILITIES_LOCK:
        _CAPABILITIES.clear()


def shared_capabilities(path: Path | None) -> CapabilityCache:
    with _CAPABILITIES_LOCK:
        if path not in _CAPABILITIES:
            _CAPABILITIES[path] = CapabilityCache(path)
        return _CAPABILITIES[path]


class ModelClient:
    """Dispatches `provider/model` names to provider clients, created lazily and shared."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoints: Endpoints,
        *,
        retry: RetryPolicy | None = None,
        fallback_model: str | None = None,
        capabilities: CapabilityCache | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.session = session
        self.endpoints = endpoints
        self.retry = retry or MODELS
        self.fallback_model = str(parse_model_name(fallback_model)) if fallback_model else None
        # One cache per process (and per file): a job does not probe again what an earlier job learnt.
        self.capabilities = capabilities or shared_capabilities(endpoints.capability_file)
        self._sleep = sleep
        self._clients: dict[Provider, ChatModel] = {}

    async def chat(self, request: ChatRequest) -> Reply:
        """One reply from `request.model` (retried by error class), or from the fallback model if it keeps
        failing."""
        started = time.monotonic()
        name = parse_model_name(request.model)
        retries: list[float] = []
        fell_back = False
        fallback = self.fallback_model if self.fallback_model != str(name) else None
        if fallback is not None and BREAKER.is_open(self._circuit(name)):
            # Failed its last call: straight to the fallback for the cool-down, not four more tries first.
            name, fell_back = parse_model_name(fallback), True
            reply = await self._with_retries(name, request, retries)
            return await self._finish(reply, name, request, started, retries, fell_back)
        try:
            reply = await self._with_retries(name, request, retries)
        except ModelError as error:
            if fallback is None or not _worth_falling_back(error):
                raise
            BREAKER.trip(self._circuit(name))
            log.warning(
                "model %s failed (%s); falling back to %s (and for the next %g s)",
                name,
                error.message,
                fallback,
                BREAKER.cool_down_s,
            )
            name, fell_back = parse_model_name(fallback), True
            reply = await self._with_retries(name, request, retries)
        else:
            BREAKER.close(self._circuit(name))
        return await self._finish(reply, name, request, started, retries, fell_back)

    async def _finish(
        self,
        reply: Reply,
        name: ModelName,
        request: ChatRequest,
        started: float,
        retries: list[float],
        fell_back: bool,
    ) -> Reply:
        """The reply with how it was obtained (retries, structured-output mode, fallback), accounted for."""
        mode = "tools" if request.tools else "text" if request.json_schema is None else await self._mode_used(name)
        reply = dataclasses.replace(reply, retries=len(retries), mode=mode, fallback_model=fell_back)
        return self._account(reply, name, started)

    def _circuit(self, name: ModelName) -> str:
        base = self.endpoints.openai_base_url if name.provider == "openai-compatible" else ""
        return f"{name}|{base or ''}"

    async def _mode_used(self, name: ModelName) -> str:
        """The structured-output mode a schema call to `name` was sent with (cached by then; never probes)."""
        try:
            mode = await self.structured_mode(str(name), timeout_s=5.0)
        except (ModelError, ConfigError):
            return "text"
        return "text" if mode == "none" else mode

    async def structured_mode(self, model: str, *, timeout_s: float = 60.0) -> Mode:
        """The structured-output mode `model` gets (probing its server once if needed): for `doctor`."""
        name = parse_model_name(model)
        client = self.provider(name.provider)
        if isinstance(client, Structured):
            return await client.structured_mode(name.model, timeout_s=timeout_s)
        return "none"

    async def tool_support(self, model: str, *, timeout_s: float = 60.0) -> bool:
        """Whether `model` calls tools natively: the providers known to (`native_tools`: OpenAI's and
        Anthropic's APIs) do; clients that can tell (OpenAI-compatible servers and Ollama, probed once per
        server and model, then remembered) are asked; the others (in-process models) do not."""
        name = parse_model_name(model)
        if SPECS[name.provider].native_tools:
            return True
        client = self.provider(name.provider)
        if isinstance(client, ToolAware):
            return await client.tool_support(name.model, timeout_s=timeout_s)
        return False

    async def _with_retries(self, name: ModelName, request: ChatRequest, retries: list[float]) -> Reply:
        client = self.provider(name.provider)
        asked = dataclasses.replace(request, model=name.model)  # the provider's own name for it

        def note(error: ModelError, wait: float) -> None:
            retries.append(wait)
            log.info("model %s: %s — retrying in %.1f s", name, error.message, wait)

        return await with_retries(lambda: client.chat(asked), self.retry, sleep=self._sleep, on_retry=note)

    def _account(self, reply: Reply, name: ModelName, started: float) -> Reply:
        base_url = self.endpoints.openai_base_url if name.provider == "openai-compatible" else None
        cost = prices.cost_usd(name, reply.usage.prompt_tokens, reply.usage.completion_tokens, base_url=base_url)
        return dataclasses.replace(reply, model=str(name), duration_s=time.monotonic() - started, cost_usd=cost)

    def provider(self, provider: Provider) -> ChatModel:
        """The shared client for one provider; ConfigError when its settings are missing."""
        if provider not in self._clients:
            self._clients[provider] = self._make(provider)
        return self._clients[provider]

    def _make(self, provider: Provider) -> ChatModel:
        return SPECS[provider].make_client(Wiring(self.session, self.endpoints, self.capabilities))


def _worth_falling_back(error: ModelError) -> bool:
    # Repeated transient failure (tries exhausted) or a model the server does not have. A rejected key or
    # a spent quota is the user's to fix, and silently switching models would hide it.
    return error.retryable or error.status == 404
