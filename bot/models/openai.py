"""OpenAI-compatible `/chat/completions`: OpenAI itself, vLLM, llama.cpp server, LM Studio, OpenRouter,
and Ollama's compatibility endpoint.

Structured output is requested only in the mode the server was seen to honour (`capabilities.py`): the
first schema-constrained call per (base_url, model) sends a tiny probe, and the verdict is cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr

from equitr.errors import ConfigError, ModelError
from equitr.models.capabilities import (
    PROBE_SCHEMA,
    CapabilityCache,
    Mode,
    conforms,
    response_format,
)
from equitr.models.probing import ProbedServer, probed_support
from equitr.models.provider import (
    OPENAI_URL,
    Endpoints,
    HostedAPI,
    ProviderSpec,
    Wiring,
    bearer,
    secrets,
)
from equitr.models.types import ChatRequest, Message, Reply, ToolCall
from equitr.models.usage import usage_from
from equitr.models.wire import Endpoint, post_json, request_json

# OpenAI's reasoning models take only the default temperature.
_REASONING = re.compile(r"^(o\d|gpt-5)")


class OpenAIClient(ProbedServer):
    """One OpenAI-compatible server. `model` in `chat` is the server's own model name."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: SecretStr | None,
        endpoint: Endpoint,
        capabilities: CapabilityCache,
        known_mode: Mode | None = None,
        official: bool = False,
    ) -> None:
        super().__init__(session, base_url=base_url.rstrip("/"), endpoint=endpoint, capabilities=capabilities)
        self._api_key = api_key
        # OpenAI's own API is documented to honour json_schema; everything else is probed.
        self.known_mode = known_mode
        self.official = official

    def _format(self, mode: Mode, schema: dict[str, Any]) -> dict[str, Any] | None:
        return response_format(mode, schema)

    async def tool_support(self, model: str, *, timeout_s: float) -> bool:
        """Whether `model` on this server calls tools natively (OpenAI's own API does; others are probed)."""
        return self.official or await super().tool_support(model, timeout_s=timeout_s)

    def _refuses_tools(self, error: ModelError) -> bool:
        # A server that does not know `tools` says so (400/422; llama-cpp-python with a 500 naming it).
        return error.status in (400, 422) or "tool" in error.message.lower()

    async def structured_mode(self, model: str, *, timeout_s: float) -> Mode:
        """`known_mode` where the server is documented to honour one, else probed once and remembered."""
        if self.known_mode is not None:
            return self.known_mode
        return await super().structured_mode(model, timeout_s=timeout_s)

    async def probe(self, model: str, *, timeout_s: float) -> Mode:
        """Ask for prose under a tiny schema: only a server that enforces the schema returns the JSON."""
        for mode in ("json_schema", "json_object"):
            try:
                reply = await self._ask_probe(
                    model, response_format(mode, PROBE_SCHEMA, name="probe"), timeout_s=timeout_s
                )
            except ModelError as error:
                # The server rejects the parameter: 400/422, or (llama-cpp-python's server) a 500 whose
                # message names `response_format`. Try the next mode. Anything else (auth, network,
                # overload) says nothing about capabilities, so no verdict is cached.
                if error.status in (400, 422) or "response_format" in error.message:
                    continue
                raise
            if conforms(reply.content):
                return mode
        return "none"

    async def _send(self, request: ChatRequest, fmt: dict[str, Any] | None) -> Reply:
        model = request.model
        payload: dict[str, Any] = {"model": model, "messages": [wire_message(m) for m in request.messages]}
        if request.tools:
            payload["tools"] = list(request.tools)
        if self.official:
            # OpenAI's own API wants `max_completion_tokens` (reasoning models refuse `max_tokens`; it counts
            # their reasoning too); servers that copy the API know `max_tokens`.
            payload["max_completion_tokens"] = request.max_tokens
            if not _REASONING.match(model):
                payload["temperature"] = request.temperature
        else:
            payload["max_tokens"] = request.max_tokens
            payload["temperature"] = request.temperature
        if fmt is not None:
            payload["response_format"] = fmt
        data = await post_json(
            self.session,
            f"{self.base_url}/chat/completions",
            payload,
            endpoint=self.endpoint,
            timeout_s=request.timeout_s,
            headers=bearer(self._api_key),
            secrets=secrets(self._api_key),
        )
        return parse_completion(data, messages=request.messages, model=model, where=self.endpoint.label)


