"""A deterministic scripted model for tests of the agent loop: it answers from a script, not from a
model. Each entry is either a reply text, a function of the messages that returns one (or an awaitable of
one: a model call that takes its time without blocking the loop), or a ModelError to raise."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ModelError
from bot.models.types import Message, Reply, Usage

Script = str | Callable[[Sequence[Message]], str | Awaitable[str]] | ModelError


@dataclass
class ScriptedModel:
    script: list[Script]
    cost_per_call: float = 0.0
    finish_reason: str = "stop"
    seen: list[tuple[str, list[Message]]] = field(default_factory=list)

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        model: str,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        timeout_s: float,
    ) -> Reply:
        self.seen.append((model, list(messages)))
        if not self.script:
            raise AssertionError(f"the scripted model ran out of replies (call {len(self.seen)} to {model})")
        entry = self.script.pop(0)
        if isinstance(entry, ModelError):
            raise entry
        made = entry(messages) if callable(entry) else entry
        text = await made if inspect.isawaitable(made) else made
        prompt = sum(len(m.content) for m in messages) // 4
        return Reply(
            content=text,
            model=model,
            finish_reason=self.finish_reason,
            usage=Usage(prompt_tokens=prompt, completion_tokens=len(text) // 4),
            duration_s=0.01,
            cost_usd=self.cost_per_call,
        )
