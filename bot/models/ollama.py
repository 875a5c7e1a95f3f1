"""Ollama's native `/api/chat`.

Native rather than the OpenAI-compatible endpoint because it lets us set `options.num_ctx` explicitly —
Ollama's default context is small and it silently drops the start of longer prompts, which is exactly
where the planning instructions live — and pass a JSON schema as `format`. Thinking models return their
reasoning in `message.thinking`; when `content` is empty the reply is still usable from there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from equitr.errors import ModelError
from equitr.models.capabilities import PROBE_SCHEMA, CapabilityCache, Mode, conforms
from equitr.models.probing import ProbedServer, probed_support
from equitr.models.provider import Endpoints, ProviderSpec, Wiring
from equitr.models.types import ChatRequest, Message, Reply, ToolCall
from equitr.models.usage import usage_from
from equitr.models.wire import Endpoint, post_json, request_json

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_NUM_CTX = 8192


def normalize_host(host: str | None) -> str:
    """OLLAMA_HOST as Ollama itself accepts it (`0.0.0.0:11434`, `localhost`, a full URL) → a base URL."""
    value = (host or "").strip().rstrip("/")
    if not value:
        return DEFAULT_HOST
    if "://" not in value:
        value = "http://" + value
    scheme, rest = value.split("://", 1)
    hostport = rest.split("/", 1)[0]
    if hostport.startswith("0.0.0.0"):  # a listen address, not one to connect to
        hostport = "127.0.0.1" + hostport[len("0.0.0.0") :]
    if ":" not in hostport.rsplit("]", 1)[-1]:
        hostport += ":11434"
    return f"{scheme}://{hostport}"


class OllamaClient(ProbedServer):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        host: str,
        endpoint: Endpoint,
        capabilities: CapabilityCache,
        num_ctx: int = DEFAULT_NUM_CTX,
    ) -> None:
        super().__init__(session, base_url=normalize_host(host), endpoint=endpoint, capabilities=capabilities)
        self.num_ctx = num_ctx

    def _format(self, mode: Mode, schema: dict[str, Any]) -> dict[str, Any] | None:
        return schema if mode != "none" else None  # `format` takes the schema itself

    def _refuses_tools(self, error: ModelError) -> bool:
        return error.status == 400  # "registry.ollama.ai/library/x does not support tools"

    async def probe(self, model: str, *, timeout_s: float) -> Mode:
        try:
            reply = await self._ask_probe(model, PROBE_SCHEMA, timeout_s=timeout_s)
        except ModelError as error:
            if error.status == 400:  # an Ollama too old for schema `format`
                return "none"
            raise
        # Thinking models may answer in `thinking` and leave `content` empty: that is a failed probe.
        return "json_schema" if conforms(reply.content) else "none"

    async def _send(self, request: ChatRequest, fmt: dict[str, Any] | None) -> Reply:
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": [_wire(m) for m in request.messages],
            "stream": False,
            "options": {"num_ctx": self.num_ctx, "num_predict": request.max_tokens, "temperature": request.temperature},
        }
        if fmt is not None:
            payload["format"] = fmt
        if request.tools:
            payload["tools"] = list(request.tools)
        data = await post_json(
            self.session, f"{self.base_url}/api/chat", payload, endpoint=self.endpoint, timeout_s=request.timeout_s
        )
        return parse_chat(data, messages=request.messages, model=request.model, where=self.endpoint.label)


def _wire(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:  # Ollama takes the arguments as an object
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": _object(c.arguments)}} for c in m.tool_calls]
    return out


def _object(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return {}


def parse_chat(data: dict[str, Any], *, messages: Sequence[Message], model: str, where: str) -> Reply:
    message = data.get("message")
    if not isinstance(message, dict):
        error = data.get("error")
        raise ModelError(f"{where} returned no message{f': {error}' if error else ''}.", retryable=True)
    content = str(message.get("content") or "")
    thinking = str(message.get("thinking") or "")
    done = data.get("done_reason")
    calls: list[ToolCall] = []
    for n, call in enumerate(message.get("tool_calls") or [], 1):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            args = function.get("arguments")
            calls.append(
                ToolCall(
                    name=str(function.get("name") or ""),
                    arguments=json.dumps(args) if not isinstance(args, str) else args,
                    id=f"call_{n}",
                )
            )
    return Reply(
        content=content,
        model=model,
        finish_reason=done if isinstance(done, str) else None,
        thinking=thinking,
        tool_calls=tuple(calls),
        usage=usage_from(
            data.get("prompt_eval_count"),
            data.get("eval_count"),
            messages=messages,
            reply_text=content or thinking,
        ),
        raw=data,
    )


def _endpoint(host: str) -> Endpoint:
    return Endpoint(
        label=f"Ollama at {host}",
        unreachable_hint="Is Ollama running? Start it with `ollama serve` or set OLLAMA_HOST.",
        missing_model_hint="Pull the model first: `ollama pull NAME` (see `ollama list`).",
    )


def _make(w: Wiring) -> OllamaClient:
    host = normalize_host(w.endpoints.ollama_host)
    return OllamaClient(
        w.session,
        host=host,
        endpoint=_endpoint(host),
        capabilities=w.capabilities,
        num_ctx=w.endpoints.ollama_num_ctx,
    )


async def _check(model: str, e: Endpoints, session: aiohttp.ClientSession) -> tuple[bool, str]:
    from equitr.models.names import near_names  # names reads the provider registry, which imports this module

    host = normalize_host(e.ollama_host)
    where = _endpoint(host)
    data = await request_json(session, "GET", f"{host}/api/tags", endpoint=where, timeout_s=5.0)
    installed = [str(m.get("name")) for m in data.get("models") or [] if isinstance(m, dict)]
    if {model, f"{model}:latest"} & set(installed):
        return True, f"{where.label} serves {model}"
    near = near_names(model, installed) or installed[:3]
    return False, (
        f"{where.label} has no model {model}. Pull it with `ollama pull {model}`"
        + (f" (installed: {', '.join(near)})." if near else ".")
    )


PROVIDER = ProviderSpec(
    name="ollama",
    make_client=_make,
    check_available=_check,
    json_support=lambda model, e, caps: probed_support(caps, normalize_host(e.ollama_host), model),
    local=True,
    context_window=lambda e: e.ollama_num_ctx,  # what equitr asks Ollama for, explicitly
)
