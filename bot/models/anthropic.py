"""Anthropic `/v1/messages`.

No structured-output mode is requested: the planning prompt asks for JSON and the interpretation layer
repairs what comes back, which Claude models rarely need. `stop_reason: max_tokens` is reported as
`finish_reason: length`, the same signal every other client gives for a cut-off reply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr

from equitr.models.provider import ANTHROPIC_URL, Endpoints, HostedAPI, ProviderSpec, Wiring
from equitr.models.types import ChatRequest, Message, Reply, ToolCall
from equitr.models.usage import usage_from
from equitr.models.wire import Endpoint, post_json

API_VERSION = "2023-06-01"
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class AnthropicClient:
    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str, api_key: SecretStr | None, endpoint: Endpoint
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.endpoint = endpoint

    async def chat(self, request: ChatRequest) -> Reply:
        key = _API.require_key(self._api_key)
        system, turns = to_anthropic(request.messages)
        payload: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": turns,
        }
        if system:
            payload["system"] = system
        if request.tools:
            payload["tools"] = [
                {
                    "name": t["function"]["name"],
                    "description": t["function"].get("description", ""),
                    "input_schema": t["function"]["parameters"],
                }
                for t in request.tools
            ]
        data = await post_json(
            self.session,
            f"{self.base_url}/v1/messages",
            payload,
            endpoint=self.endpoint,
            timeout_s=request.timeout_s,
            headers=_headers(key),
            secrets=[key],
        )
        return parse_message(data, messages=request.messages, model=request.model)


def to_anthropic(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """System text apart; turns alternating user/assistant as the API requires. Native tool calls become
    `tool_use` blocks of the assistant's turn and their results `tool_result` blocks of the next user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": _join(turns[-1]["content"], blocks)}
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(continue)"})
    return system, turns


def _blocks(m: Message) -> str | list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    if m.tool_calls:
        text = [{"type": "text", "text": m.content}] if m.content else []
        return text + [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)} for c in m.tool_calls
        ]
    return m.content


def _join(a: str | list[dict[str, Any]], b: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(a, str) and isinstance(b, str):
        return a + "\n\n" + b
    as_blocks = [x if not isinstance(x, str) else [{"type": "text", "text": x}] for x in (a, b)]
    return [*as_blocks[0], *as_blocks[1]]


def _input(arguments: str) -> Any:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_message(data: dict[str, Any], *, messages: Sequence[Message], model: str) -> Reply:
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in data.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            calls.append(
                ToolCall(
                    name=str(block.get("name") or ""),
                    arguments=json.dumps(block.get("input")),
                    id=str(block.get("id") or ""),
                )
            )
    content = "".join(text)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    stop = data.get("stop_reason")
    return Reply(
        content=content,
        model=model,
        finish_reason=_FINISH.get(str(stop), stop if isinstance(stop, str) else None),
        thinking="".join(thinking),
        tool_calls=tuple(calls),
        usage=usage_from(usage.get("input_tokens"), usage.get("output_tokens"), messages=messages, reply_text=content),
        raw=data,
    )


_API = HostedAPI(
    label="Anthropic",
    host="api.anthropic.com",
    env="ANTHROPIC_API_KEY",
    key_source="a key from console.anthropic.com",
    models="anthropic/…",
)


def _make(w: Wiring) -> AnthropicClient:
    _API.require_key(w.endpoints.anthropic_api_key)
    return AnthropicClient(
        w.session, base_url=w.endpoints.anthropic_url, api_key=w.endpoints.anthropic_api_key, endpoint=_API.endpoint
    )


async def _check(model: str, e: Endpoints, session: aiohttp.ClientSession) -> tuple[bool, str]:
    key = e.anthropic_api_key.get_secret_value() if e.anthropic_api_key else ""
    url = f"{e.anthropic_url or ANTHROPIC_URL}/v1/models/{model}"
    return await _API.check(session, model, key=e.anthropic_api_key, url=url, headers=_headers(key))


def _headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": API_VERSION}


PROVIDER = ProviderSpec(
    name="anthropic",
    make_client=_make,
    check_available=_check,
    json_support=lambda model, e, caps: "no",
    catalogue_id="anthropic",
    native_tools=True,
    aliases=("claude",),
)
