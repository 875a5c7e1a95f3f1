"""Model names: every documented form parses; typos get the closest valid names."""

from __future__ import annotations

import pytest

from equitr.errors import ConfigError
from equitr.models.manager import ModelManager
from equitr.models.names import ModelName, parse_model_name


@pytest.mark.parametrize(
    ("name", "provider", "model"),
    [
        ("ollama/qwen3:30b", "ollama", "qwen3:30b"),
        ("ollama/library/llama3.2", "ollama", "library/llama3.2"),
        ("openai/gpt-4.1-mini", "openai", "gpt-4.1-mini"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("openai-compatible/Qwen/Qwen3-30B-A3B", "openai-compatible", "Qwen/Qwen3-30B-A3B"),
        ("local/smollm2", "local", "smollm2"),
        ("local/models/tiny.Q4_K_M.gguf", "local", "models/tiny.Q4_K_M.gguf"),
        ("local//abs/path/model.gguf", "local", "/abs/path/model.gguf"),
        ("  OpenAI/gpt-4.1-mini ", "openai", "gpt-4.1-mini"),
        ("claude/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_valid_names(name: str, provider: str, model: str) -> None:
    assert parse_model_name(name) == ModelName(provider, model)  # type: ignore[arg-type]


def test_round_trip() -> None:
    assert str(parse_model_name("ollama/qwen3:30b")) == "ollama/qwen3:30b"


@pytest.mark.parametrize("name", ["gpt-4.1-mini", "openai/", "/gpt-4", "", "ollama/Qwen3 30B", "ollama/:latest"])
def test_malformed_names(name: str) -> None:
    with pytest.raises(ConfigError):
        parse_model_name(name)


def test_unknown_provider_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_name("opnai/gpt-4.1-mini")
    assert "opnai" in info.value.message
    assert info.value.hint and info.value.hint.startswith("Did you mean openai/gpt-4.1-mini")


def test_misspelt_local_model() -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_name("local/smolm2")
    assert "local/smollm2" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("openai/gpt-4.1-mni", "openai/gpt-4.1-mini"),
        ("openai/gpt4.1-mini", "openai/gpt-4.1-mini"),
        ("anthropic/claude-sonet-4-5", "anthropic/claude-sonnet-4-5"),
    ],
)
def test_misspelt_catalogue_models_get_the_closest_valid_names(typo: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelManager().validate_model(typo)
    assert expected in (info.value.hint or "")
    assert (info.value.hint or "").index(expected) < 40  # among the first suggestions


def test_catalogue_models_and_dated_variants_validate() -> None:
    manager = ModelManager()
    assert str(manager.validate_model("openai/gpt-4.1-mini")) == "openai/gpt-4.1-mini"
    assert manager.validate_model("openai/gpt-4.1-mini-2025-04-14").model == "gpt-4.1-mini-2025-04-14"


def test_self_hosted_names_are_not_checked_against_the_catalogue() -> None:
    manager = ModelManager()
    assert manager.validate_model("ollama/some-finetune:7b").provider == "ollama"
    assert manager.validate_model("openai-compatible/anything-goes").provider == "openai-compatible"
