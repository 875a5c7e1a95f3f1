"""Types shared by model clients, the interpretation layer and the agent loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A native tool call as a server returned it; `arguments` is the raw (possibly broken) JSON text."""

    name: str
    arguments: str
    id: str = ""  # the server's id of the call, which its result must name


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. An assistant turn may carry native `tool_calls`; a `tool` turn is the result of the call
    `tool_call_id` names."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One request to a model, built once by the caller and handed down unchanged: the routing client only
    swaps `model` (`provider/name` → the provider's own name) with `dataclasses.replace`.

    At most `max_tokens` long; `json_schema` asks for structured output where the server honours it; `tools`
    (chat-completions shape, see `tool_spec`) are offered natively; `timeout_s` bounds one request."""

    messages: Sequence[Message]
    _: KW_ONLY
    model: str
    max_tokens: int
    timeout_s: float
    temperature: float = 0.0
    json_schema: dict[str, Any] | None = None
    tools: Sequence[dict[str, Any]] = ()


def tool_spec(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool definition in the OpenAI function format (what Ollama takes too; Anthropic's is derived)."""
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when the server reported no usage and the counts are a character-based estimate.
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """One model reply. `content` may be empty when a thinking model put everything in `thinking`."""

    content: str
    model: str
    finish_reason: str | None = None
    thinking: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    cost_usd: float = 0.0
    raw: dict[str, Any] | None = None
    # Set by the model client, for the monitor: its retries of this request, the structured-output mode
    # used (json_schema, json_object, text), and whether its fallback model answered.
    retries: int = 0
    mode: str = ""
    fallback_model: bool = False

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
