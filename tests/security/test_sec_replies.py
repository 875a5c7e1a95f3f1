"""Hostile model replies cannot stall the agent (S4i): every parser fed model text is linear, replies are cut
to what `max_tokens` allows before parsing, and a model server's answer is not buffered past 1 MiB.

The parsers run on 1 MiB of each hostile shape in a subprocess with a hang guard: before, the SEARCH/REPLACE
parser took minutes on unterminated blocks, `parse_review` 94 s on `{` × 10⁶, and the plan interpreter tens
of minutes on fences without a newline. Timings are in `tests/performance/bench_parsers.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from equitr.agent.asker import CHARS_PER_TOKEN, Calls
from equitr.agent.ledger import Guard, Ledger
from equitr.config.flags import Limits
from equitr.errors import ModelError
from equitr.models.types import Message
from tests.fakes.scripted_model import ScriptedModel
from tests.security.hostile_replies import parsers
from tests.unit.test_models_client import ask, make_client, serve

__all__ = ["serve"]  # the loopback model server fixture, used below
ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 120  # not a timing: the old parsers needed from minutes to hours here


@pytest.mark.parametrize("parser", list(parsers()))
def test_parsers_read_a_mebibyte_of_hostile_reply_without_stalling(parser: str) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.security.hostile_replies", parser],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {parser} parser did not finish 1 MiB of hostile replies in {HANG_GUARD_S} s")
    assert done.returncode == 0, done.stderr
    print(done.stdout)


async def test_a_reply_is_cut_to_what_max_tokens_allows_before_anything_parses_it() -> None:
    model = ScriptedModel(["{" * 1_000_000])
    ledger = Ledger()
    guard = Guard(Limits(), ledger)
    calls = Calls(model, supervisor="openai/s", worker="openai/w", guard=guard, ledger=ledger, max_output_tokens=256)
    reply = await calls.ask("supervisor", [Message("user", "plan")], purpose="review")
    assert len(reply.content) == 256 * CHARS_PER_TOKEN
    assert reply.truncated  # parsed as a reply cut off at the limit
    assert len(model.seen) == 1  # a reply repeating itself to the limit is not asked again with more room


def huge(*, chunked: bool) -> Any:
    async def handler(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        body = b'{"choices": [{"message": {"content": "' + b"x" * (2 * 1024**2) + b'"}}]}'
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 65536):
            await resp.write(body[i : i + 65536])
        await resp.write_eof()
        return resp

    return handler


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_model_server_cannot_make_equitr_buffer_more_than_a_mebibyte(serve: Any, chunked: bool) -> None:
    server = await serve([huge(chunked=chunked)])
    async with aiohttp.ClientSession() as session:
        client, _ = make_client(session, server.url)
        with pytest.raises(ModelError) as refused:
            await ask(client)
    assert "answered with more than 1 MiB; equitr does not read answers that large" in refused.value.message
    assert not refused.value.retryable and len(server.requests) == 1
