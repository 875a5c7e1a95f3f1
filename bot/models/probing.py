"""What the Ollama and OpenAI-compatible clients share: one HTTP server whose structured-output mode and
native tool calling are probed once per (base_url, model) and remembered in the capability cache.

A subclass says how to send one request (`_send`), how a JSON schema is asked for in a given mode
(`_format`), how to probe its structured-output mode (`probe`) and which error means the server does not
know `tools` (`_refuses_tools`); `chat`, the locking, the caching and the tool probe itself live here.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

import aiohttp

from equitr.errors import ModelError
from equitr.models.capabilities import (
    PROBE_MAX_TOKENS,
    PROBE_PROMPT,
    TOOL_PROBE,
    TOOL_PROBE_MAX_TOKENS,
    TOOL_PROBE_PROMPT,
    CapabilityCache,
    Mode,
    remembered,
    remembered_tools,
    tool_probe_passed,
)
from equitr.models.provider import Support
from equitr.models.types import ChatRequest, Message, Reply
from equitr.models.wire import Endpoint


def probed_support(capabilities: CapabilityCache, base_url: str, model: str) -> Support:
    """Structured output as `equitr models list` shows it for a probed server: not probed yet, or the verdict."""
    mode = capabilities.get(base_url, model)
    return "probe" if mode is None else ("no" if mode == "none" else "yes")


class ProbedServer(ABC):
    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, endpoint: Endpoint, capabilities: CapabilityCache
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.endpoint = endpoint
        self.capabilities = capabilities
        self._probe_locks: dict[str, asyncio.Lock] = {}

    async def chat(self, request: ChatRequest) -> Reply:
        fmt = None
        if request.json_schema is not None:
            mode = await self.structured_mode(request.model, timeout_s=request.timeout_s)
            fmt = self._format(mode, request.json_schema)
        return await self._send(request, fmt)

    async def structured_mode(self, model: str, *, timeout_s: float) -> Mode:
        """The cached structured-output mode for `model` on this server, probing it the first time."""
        return await remembered(
            self.capabilities, self._probe_locks, self.base_url, model, lambda: self.probe(model, timeout_s=timeout_s)
        )

    async def tool_support(self, model: str, *, timeout_s: float) -> bool:
        """Whether `model` on this server calls tools natively (probed once, remembered)."""
        return await remembered_tools(
            self.capabilities,
            self._probe_locks,
            self.base_url,
            model,
            lambda: self._probe_tools(model, timeout_s=timeout_s),
        )

    async def _probe_tools(self, model: str, *, timeout_s: float) -> bool:
        asked = ChatRequest(
            [Message("user", TOOL_PROBE_PROMPT)],
            model=model,
            max_tokens=TOOL_PROBE_MAX_TOKENS,
            timeout_s=timeout_s,
            tools=[TOOL_PROBE],
        )
        try:
            reply = await self._send(asked, None)
        except ModelError as error:
            if self._refuses_tools(error):
                return False
            raise
        return tool_probe_passed(reply.tool_calls)

    async def _ask_probe(self, model: str, fmt: dict[str, Any] | None, *, timeout_s: float) -> Reply:
        """The structured-output probe's one request, asking for the probe schema in the form `fmt`."""
        asked = ChatRequest(
            [Message("user", PROBE_PROMPT)], model=model, max_tokens=PROBE_MAX_TOKENS, timeout_s=timeout_s
        )
        return await self._send(asked, fmt)

    @abstractmethod
    async def probe(self, model: str, *, timeout_s: float) -> Mode:
        """Which structured-output mode this server honours for `model` (one or more tiny requests)."""

    @abstractmethod
    def _format(self, mode: Mode, schema: dict[str, Any]) -> dict[str, Any] | None:
        """The structured-output field asking for `schema` in `mode` (None: ask for nothing)."""

    @abstractmethod
    def _refuses_tools(self, error: ModelError) -> bool:
        """Whether `error`, from the tool probe, means the server does not know `tools`."""

    @abstractmethod
    async def _send(self, request: ChatRequest, fmt: dict[str, Any] | None) -> Reply:
        """One request; `fmt` is its structured-output field in this server's own form (None: none)."""
