"""Types shared by model clients, the interpretation layer and the agent loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A native tool call as a server returned it; `arguments` is the raw (possibly broken) JSON text."""

    name: str
    arguments: str


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

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
