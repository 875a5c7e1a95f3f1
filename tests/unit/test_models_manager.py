"""ModelManager: info, prices, compatible models, and availability against loopback servers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from equitr.models.capabilities import CapabilityCache, conforms
from equitr.models.manager import (
    ModelManager,
    choose_model,
    format_table,
    models_cost,
    models_list,
)
from equitr.models.names import parse_model_name
from equitr.models.prices import cost_usd, lookup
from equitr.models.provider import Endpoints


def test_prices_come_from_the_catalogue() -> None:
    entry = lookup(parse_model_name("openai/gpt-4.1-mini"))
    assert entry is not None
    assert (entry.input_per_mtok, entry.output_per_mtok, entry.context_window) == (0.4, 1.6, 1_000_000)
    # long prompts are tiered (the library knows): 100k stays in the base tier of $3 per Mtok
    assert cost_usd(parse_model_name("anthropic/claude-sonnet-4-5"), 100_000, 0) == pytest.approx(0.3)


@pytest.mark.parametrize("name", ["local/smollm2", "ollama/qwen3:30b", "openai-compatible/qwen3"])
def test_self_hosted_models_cost_nothing(name: str) -> None:
    assert ModelManager().estimate_cost(name, 10**6, 10**6) == 0.0


def test_openai_compatible_is_priced_when_the_catalogue_knows_the_server() -> None:
    manager = ModelManager(Endpoints(openai_base_url="https://openrouter.ai/api/v1"))
    assert manager.estimate_cost("openai-compatible/openai/gpt-4.1-mini", 10**6, 0) > 0
    local = ModelManager(Endpoints(openai_base_url="http://127.0.0.1:8000/v1"))
    assert local.estimate_cost("openai-compatible/openai/gpt-4.1-mini", 10**6, 0) == 0.0


def test_model_info() -> None:
    manager = ModelManager(Endpoints(ollama_num_ctx=32768))
    gpt = manager.get_model_info("openai/gpt-4.1-mini")
    assert (gpt.provider, gpt.json_schema, gpt.tools, gpt.local) == ("openai", "yes", True, False)
    claude = manager.get_model_info("anthropic/claude-sonnet-4-5")
    assert claude.context_window == 200_000 and claude.output_per_mtok == 15.0 and claude.json_schema == "no"
    qwen = manager.get_model_info("ollama/qwen3:30b")
    assert (qwen.context_window, qwen.json_schema, qwen.input_per_mtok, qwen.local) == (32768, "probe", 0.0, True)
    smol = manager.get_model_info("local/smollm2")
    assert smol.json_schema == "yes" and smol.context_window == 8192


def test_probed_capabilities_show_in_model_info() -> None:
    caps = CapabilityCache()
    caps.set("http://127.0.0.1:11434", "qwen3:30b", "none")
    caps.set("http://gpu:8000/v1", "qwen3", "json_schema")
    manager = ModelManager(Endpoints(openai_base_url="http://gpu:8000/v1"), capabilities=caps)
    assert manager.get_model_info("ollama/qwen3:30b").json_schema == "no"
    assert manager.get_model_info("openai-compatible/qwen3").json_schema == "yes"


def test_choosing_a_model_is_fast_and_offline() -> None:
    manager = ModelManager()
    manager.validate_model("openai/gpt-4.1-mini")  # loads the catalogue once
    started = time.perf_counter()
    for _ in range(100):
        manager.validate_model("anthropic/claude-sonnet-4-5")
        manager.get_model_info("ollama/qwen3:30b")
    assert (time.perf_counter() - started) / 100 < 0.1


def test_cli_helpers() -> None:
    infos = models_list(ModelManager(configured=["ollama/qwen3:30b"]))
    names = [i.name for i in infos]
    assert names[:2] == ["ollama/qwen3:30b", "local/smollm2"] and "openai/gpt-4.1-mini" in names
    assert not any("whisper" in n or "embedding" in n or "tts" in n for n in names)
    table = format_table(infos[:3]).splitlines()
    assert table[0].split() == ["MODEL", "CONTEXT", "JSON", "TOOLS", "$/MTOK", "IN", "$/MTOK", "OUT"]
    assert table[1].split()[:2] == ["ollama/qwen3:30b", "8192"]
    # 100k tokens, 80k prompt + 20k completion at $0.40 / $1.60 per Mtok
    assert models_cost("openai/gpt-4.1-mini", 100_000) == pytest.approx(0.032 + 0.032)
    assert choose_model(None) == ("local/smollm2", True)
    assert choose_model("ollama/qwen3:30b") == ("ollama/qwen3:30b", False)


def test_capability_cache_survives_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "caps.json"
    path.write_text("{not json")
    caps = CapabilityCache(path)
    assert caps.get("http://x/v1", "m") is None
    caps.set("http://x/v1/", "m", "json_object")
    assert json.loads(path.read_text())["modes"]["http://x/v1|m"]["mode"] == "json_object"
    assert CapabilityCache(path).get("http://x/v1", "m") == "json_object"


@pytest.mark.parametrize(
    ("text", "ok"),
    [('{"ok": true}', True), ('{"ok": false}', True), ('{"ok": "yes"}', False), ('{"ok": true, "x": 1}', False),
     ('Sure! {"ok": true}', False), ("Water is wet.", False), ("", False), ("[true]", False)],
)  # fmt: skip
def test_probe_conformance(text: str, ok: bool) -> None:
    assert conforms(text) is ok


# -- availability over real HTTP ---------------------------------------------------------------------


@pytest.fixture
async def fake_servers() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def tags(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"models": [{"name": "qwen3:8b"}, {"name": "llama3.2:latest"}]})

    async def models(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.headers.get("Authorization") != "Bearer sk-k":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"data": [{"id": "qwen3-30b"}]})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", hits
    await runner.cleanup()


async def test_availability_is_checked_and_cached(fake_servers: tuple[str, list[str]]) -> None:
    url, hits = fake_servers
    manager = ModelManager(
        Endpoints(ollama_host=url, openai_base_url=f"{url}/v1", openai_api_key=SecretStr("sk-k")),
        availability_ttl_s=60,
    )
    async with aiohttp.ClientSession() as session:
        ok = await manager.check_availability("ollama/llama3.2", session=session)
        assert ok.ok and "serves llama3.2" in ok.message
        missing = await manager.check_availability("ollama/qwen3:30b", session=session)
        assert not missing.ok and "ollama pull qwen3:30b" in missing.message and "qwen3:8b" in missing.message
        served = await manager.check_availability("openai-compatible/qwen3-30b", session=session)
        assert served.ok
        assert len(hits) == 3
        again = await manager.check_availability("ollama/qwen3:30b", session=session)
        assert again is missing and len(hits) == 3  # cached
        await manager.check_availability("ollama/qwen3:30b", session=session, refresh=True)
        assert len(hits) == 4


async def test_availability_explains_rather_than_raises(fake_servers: tuple[str, list[str]]) -> None:
    url, _ = fake_servers
    manager = ModelManager(Endpoints(openai_base_url=f"{url}/v1", openai_api_key=SecretStr("sk-wrong")))
    result = await manager.check_availability("openai-compatible/qwen3-30b")
    assert not result.ok and "rejected the credentials" in result.message and "sk-wrong" not in result.message
    assert not (await manager.check_availability("openai/gpt-4.1-mni")).ok
    nokey = await ModelManager().check_availability("anthropic/claude-sonnet-4-5")
    assert not nokey.ok and "ANTHROPIC_API_KEY" in nokey.message
