"""The model client against real HTTP servers on loopback that misbehave on purpose.

Each test scripts a small aiohttp server (429 with retry-after, 5xx, slow answers, 400s, spent quota, …)
and talks to it through the real `ModelClient`. Only the sleep between retries is injected, so the tests
record the waits the client chose instead of spending them.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from equitr.errors import ConfigError, ModelError
from equitr.errors.retry import RetryPolicy
from equitr.models.capabilities import CapabilityCache
from equitr.models.client import ModelClient
from equitr.models.provider import Endpoints
from equitr.models.types import ChatRequest, Message, ToolCall

KEY = "sk-" + "test-0123456789abcdef"
Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def completion(content: str = "done", *, usage: bool = True, finish: str = "stop", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content, **extra}, "finish_reason": finish}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    return body


def reply_with(status: int = 200, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0) -> Handler:
    async def handler(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(completion() if body is None else body, status=status, headers=headers)

    return handler


@dataclass
class Scripted:
    """A server that answers each request with the next scripted handler (the last one repeats)."""

    script: list[Handler]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json() if request.can_read_body else {}
        self.requests.append(payload)
        self.headers.append(dict(request.headers))
        self.paths.append(request.path)
        handler = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return await handler(request, payload)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[list[Handler]], Awaitable[Scripted]]]:
    runners: list[web.AppRunner] = []

    async def start(script: list[Handler]) -> Scripted:
        scripted = Scripted(list(script))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", scripted.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        scripted.url = f"http://127.0.0.1:{port}"
        return scripted

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(
    session: aiohttp.ClientSession, url: str, *, fallback: str | None = None, tries: int = 4, **endpoints: Any
) -> tuple[ModelClient, Sleeps]:
    sleeps = Sleeps()
    ends = Endpoints(
        openai_api_key=SecretStr(KEY),
        openai_base_url=f"{url}/v1",
        openai_url=f"{url}/v1",
        anthropic_url=url,
        ollama_host=url,
        **endpoints,
    )
    client = ModelClient(
        session, ends, retry=RetryPolicy(tries=tries, base_s=0.5, cap_s=4), fallback_model=fallback, sleep=sleeps
    )
    return client, sleeps


MSGS = [Message("system", "You plan."), Message("user", "fix the off-by-one in utils.py")]


async def ask(client: ModelClient, model: str = "openai-compatible/small", **kw: Any) -> Any:
    return await client.chat(ChatRequest(MSGS, model=model, max_tokens=64, timeout_s=kw.pop("timeout_s", 2.0), **kw))


# -- retries by error class --------------------------------------------------------------------------


async def test_429_waits_what_retry_after_says(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(429, {"error": {"message": "slow down"}}, {"retry-after": "2"}), reply_with()])
    client, sleeps = make_client(session, server.url)
    reply = await ask(client)
    assert reply.content == "done"
    assert sleeps == [2.0]
    assert len(server.requests) == 2


async def test_429_retry_after_as_http_date(serve: Any, session: aiohttp.ClientSession) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = await serve([reply_with(429, {"error": {"message": "later"}}, {"retry-after": when}), reply_with()])
    client, sleeps = make_client(session, server.url)
    await ask(client)
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


async def test_429_asking_for_too_long_a_pause_fails_instead_of_hanging(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve([reply_with(429, {"error": {"message": "tomorrow"}}, {"retry-after": "3600"})])
    client, sleeps = make_client(session, server.url)
    with pytest.raises(ModelError) as info:
        await ask(client)
    assert info.value.status == 429 and info.value.retry_after_s == 3600
    assert sleeps == [] and len(server.requests) == 1


async def test_5xx_backs_off_exponentially_with_jitter(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(500, {"error": "boom"}), reply_with(502, {}), reply_with(503, {}), reply_with()])
    client, sleeps = make_client(session, server.url)
    reply = await ask(client)
    assert reply.content == "done" and len(server.requests) == 4
    # equal jitter: attempt n waits between step/2 and step, step = 0.5 * 2**(n-1)
    for n, wait in enumerate(sleeps, start=1):
        step = 0.5 * 2 ** (n - 1)
        assert step / 2 <= wait <= step
    assert sleeps[2] > sleeps[0]


async def test_tries_are_bounded(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(503, {"error": {"message": "overloaded"}})])
    client, sleeps = make_client(session, server.url, tries=3)
    with pytest.raises(ModelError) as info:
        await ask(client)
    assert info.value.retryable and info.value.status == 503
    assert len(server.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_never_retried(serve: Any, session: aiohttp.ClientSession, status: int) -> None:
    server = await serve([reply_with(status, {"error": {"message": "no", "type": "invalid_request_error"}})])
    client, sleeps = make_client(session, server.url)
    with pytest.raises(ModelError) as info:
        await ask(client)
    assert not info.value.retryable and info.value.status == status
    assert len(server.requests) == 1 and sleeps == []


async def test_openai_insufficient_quota_is_not_retried(serve: Any, session: aiohttp.ClientSession) -> None:
    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    server = await serve([reply_with(429, body, {"retry-after": "1"})])
    client, sleeps = make_client(session, server.url, fallback="openai-compatible/other")
    with pytest.raises(ModelError) as info:
        await ask(client, model="openai/gpt-4.1-mini")
    assert not info.value.retryable
    assert "quota" in info.value.message and info.value.hint and "credit" in info.value.hint
    # no retry, and no silent switch to the fallback model either: the user has to know
    assert len(server.requests) == 1 and sleeps == []


async def test_anthropic_billing_error_is_not_retried(serve: Any, session: aiohttp.ClientSession) -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Your credit balance is too low to access the API."},
    }
    server = await serve([reply_with(400, body)])
    client, _ = make_client(session, server.url, anthropic_api_key=SecretStr(KEY))
    with pytest.raises(ModelError) as info:
        await ask(client, model="anthropic/claude-sonnet-4-5")
    assert not info.value.retryable and "spend limit" in info.value.message
    assert len(server.requests) == 1


async def test_timeouts_are_retried_then_the_fallback_model_answers(serve: Any, session: aiohttp.ClientSession) -> None:
    async def by_model(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        if payload["model"] == "slow":
            await asyncio.sleep(1.0)
        return web.json_response(completion(f"from {payload['model']}"))

    server = await serve([by_model])
    client, sleeps = make_client(session, server.url, fallback="openai-compatible/fast", tries=2)
    reply = await ask(client, model="openai-compatible/slow", timeout_s=0.2)
    assert reply.content == "from fast"
    assert reply.model == "openai-compatible/fast"
    assert [r["model"] for r in server.requests] == ["slow", "slow", "fast"]
    assert len(sleeps) == 1
    # What the monitor records of this call: one retry, answered by the fallback model, no schema.
    assert (reply.retries, reply.fallback_model, reply.mode) == (1, True, "text")


async def test_no_fallback_for_rejected_credentials(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(401, {"error": {"message": "bad key"}})])
    client, _ = make_client(session, server.url, fallback="openai-compatible/fast")
    with pytest.raises(ModelError) as info:
        await ask(client, model="openai/gpt-4.1-mini")
    assert info.value.status == 401 and "OPENAI_API_KEY" in (info.value.hint or "")
    assert len(server.requests) == 1


async def test_unreachable_ollama_says_how_to_start_it(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, sleeps = make_client(session, f"http://127.0.0.1:{port}", tries=2)
    with pytest.raises(ModelError) as info:
        await ask(client, model="ollama/qwen3:30b")
    assert info.value.retryable and len(sleeps) == 1
    assert "ollama serve" in (info.value.hint or "") and "OLLAMA_HOST" in (info.value.hint or "")


async def test_missing_key_is_a_config_error_without_any_request(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with()])
    client = ModelClient(session, Endpoints(openai_url=f"{server.url}/v1"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await ask(client, model="openai/gpt-4.1-mini")
    assert server.requests == []


async def test_the_key_is_sent_as_bearer_and_never_appears_in_errors(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve([reply_with(400, {"error": {"message": f"Incorrect API key provided: {KEY}."}})])
    client, _ = make_client(session, server.url)
    with pytest.raises(ModelError) as info:
        await ask(client)
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(info.value) and KEY not in (info.value.hint or "")
    assert KEY not in repr(client.endpoints)


# -- usage, time and cost -------------------------------------------------------------------------------


async def test_usage_time_and_cost_come_from_the_server_and_the_price_library(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    body = completion("plan")
    body["usage"] = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    server = await serve([reply_with(body=body, delay=0.05)])
    client, _ = make_client(session, server.url)
    reply = await ask(client, model="openai/gpt-4.1-mini")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.estimated) == (10**6, 10**6, False)
    assert reply.cost_usd == pytest.approx(0.4 + 1.6)  # genai-prices: $0.40 / $1.60 per Mtok
    assert reply.duration_s >= 0.05
    # OpenAI's own API is sent `max_completion_tokens` (what it asks for); a chat model keeps its temperature.
    sent = server.requests[0]
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent and sent["temperature"] == 0.0


async def test_missing_usage_is_estimated_and_marked(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(body=completion("x" * 400, usage=False))])
    client, _ = make_client(session, server.url)
    reply = await ask(client)
    assert reply.usage.estimated
    assert reply.usage.completion_tokens == 100
    assert reply.usage.prompt_tokens > 0
    assert reply.cost_usd == 0.0  # a local server: no price


async def test_reasoning_content_and_truncation_are_reported(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(body=completion("", finish="length", reasoning_content="hmm, first…"))])
    client, _ = make_client(session, server.url)
    reply = await ask(client)
    assert reply.content == "" and reply.thinking == "hmm, first…" and reply.truncated


async def test_openai_reasoning_models_get_max_completion_tokens(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with()])
    client, _ = make_client(session, server.url)
    await ask(client, model="openai/o4-mini")
    sent = server.requests[0]
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent and "temperature" not in sent


# -- structured output probing -----------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"steps": {"type": "array"}}, "required": ["steps"]}


def server_honouring(kind: str | None) -> Handler:
    """A server that enforces `response_format` of one type (422 for others), or ignores it (None)."""

    async def handler(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        fmt = payload.get("response_format")
        if fmt is None or kind is None:
            return web.json_response(completion("Water is wet, yes."))
        if fmt["type"] != kind:
            return web.json_response({"detail": [{"msg": "Input should be 'text' or 'json_object'"}]}, status=422)
        schema = fmt["json_schema"]["schema"] if kind == "json_schema" else fmt["schema"]
        content = '{"ok": true}' if "ok" in schema["properties"] else '{"steps": []}'
        return web.json_response(completion(content))

    return handler


@pytest.mark.parametrize(
    ("kind", "mode", "sent_type"),
    [
        ("json_schema", "json_schema", "json_schema"),
        ("json_object", "json_object", "json_object"),
        (None, "none", None),
    ],
)
async def test_probe_once_per_server_and_model(
    serve: Any, session: aiohttp.ClientSession, kind: str | None, mode: str, sent_type: str | None
) -> None:
    server = await serve([server_honouring(kind)])
    client, _ = make_client(session, server.url)
    for _ in range(3):
        reply = await ask(client, json_schema=SCHEMA)
        # The mode the monitor records: the one the request was sent with ("none" sends plain text).
        assert (reply.mode, reply.retries, reply.fallback_model) == (sent_type or "text", 0, False)
    assert client.capabilities.get(f"{server.url}/v1", "small") == mode
    real = [r for r in server.requests if r["max_tokens"] == 64]
    probes = [r for r in server.requests if r["max_tokens"] != 64]
    assert len(real) == 3
    assert len(probes) == {"json_schema": 1, "json_object": 2, "none": 2}[mode]  # one try per mode
    assert all((r.get("response_format") or {}).get("type") == sent_type for r in real)


async def test_concurrent_first_calls_share_one_probe(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([server_honouring("json_schema")])
    client, _ = make_client(session, server.url)
    await asyncio.gather(*(ask(client, json_schema=SCHEMA) for _ in range(5)))
    assert sum(1 for r in server.requests if r["max_tokens"] != 64) == 1


async def test_probe_results_persist_in_a_json_file(serve: Any, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    server = await serve([server_honouring("json_object")])
    path = tmp_path / "caps.json"
    client, _ = make_client(session, server.url, capability_file=path)
    await ask(client, json_schema=SCHEMA)
    assert json.loads(path.read_text())["modes"][f"{server.url}/v1|small"]["mode"] == "json_object"
    before = len(server.requests)
    again, _ = make_client(session, server.url, capability_file=path)
    await ask(again, json_schema=SCHEMA)
    assert len(server.requests) == before + 1  # no new probe after a restart
    assert CapabilityCache(path).get(f"{server.url}/v1", "small") == "json_object"


async def test_a_500_that_names_response_format_means_unsupported(serve: Any, session: aiohttp.ClientSession) -> None:
    """llama-cpp-python's server answers a request validation error with HTTP 500."""

    async def handler(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        fmt = payload.get("response_format")
        if fmt and fmt["type"] == "json_schema":
            detail = "1 validation error: ('body', 'response_format', 'type') Input should be 'text' or 'json_object'"
            return web.json_response({"error": {"message": detail}}, status=500)
        return web.json_response(completion('{"ok": true}' if fmt else "prose"))

    server = await serve([handler])
    client, sleeps = make_client(session, server.url)
    assert await client.structured_mode("openai-compatible/small") == "json_object"
    assert sleeps == [] and len(server.requests) == 2


async def test_a_transient_probe_failure_caches_no_verdict(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(503, {}), server_honouring("json_schema")])
    client, _ = make_client(session, server.url)
    await ask(client, json_schema=SCHEMA)  # the probe's 503 is retried as part of the call
    assert client.capabilities.get(f"{server.url}/v1", "small") == "json_schema"


