"""The model manager: validate names, describe models, estimate cost, check availability, choose models.

Everything except `check_availability` is offline and fast (< 100 ms; microseconds once the price
catalogue is loaded), so choosing or validating a model never waits on the network. Availability is a
network probe whose answer is cached for a few minutes, for `equitr doctor` and `equitr models check`.

CLI (wired in `equitr.cli`):

    $ equitr models list
    MODEL                          CONTEXT  JSON   TOOLS  $/MTOK IN  $/MTOK OUT
    local/smollm2                     8192  yes    no          0.00        0.00
    anthropic/claude-sonnet-4-5     200000  no     yes         3.00       15.00
    openai/gpt-4.1-mini            1000000  yes    yes         0.40        1.60
    …
    (`format_table(models_list())` prints exactly this; JSON "probe" = tested on first use)

    $ equitr models check ollama/qwen3:30b
    ✗ ollama/qwen3:30b: Ollama at http://127.0.0.1:11434 has no model qwen3:30b. Pull it with
      `ollama pull qwen3:30b` (installed: qwen3:8b, llama3.2).        (exit status 1 when not ok)

    $ equitr models cost openai/gpt-4.1-mini --tokens 100000
    openai/gpt-4.1-mini: $0.0640 for 100000 tokens (80000 prompt + 20000 completion)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from cachetools import TTLCache

from equitr.errors import ConfigError, ModelError
from equitr.models import prices
from equitr.models.capabilities import CapabilityCache
from equitr.models.names import DEFAULT_MODEL, ModelName, Provider
from equitr.models.provider import Endpoints, Support
from equitr.models.registry import SPECS

if TYPE_CHECKING:
    from equitr.config.settings import Settings



@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str  # provider/model
    provider: Provider
    context_window: int | None
    json_schema: Support  # structured output; "probe" = tested on first use, then cached
    tools: bool  # native tool calling
    input_per_mtok: float  # USD per million prompt tokens (0 for local models)
    output_per_mtok: float
    local: bool  # runs on the user's hardware (no per-token price)


@dataclass(frozen=True, slots=True)
class Availability:
    ok: bool
    message: str
    checked_at: float


class ModelManager:
    def __init__(
        self,
        endpoints: Endpoints | None = None,
        *,
        capabilities: CapabilityCache | None = None,
        configured: Iterable[str] = (),
        availability_ttl_s: float = 300.0,
    ) -> None:
        self.endpoints = endpoints or Endpoints()
        self.capabilities = capabilities or CapabilityCache(self.endpoints.capability_file)
        self.configured = [m for m in configured if m]
        self._availability: TTLCache[str, Availability] = TTLCache(maxsize=256, ttl=availability_ttl_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelManager:
        """From `equitr.config.settings.Settings`: its endpoints and keys, and the configured role models first."""
        return cls(
            Endpoints.from_settings(settings),
            configured=[m for m in (settings.supervisor_model, settings.worker_model) if m],
        )

    # -- offline ------------------------------------------------------------------------------------

    def warm(self) -> None:
        """Load the price catalogue now (~0.3 s once per process), e.g. in a server's start-up, so the
        first real validation is as fast as every later one."""
        prices.known_models("openai")
        prices.lookup(ModelName("openai", "gpt-4.1-mini"))

    def validate_model(self, name: str) -> ModelName:
        """Parse and check `name`; ConfigError with the closest valid names when it is wrong."""
        return prices.validate_model(name)

    def get_model_info(self, name: str) -> ModelInfo:
        parsed = self.validate_model(name)
        base_url = self.endpoints.openai_base_url if parsed.provider == "openai-compatible" else None
        entry = prices.lookup(parsed, base_url=base_url)
        spec = SPECS[parsed.provider]
        context = spec.context_window(self.endpoints) or (entry.context_window if entry else None)
        return ModelInfo(
            name=str(parsed),
            provider=parsed.provider,
            context_window=context,
            json_schema=self._json_support(parsed),
            tools=spec.native_tools,
            input_per_mtok=entry.input_per_mtok if entry else 0.0,
            output_per_mtok=entry.output_per_mtok if entry else 0.0,
            local=spec.local,
        )

    def estimate_cost(self, name: str, prompt_tokens: int, completion_tokens: int) -> float:
        parsed = self.validate_model(name)
        base_url = self.endpoints.openai_base_url if parsed.provider == "openai-compatible" else None
        return prices.cost_usd(parsed, prompt_tokens, completion_tokens, base_url=base_url)

    def known_names(self) -> list[str]:
        """The configured models, the embedded default, and the catalogue's chat models."""
        names = [*self.configured, DEFAULT_MODEL]
        for provider in sorted(name for name, spec in SPECS.items() if spec.catalogue_id):
            names += [f"{provider}/{m}" for m in prices.chat_models(provider)]
        return list(dict.fromkeys(names))

    def _json_support(self, name: ModelName) -> Support:
        return SPECS[name.provider].json_support(name.model, self.endpoints, self.capabilities)

    # -- network (never on the hot path) -----------------------------------------------------------

    async def check_availability(
        self, name: str, *, session: aiohttp.ClientSession | None = None, refresh: bool = False
    ) -> Availability:
        """Whether `name` can answer right now, cached for `availability_ttl_s`. Never raises for a
        missing server or key: the answer says what is wrong and what to do."""
        if not refresh and (cached := self._availability.get(name)) is not None:
            return cached
        try:
            parsed = self.validate_model(name)
            if session is None:
                async with aiohttp.ClientSession() as own:
                    ok, message = await self._check(parsed, own)
            else:
                ok, message = await self._check(parsed, session)
        except (ConfigError, ModelError) as error:
            ok, message = False, error.message + (f" {error.hint}" if error.hint else "")
        result = Availability(ok, message, time.time())
        self._availability[name] = result
        return result

    async def _check(self, name: ModelName, session: aiohttp.ClientSession) -> tuple[bool, str]:
        return await SPECS[name.provider].check_available(name.model, self.endpoints, session)