def wire_message(m: Message) -> dict[str, Any]:
    """One message in the chat-completions format, with native tool calls and results when it has them."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return out


def parse_completion(data: dict[str, Any], *, messages: Sequence[Message], model: str, where: str) -> Reply:
    """A Reply from an OpenAI-shaped chat completion (also what llama-cpp-python returns in-process)."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelError(f"{where} returned no choices.", retryable=True)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(message, dict)
    content = message.get("content") or ""
    # vLLM, llama.cpp and DeepSeek put reasoning in `reasoning_content` (some in `reasoning`).
    thinking = message.get("reasoning_content") or message.get("reasoning") or ""
    calls: list[ToolCall] = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            args = function.get("arguments")
            if isinstance(args, dict):  # some servers send the arguments as an object
                args = json.dumps(args)
            calls.append(
                ToolCall(
                    name=str(function.get("name") or ""),
                    arguments=args if isinstance(args, str) else "",
                    id=str(call.get("id") or f"call_{len(calls) + 1}"),
                )
            )
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    return Reply(
        content=content if isinstance(content, str) else str(content),
        model=model,
        finish_reason=choice.get("finish_reason"),
        thinking=thinking if isinstance(thinking, str) else "",
        tool_calls=tuple(calls),
        usage=usage_from(
            usage.get("prompt_tokens"), usage.get("completion_tokens"), messages=messages, reply_text=content
        ),
        raw=data,
    )


_CHECK_TIMEOUT_S = 5.0
# OpenAI models that honour a JSON schema (`response_format: json_schema`).
_JSON_SCHEMA_MODELS = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-[5-9]|o[3-9]|gpt-oss)")


_OPENAI = HostedAPI(
    label="OpenAI",
    host="api.openai.com",
    env="OPENAI_API_KEY",
    key_source="a key from platform.openai.com/api-keys",
    models="openai/…",
)


def _make_openai(w: Wiring) -> OpenAIClient:
    _OPENAI.require_key(w.endpoints.openai_api_key)
    return OpenAIClient(
        w.session,
        base_url=w.endpoints.openai_url,
        api_key=w.endpoints.openai_api_key,
        endpoint=_OPENAI.endpoint,
        capabilities=w.capabilities,
        known_mode="json_schema",
        official=True,
    )


async def _check_openai(model: str, e: Endpoints, session: aiohttp.ClientSession) -> tuple[bool, str]:
    url = f"{e.openai_url or OPENAI_URL}/models/{model}"
    return await _OPENAI.check(session, model, key=e.openai_api_key, url=url, headers=bearer(e.openai_api_key))


PROVIDER = ProviderSpec(
    name="openai",
    make_client=_make_openai,
    check_available=_check_openai,
    json_support=lambda model, e, caps: "yes" if _JSON_SCHEMA_MODELS.match(model) else "no",
    catalogue_id="openai",
    native_tools=True,
)


def _compatible_endpoint(base_url: str) -> Endpoint:
    return Endpoint(
        label=f"the OpenAI-compatible server at {base_url}",
        unreachable_hint="Is the server running? Check OPENAI_BASE_URL (it usually ends in /v1).",
        auth_hint="Check OPENAI_API_KEY for this server.",
        missing_model_hint="Ask the server which models it serves: GET OPENAI_BASE_URL/models.",
    )


def _make_compatible(w: Wiring) -> OpenAIClient:
    base_url = w.endpoints.openai_base_url
    if not base_url:
        raise ConfigError(
            "openai-compatible/… models need OPENAI_BASE_URL, which is not set.",
            hint="export OPENAI_BASE_URL=http://127.0.0.1:8000/v1 (your vLLM, llama.cpp server, "
            "LM Studio or OpenRouter URL, usually ending in /v1).",
            kind="missing-setting",
        )
    return OpenAIClient(
        w.session,
        base_url=base_url,
        api_key=w.endpoints.openai_api_key,
        endpoint=_compatible_endpoint(base_url),
        capabilities=w.capabilities,
    )


async def _check_compatible(model: str, e: Endpoints, session: aiohttp.ClientSession) -> tuple[bool, str]:
    if not e.openai_base_url:
        return False, "OPENAI_BASE_URL is not set; openai-compatible/… models need it."
    base = e.openai_base_url.rstrip("/")
    where = _compatible_endpoint(base)
    data = await request_json(
        session,
        "GET",
        f"{base}/models",
        endpoint=where,
        timeout_s=_CHECK_TIMEOUT_S,
        headers=bearer(e.openai_api_key),
        secrets=secrets(e.openai_api_key),
    )
    served = [str(m.get("id")) for m in data.get("data") or [] if isinstance(m, dict)]
    if model in served:
        return True, f"{where.label} serves {model}"
    listing = ", ".join(served[:5]) or "nothing"
    return False, f"{where.label} does not serve {model} (it serves: {listing})."


COMPATIBLE = ProviderSpec(
    name="openai-compatible",
    make_client=_make_compatible,
    check_available=_check_compatible,
    json_support=lambda model, e, caps: probed_support(caps, e.openai_base_url or "", model),
    aliases=("openai_compatible", "openaicompatible"),
)
