"""The provider registry: one module per provider, and one place for each provider's advice."""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

import aiohttp
import pytest

from equitr.errors import ModelError
from equitr.models.client import ModelClient
from equitr.models.manager import ModelManager
from equitr.models.names import PROVIDERS, parse_model_name
from equitr.models.prices import known_models
from equitr.models.provider import Endpoints, ProviderSpec
from equitr.models.registry import SPECS
from equitr.models.types import ChatRequest

ROOT = Path(__file__).resolve().parents[2]


def test_every_provider_spec_is_registered_and_names_read_the_registry() -> None:
    declared = {
        spec.name
        for path in (ROOT / "bot/models").glob("*.py")
        for spec in vars(importlib.import_module(f"equitr.models.{path.stem}")).values()
        if isinstance(spec, ProviderSpec)
    }
    assert declared == set(SPECS)
    assert PROVIDERS == tuple(SPECS) == ("ollama", "openai", "anthropic", "openai-compatible", "local")
    for spec in SPECS.values():
        for alias in spec.aliases:
            assert parse_model_name(f"{alias}/m.gguf" if spec.name == "local" else f"{alias}/m").provider == spec.name
        assert bool(known_models(spec.name)) == (spec.catalogue_id is not None)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("model", ["ollama/qwen3", "openai-compatible/qwen3"])
async def test_an_unreachable_server_gets_the_same_advice_from_chat_and_from_check(model: str) -> None:
    """`equitr models check` and a failed call say the same thing (they used to word it differently)."""
    url = _closed_port()
    endpoints = Endpoints(ollama_host=url, openai_base_url=f"{url}/v1")
    check = await ModelManager(endpoints).check_availability(model)
    async with aiohttp.ClientSession() as session:
        client = ModelClient(session, endpoints)
        with pytest.raises(ModelError) as raised:
            await client.provider(parse_model_name(model).provider).chat(
                ChatRequest([], model=parse_model_name(model).model, max_tokens=1, timeout_s=5)
            )
    assert not check.ok and raised.value.hint and raised.value.hint in check.message
    assert raised.value.message.split(":")[0] in check.message