def choose_model(configured: str | None) -> tuple[str, bool]:
    """The model to use and whether it is the embedded default (so the caller can say so)."""
    if configured and configured.strip():
        return configured.strip(), False
    return DEFAULT_MODEL, True


# -- plain functions for `equitr models …` ----------------------------------------------------------


def models_list(manager: ModelManager | None = None) -> list[ModelInfo]:
    """Every model `equitr models list` shows: configured, embedded default, catalogue chat models."""
    manager = manager or _from_environment()
    return [manager.get_model_info(name) for name in manager.known_names()]


def models_check(name: str, manager: ModelManager | None = None) -> tuple[bool, str]:
    """(ok, one-line message) for `equitr models check NAME`. Synchronous: it runs its own event loop."""
    manager = manager or _from_environment()
    result = asyncio.run(manager.check_availability(name, refresh=True))
    return result.ok, f"{'✓' if result.ok else '✗'} {name}: {result.message}"


def models_cost(name: str, tokens: int, *, completion_share: float = 0.2, manager: ModelManager | None = None) -> float:
    """USD for `tokens` tokens of `name`, split prompt/completion by `completion_share` (agent work is
    mostly prompt: instructions, files, tool output)."""
    manager = manager or _from_environment()
    completion = round(tokens * completion_share)
    return manager.estimate_cost(name, tokens - completion, completion)


def _from_environment() -> ModelManager:
    from equitr.config.settings import load

    return ModelManager.from_settings(load())


def format_table(infos: Sequence[ModelInfo]) -> str:
    """The `equitr models list` table."""
    rows = [f"{'MODEL':<34} {'CONTEXT':>8}  {'JSON':<5}  {'TOOLS':<5}  {'$/MTOK IN':>9}  {'$/MTOK OUT':>10}"]
    for i in infos:
        ctx = str(i.context_window) if i.context_window else "?"
        rows.append(
            f"{i.name:<34} {ctx:>8}  {i.json_schema:<5}  {'yes' if i.tools else 'no':<5}  "
            f"{i.input_per_mtok:>9.2f}  {i.output_per_mtok:>10.2f}"
        )
    return "\n".join(rows)
