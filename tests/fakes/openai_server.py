"""A scripted OpenAI-compatible chat server on loopback: `POST /v1/chat/completions` and `GET /v1/models`,
answered from a script instead of a model, so `equitr` can run as a real process against a real HTTP model
endpoint (`OPENAI_BASE_URL=server.url`).

    async with OpenAIServer(reply=lambda request: "hello", api_key="sk-test") as server:
        ...  # OPENAI_BASE_URL=server.url, OPENAI_API_KEY=sk-test
        assert server.requests[0]["model"] == "gpt-4.1-mini"

`reply` gets the request's JSON body and returns the assistant's text. Requests with a wrong or missing key
get OpenAI's 401. The structured-output probe equitr sends to servers it does not know is answered as a
server that honours `json_schema` would.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from equitr.models.capabilities import PROBE_PROMPT

Reply = Callable[[dict[str, Any]], str]


class OpenAIServer:
    def __init__(self, *, reply: Reply, api_key: str | None = None, models: tuple[str, ...] = ()) -> None:
        self.reply = reply
        self.api_key = api_key
        self.models = models
        self.requests: list[dict[str, Any]] = []  # chat bodies, in order (probes included)
        self.refused: list[str] = []  # Authorization headers that were refused
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chats(self) -> list[dict[str, Any]]:
        """The chat requests that were not the structured-output probe."""
        return [r for r in self.requests if not _is_probe(r)]

    async def __aenter__(self) -> OpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if self.api_key is None or header == f"Bearer {self.api_key}":
            return None
        self.refused.append(header)
        error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}
        return web.json_response({"error": error}, status=401)

    async def _chat(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.requests.append(body)
        text = json.dumps({"ok": True}) if _is_probe(body) else self.reply(body)
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": len(text) // 4 + 1,
                    "total_tokens": prompt + len(text) // 4 + 1,
                },
            }
        )

    async def _models(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})


def _is_probe(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and messages[-1].get("content") == PROBE_PROMPT and "response_format" in body
