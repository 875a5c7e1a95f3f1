"""A scripted OpenAI-compatible model server on loopback, for tests that run `equitr` as a separate process.

It answers `POST /v1/chat/completions` from a script, like `ScriptedModel` does in-process: each entry is a
reply text, or a `Fault` (an HTTP error status with a body, or a delay before the reply). The structured-output
probe that equitr sends to an unknown server is answered with prose (so the server counts as having no JSON
mode) and takes no entry from the script; so is the tool-calling probe (so `auto` plans). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from equitr.models.capabilities import PROBE_PROMPT, TOOL_PROBE_PROMPT


@dataclass(frozen=True)
class Fault:
    status: int = 200
    body: str = ""
    delay_s: float = 0.0
    content: str = ""  # the reply after the delay, when status is 200


@dataclass
class ModelServer:
    script: list[str | Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""  # the OPENAI_BASE_URL to give equitr, set when serving

    def _next(self, payload: dict[str, Any]) -> tuple[int, str, float]:
        messages = payload.get("messages") or []
        if any(probe in str(m.get("content")) for m in messages for probe in (PROBE_PROMPT, TOOL_PROBE_PROMPT)):
            return 200, _completion("Yes, water is wet."), 0.0  # in prose: no JSON mode, no native tool calls
        self.requests.append(payload)
        if not self.script:
            return 500, json.dumps({"error": {"message": "the scripted model ran out of replies"}}), 0.0
        entry = self.script.pop(0)
        if isinstance(entry, str):
            return 200, _completion(entry), 0.0
        if entry.status != 200:
            return entry.status, entry.body, entry.delay_s
        return 200, _completion(entry.content), entry.delay_s


def _completion(text: str) -> str:
    return json.dumps(
        {
            "id": "scripted",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": max(1, len(text) // 4)},
        }
    )


@contextmanager
def serve(script: list[str | Fault] | None = None) -> Iterator[ModelServer]:
    server = ModelServer(list(script or []))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                status, body, delay = server._next(payload)
            time.sleep(delay)
            raw = body.encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a cancelled job): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
