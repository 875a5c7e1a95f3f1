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
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import aiohttp
from cachetools import TTLCache

from equitr.errors import ConfigError, ModelError
from equitr.models import prices
from equitr.models.capabilities import CapabilityCache
from equitr.models.client import ANTHROPIC_URL, OPENAI_URL, Endpoints
from equitr.models.local import DEFAULT_N_CTX, INSTALL_HINT, resolve_path
from equitr.models.names import DEFAULT_MODEL, ModelName, Provider, closest
from equitr.models.ollama import normalize_host
from equitr.models.wire import Endpoint, request_json

if TYPE_CHECKING:
    from equitr.config.settings import Settings

Support = Literal["yes", "no", "probe"]

_OPENAI_JSON_SCHEMA = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-[5-9]|o[3-9]|gpt-oss)")
_CHECK_TIMEOUT_S = 5.0


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
        context = entry.context_window if entry else None
        if parsed.provider == "ollama":
            context = self.endpoints.ollama_num_ctx  # what equitr asks Ollama for, explicitly
        elif parsed.provider == "local":
            context = DEFAULT_N_CTX
        return ModelInfo(
            name=str(parsed),
            provider=parsed.provider,
            context_window=context,
            json_schema=self._json_support(parsed),
            tools=parsed.provider in ("openai", "anthropic"),
            input_per_mtok=entry.input_per_mtok if entry else 0.0,
            output_per_mtok=entry.output_per_mtok if entry else 0.0,
            local=parsed.provider in ("local", "ollama"),
        )

    def estimate_cost(self, name: str, prompt_tokens: int, completion_tokens: int) -> float:
        parsed = self.validate_model(name)
        base_url = self.endpoints.openai_base_url if parsed.provider == "openai-compatible" else None
        return prices.cost_usd(parsed, prompt_tokens, completion_tokens, base_url=base_url)

    def known_names(self) -> list[str]:
        """The configured models, the embedded default, and the catalogue's chat models."""
        names = [*self.configured, DEFAULT_MODEL]
        for provider in ("anthropic", "openai"):
            names += [f"{provider}/{m}" for m in prices.chat_models(provider)]
        return list(dict.fromkeys(names))

    def _json_support(self, name: ModelName) -> Support:
        if name.provider == "local":
            return "yes"  # llama.cpp grammar in-process
        if name.provider == "anthropic":
            return "no"
        if name.provider == "openai":
            return "yes" if _OPENAI_JSON_SCHEMA.match(name.model) else "no"
        base = (
            normalize_host(self.endpoints.ollama_host)
            if name.provider == "ollama"
            else (self.endpoints.openai_base_url or "")
        )
        mode = self.capabilities.get(base, name.model)
        return "probe" if mode is None else ("no" if mode == "none" else "yes")

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
        e = self.endpoints
        if name.provider == "local":
            import importlib.util

            path = resolve_path(name.model)
            if importlib.util.find_spec("llama_cpp") is None:
                return (
                    False,
                    f"{path.name} is present but llama-cpp-python is not installed: {INSTALL_HINT}",
                )
            return True, f"in-process llama.cpp, {path} ({path.stat().st_size / 1e6:.0f} MB)"
        if name.provider == "ollama":
            host = normalize_host(e.ollama_host)
            where = Endpoint(
                label=f"Ollama at {host}",
                unreachable_hint="Is Ollama running? Start it with `ollama serve` or set OLLAMA_HOST.",
            )
            data = await request_json(session, "GET", f"{host}/api/tags", endpoint=where, timeout_s=_CHECK_TIMEOUT_S)
            installed = [str(m.get("name")) for m in data.get("models") or [] if isinstance(m, dict)]
            wanted = {name.model, f"{name.model}:latest"}
            if wanted & set(installed):
                return True, f"{where.label} serves {name.model}"
            near = closest(name.model, installed) or installed[:3]
            return False, (
                f"{where.label} has no model {name.model}. Pull it with `ollama pull {name.model}`"
                + (f" (installed: {', '.join(near)})." if near else ".")
            )
        if name.provider == "openai-compatible":
            if not e.openai_base_url:
                return False, "OPENAI_BASE_URL is not set; openai-compatible/… models need it."
            base = e.openai_base_url.rstrip("/")
            where = Endpoint(label=f"the server at {base}", unreachable_hint="Is the server running?")
            data = await request_json(
                session,
                "GET",
                f"{base}/models",
                endpoint=where,
                timeout_s=_CHECK_TIMEOUT_S,
                headers=_bearer(e),
                secrets=_secrets(e),
            )
            served = [str(m.get("id")) for m in data.get("data") or [] if isinstance(m, dict)]
            if name.model in served:
                return True, f"{where.label} serves {name.model}"
            listing = ", ".join(served[:5]) or "nothing"
            return False, f"{where.label} does not serve {name.model} (it serves: {listing})."
        if name.provider == "openai":
            if e.openai_api_key is None or not e.openai_api_key.get_secret_value():
                return False, "OPENAI_API_KEY is not set."
            where = Endpoint(label="OpenAI", unreachable_hint="Check the network.", auth_hint="Check OPENAI_API_KEY.")
            await request_json(
                session,
                "GET",
                f"{e.openai_url or OPENAI_URL}/models/{name.model}",
                endpoint=where,
                timeout_s=_CHECK_TIMEOUT_S,
                headers=_bearer(e),
                secrets=_secrets(e),
            )
            return True, f"OpenAI serves {name.model} for this key"
        key = e.anthropic_api_key.get_secret_value() if e.anthropic_api_key else ""
        if not key:
            return False, "ANTHROPIC_API_KEY is not set."
        where = Endpoint(label="Anthropic", unreachable_hint="Check the network.", auth_hint="Check ANTHROPIC_API_KEY.")
        await request_json(
            session,
            "GET",
            f"{e.anthropic_url or ANTHROPIC_URL}/v1/models/{name.model}",
            endpoint=where,
            timeout_s=_CHECK_TIMEOUT_S,
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            secrets=[key],
        )
        return True, f"Anthropic serves {name.model} for this key"


def _bearer(e: Endpoints) -> dict[str, str]:
    key = e.openai_api_key.get_secret_value() if e.openai_api_key else ""
    return {"Authorization": f"Bearer {key}"} if key else {}


def _secrets(e: Endpoints) -> list[str]:
    return [e.openai_api_key.get_secret_value()] if e.openai_api_key else []


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
