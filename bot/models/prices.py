"""Prices and catalogue facts from the maintained `genai-prices` library — never a hand-written table.

Local models (`local/…`, `ollama/…`) cost $0. `openai-compatible/…` costs $0 unless genai-prices
recognises the server from `OPENAI_BASE_URL` (e.g. OpenRouter) and knows the model there.
The catalogue is loaded once (~0.3 s on first use); lookups after that take microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from equitr.errors import ConfigError
from equitr.models.names import ModelName, Provider, near_names, parse_model_name
from equitr.models.registry import SPECS

# Our provider names → genai-prices provider ids. Providers missing here run on the user's own hardware.
_CATALOGUE_PROVIDER: dict[Provider, str] = {name: s.catalogue_id for name, s in SPECS.items() if s.catalogue_id}


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """What the price library knows about one model."""

    provider_id: str
    context_window: int | None
    input_per_mtok: float  # USD per million prompt tokens
    output_per_mtok: float  # USD per million completion tokens


def lookup(name: ModelName, *, base_url: str | None = None) -> CatalogueEntry | None:
    """The catalogue entry for `name`, or None when the library does not know it (or it runs locally)."""
    if name.provider in _CATALOGUE_PROVIDER:
        return _lookup(name.model, _CATALOGUE_PROVIDER[name.provider], None)
    if name.provider == "openai-compatible" and base_url:
        return _lookup(name.model, None, base_url)
    return None


def cost_usd(name: ModelName, prompt_tokens: int, completion_tokens: int, *, base_url: str | None = None) -> float:
    """Price of one call in USD; 0.0 for models without a catalogue price."""
    entry = lookup(name, base_url=base_url)
    if entry is None or (prompt_tokens <= 0 and completion_tokens <= 0):
        return 0.0
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=max(0, prompt_tokens), output_tokens=max(0, completion_tokens))
    if entry.provider_id in _CATALOGUE_PROVIDER.values():
        result = calc_price(usage, name.model, provider_id=entry.provider_id)
    else:
        result = calc_price(usage, name.model, provider_api_url=base_url)
    return float(result.total_price)


def known_models(provider: Provider) -> list[str]:
    """Model ids the catalogue lists for one of our providers (for 'did you mean' and `models list`)."""
    provider_id = _CATALOGUE_PROVIDER.get(provider)
    if provider_id is None:
        return []
    return list(_catalogue_ids(provider_id))


@lru_cache(maxsize=8)
def _catalogue_ids(provider_id: str) -> tuple[str, ...]:
    from genai_prices import data_snapshot

    for provider in data_snapshot.get_snapshot().providers:
        if provider.id == provider_id:
            return tuple(model.id for model in provider.models)
    return ()


@lru_cache(maxsize=512)
def _lookup(model: str, provider_id: str | None, base_url: str | None) -> CatalogueEntry | None:
    from genai_prices import data_snapshot

    try:
        provider, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, base_url)
    except LookupError:
        return None
    prices = info.get_prices(datetime.now(UTC))
    return CatalogueEntry(
        provider_id=provider.id,
        context_window=info.context_window,
        input_per_mtok=_per_mtok(getattr(prices, "input_mtok", None)),
        output_per_mtok=_per_mtok(getattr(prices, "output_mtok", None)),
    )


def _per_mtok(price: Any) -> float:
    # Tiered prices (long-context surcharges) carry a `base`; the base tier is what a normal call pays.
    if price is None:
        return 0.0
    if isinstance(price, Decimal | int | float):
        return float(price)
    base = getattr(price, "base", None)
    return float(base) if base is not None else 0.0


# Catalogue entries that are not chat models (speech, images, embeddings…) never belong in a model list.
_NOT_CHAT = re.compile(
    r"embedding|tts|whisper|image|realtime|transcribe|audio|moderation|search|ft:|computer-use|"
    r"live|davinci|babbage|curie|^ada$|instruct|cyber|rosalind|deep-research"
)


def chat_models(provider: Provider) -> list[str]:
    """The catalogue's chat models for a provider (speech, image and embedding models left out)."""
    out = []
    for model in known_models(provider):
        entry = lookup(ModelName(provider, model))
        if entry and entry.context_window and entry.output_per_mtok > 0 and not _NOT_CHAT.search(model):
            out.append(model)
    return out


def validate_model(name: str) -> ModelName:
    """Parse and check `name`; ConfigError with the closest valid names when it is wrong.

    Only the catalogue is consulted (no server is asked), so `.equitr.toml` can be checked without a
    model manager."""
    parsed = parse_model_name(name)
    if parsed.provider in _CATALOGUE_PROVIDER and lookup(parsed) is None:
        valid = chat_models(parsed.provider)
        suggestions = [f"{parsed.provider}/{m}" for m in near_names(parsed.model, valid)]
        raise ConfigError(
            f"Unknown model {parsed}.",
            hint=("Did you mean " + " or ".join(suggestions) + "? " if suggestions else "")
            + "See `equitr models list` for every known name.",
            kind="unknown-model",
            closest=suggestions,
        )
    return parsed