# -- Ollama native and Anthropic -------------------------------------------------------------------------------


async def test_ollama_native_sets_num_ctx_and_schema_format_and_reads_thinking(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    async def ollama(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        if payload.get("format", {}).get("properties", {}).get("ok"):
            return web.json_response({"message": {"role": "assistant", "content": '{"ok": true}'}, "done": True})
        return web.json_response(
            {
                "message": {"role": "assistant", "content": "", "thinking": "The user wants…"},
                "done": True,
                "done_reason": "length",
                "prompt_eval_count": 120,
                "eval_count": 64,
            }
        )

    server = await serve([ollama])
    client, _ = make_client(session, server.url, ollama_num_ctx=16384)
    reply = await ask(client, model="ollama/qwen3:30b", json_schema=SCHEMA)
    assert server.paths == ["/api/chat", "/api/chat"]
    sent = server.requests[-1]
    assert sent["options"]["num_ctx"] == 16384 and sent["options"]["num_predict"] == 64
    assert sent["format"] == SCHEMA and sent["stream"] is False
    assert reply.content == "" and reply.thinking == "The user wants…" and reply.truncated
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (120, 64)
    assert reply.model == "ollama/qwen3:30b" and reply.cost_usd == 0.0


async def test_ollama_missing_model_hint(serve: Any, session: aiohttp.ClientSession) -> None:
    server = await serve([reply_with(404, {"error": "model 'qwen3:30b' not found"})])
    client, _ = make_client(session, server.url)
    with pytest.raises(ModelError) as info:
        await ask(client, model="ollama/qwen3:30b")
    assert "ollama pull" in (info.value.hint or "") and "not found" in info.value.message


async def test_anthropic_messages(serve: Any, session: aiohttp.ClientSession) -> None:
    body = {
        "type": "message",
        "content": [{"type": "thinking", "thinking": "plan…"}, {"type": "text", "text": '{"execution_steps": []}'}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 1000, "output_tokens": 200},
    }
    server = await serve([reply_with(body=body)])
    client, _ = make_client(session, server.url, anthropic_api_key=SecretStr(KEY))
    reply = await ask(client, model="anthropic/claude-sonnet-4-5")
    sent, headers = server.requests[0], server.headers[0]
    assert server.paths == ["/v1/messages"]
    assert sent["system"] == "You plan." and sent["messages"] == [{"role": "user", "content": MSGS[1].content}]
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert reply.content == '{"execution_steps": []}' and reply.thinking == "plan…" and reply.truncated
    assert reply.cost_usd == pytest.approx(1000 * 3e-6 + 200 * 15e-6)


# -- native tool calling -------------------------------------------------------------------------------------

TOOL = {
    "type": "function",
    "function": {"name": "search", "description": "Search.", "parameters": {"type": "object", "properties": {}}},
}
CONVERSATION = [
    Message("system", "You fix issues."),
    Message("user", "mean() is off by one"),
    Message("assistant", "", tool_calls=(ToolCall("search", '{"query": "mean"}', "call_7"),)),
    Message("tool", "mathutil.py:9:def mean(values):", tool_call_id="call_7"),
]


def tool_reply(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return completion("", finish="tool_calls", tool_calls=[call])


async def test_openai_compatible_tool_calls_go_and_come_back_in_the_wire_format(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve([reply_with(body=tool_reply("file", {"action": "read", "path": "mathutil.py"}))])
    client, _ = make_client(session, server.url)
    reply = await client.chat(
        ChatRequest(CONVERSATION, model="openai-compatible/small", max_tokens=64, timeout_s=2, tools=[TOOL])
    )
    sent = server.requests[0]
    assert sent["tools"] == [TOOL]
    assert sent["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "search", "arguments": '{"query": "mean"}'}}
        ],
    }
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": "mathutil.py:9:def mean(values):",
    }
    # arguments sent as an object (some servers do) come back as JSON text
    assert reply.tool_calls == (ToolCall("file", '{"action": "read", "path": "mathutil.py"}', "call_1"),)


@pytest.mark.parametrize(
    ("answer", "native"),
    [
        (reply_with(body=tool_reply("record_answer", '{"ok": true}')), True),
        (reply_with(body=completion('{"name": "record_answer", "arguments": {"ok": true}}')), False),  # text only
        (reply_with(400, {"error": {"message": "tools are not supported"}}), False),
    ],
)
async def test_tool_support_is_probed_once_and_remembered(
    serve: Any, session: aiohttp.ClientSession, tmp_path: Path, answer: Handler, native: bool
) -> None:
    server = await serve([answer])
    caps = tmp_path / "caps.json"
    client, _ = make_client(session, server.url, capability_file=caps)
    assert await client.tool_support("openai-compatible/small") is native
    assert await client.tool_support("openai-compatible/small") is native
    assert len(server.requests) == 1 and server.requests[0]["tools"][0]["function"]["name"] == "record_answer"
    again, _ = make_client(session, server.url, capability_file=caps)  # a restart reads the file
    assert await again.tool_support("openai-compatible/small") is native and len(server.requests) == 1
    assert await client.tool_support("openai/gpt-4.1-mini") and await client.tool_support("anthropic/claude-sonnet-4-5")
    assert not await client.tool_support("local/smollm2") and len(server.requests) == 1


async def test_ollama_tool_calls(serve: Any, session: aiohttp.ClientSession) -> None:
    async def ollama(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        call = {"function": {"name": "file", "arguments": {"action": "read", "path": "a.py"}}}
        message = {"role": "assistant", "content": "", "tool_calls": [call]}
        return web.json_response({"message": message, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 3})

    server = await serve([ollama])
    client, _ = make_client(session, server.url)
    reply = await client.chat(
        ChatRequest(CONVERSATION, model="ollama/qwen3:30b", max_tokens=64, timeout_s=2, tools=[TOOL])
    )
    sent = server.requests[0]
    assert sent["tools"] == [TOOL]
    assert sent["messages"][2]["tool_calls"] == [{"function": {"name": "search", "arguments": {"query": "mean"}}}]
    assert sent["messages"][3] == {"role": "tool", "content": "mathutil.py:9:def mean(values):"}
    assert reply.tool_calls == (ToolCall("file", '{"action": "read", "path": "a.py"}', "call_1"),)


async def test_anthropic_tool_use_and_tool_result_blocks(serve: Any, session: aiohttp.ClientSession) -> None:
    body = {
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "run", "input": {}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    server = await serve([reply_with(body=body)])
    client, _ = make_client(session, server.url, anthropic_api_key=SecretStr(KEY))
    reply = await client.chat(
        ChatRequest(CONVERSATION, model="anthropic/claude-sonnet-4-5", max_tokens=64, timeout_s=2, tools=[TOOL])
    )
    sent = server.requests[0]
    assert sent["tools"] == [
        {"name": "search", "description": "Search.", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "call_7", "name": "search", "input": {"query": "mean"}}],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "mathutil.py:9:def mean(values):"}],
    }
    assert reply.tool_calls == (ToolCall("run", "{}", "toolu_1"),) and reply.finish_reason == "tool_calls"


# -- a dead primary, and what one job learns for the next (R7, R12) ------------------------------------------


async def test_a_dead_primary_is_skipped_for_a_cool_down_across_clients(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    """Once the primary failed all its tries, the next calls (of any job in the process) go to the fallback at
    once instead of paying four more tries each: 4 + 1 + 1 requests, not 5 + 5 + 5."""

    async def by_model(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        if payload["model"] == "dead":
            return web.json_response({"error": {"message": "upstream down"}}, status=503)
        return web.json_response(completion(f"from {payload['model']}"))

    server = await serve([by_model])
    for _job in range(3):
        client, _ = make_client(session, server.url, fallback="openai-compatible/alive")
        reply = await ask(client, model="openai-compatible/dead")
        assert reply.model == "openai-compatible/alive"
    assert [r["model"] for r in server.requests] == ["dead"] * 4 + ["alive"] * 3


async def test_the_primary_is_tried_again_after_the_cool_down(serve: Any, session: aiohttp.ClientSession) -> None:
    from equitr.models.client import BREAKER

    down = {"dead": True}

    async def by_model(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        if payload["model"] == "primary" and down["dead"]:
            return web.json_response({"error": {"message": "upstream down"}}, status=503)
        return web.json_response(completion(f"from {payload['model']}"))

    server = await serve([by_model])
    client, _ = make_client(session, server.url, fallback="openai-compatible/spare", tries=1)
    assert (await ask(client, model="openai-compatible/primary")).model == "openai-compatible/spare"
    down["dead"] = False
    now = BREAKER.clock
    try:
        BREAKER.clock = lambda: now() + BREAKER.cool_down_s + 1
        assert (await ask(client, model="openai-compatible/primary")).model == "openai-compatible/primary"
    finally:
        BREAKER.clock = now


async def test_the_capability_probe_is_sent_once_per_process_not_per_job(
    serve: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve([server_honouring("json_schema")])
    for _job in range(3):  # each job makes its own client
        client, _ = make_client(session, server.url)
        await ask(client, json_schema=SCHEMA)
    assert len([r for r in server.requests if r["max_tokens"] != 64]) == 1


async def test_a_hung_model_call_names_the_setting_that_bounds_it(serve: Any, session: aiohttp.ClientSession) -> None:
    async def hang(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response(completion("late"))

    server = await serve([hang])
    client, _ = make_client(session, server.url, tries=1)
    with pytest.raises(ModelError) as caught:
        await ask(client, timeout_s=0.3)
    assert "0.3 s" in caught.value.message and "EQUITR_MODEL_TIMEOUT" in (caught.value.hint or "")
