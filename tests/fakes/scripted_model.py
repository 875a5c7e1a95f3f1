"""A deterministic scripted model for tests of the agent loop: it answers from a script, not from a
model. Each entry is either a reply text, a function of the messages that returns one (or an awaitable of
one: a model call that takes its time without blocking the loop), or a ModelError to raise."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from equitr.errors import ModelError
from equitr.models.types import ChatRequest, Message, Reply, Usage

Script = str | Callable[[Sequence[Message]], str | Reply | Awaitable[str]] | ModelError | Reply


@dataclass
class ScriptedModel:
    script: list[Script]
    cost_per_call: float = 0.0
    finish_reason: str = "stop"
    seen: list[tuple[str, list[Message]]] = field(default_factory=list)
    caps: list[int] = field(default_factory=list)  # the max_tokens of each call
    tools_sent: list[list[dict[str, Any]] | None] = field(default_factory=list)  # the tools of each call
    native_tools: bool = False  # what `tool_support` answers (the strategy `auto` asks it)

    async def tool_support(self, model: str, *, timeout_s: float = 60.0) -> bool:
        return self.native_tools

    async def chat(self, request: ChatRequest) -> Reply:
        messages, model = request.messages, request.model
        self.seen.append((model, list(messages)))
        self.caps.append(request.max_tokens)
        self.tools_sent.append(list(request.tools) if request.tools else None)
        if not self.script:
            raise AssertionError(f"the scripted model ran out of replies (call {len(self.seen)} to {model})")
        entry = self.script.pop(0)
        if isinstance(entry, ModelError):
            raise entry
        if isinstance(entry, Reply):  # a reply as a server would send it (cut off, thinking only, …)
            return replace(entry, model=model, cost_usd=self.cost_per_call)
        made = entry(messages) if callable(entry) else entry
        text = await made if inspect.isawaitable(made) else made
        if isinstance(text, Reply):
            return replace(text, model=model, cost_usd=self.cost_per_call)
        prompt = sum(len(m.content) for m in messages) // 4
        return Reply(
            content=text,
            model=model,
            finish_reason=self.finish_reason,
            usage=Usage(prompt_tokens=prompt, completion_tokens=len(text) // 4),
            duration_s=0.01,
            cost_usd=self.cost_per_call,
        )


def routed(*, plans: Sequence[str], edits: Sequence[str] = (), reviews: Sequence[str] = (), **kw: Any) -> ScriptedModel:
    """A scripted model that answers planning, edit and review calls each from its own list, in order
    (told apart by their system prompts), so a test says what each role answers, not the call order."""
    queues = {"plan": list(plans), "edit": list(edits), "review": list(reviews)}

    def answer(messages: Sequence[Message]) -> str:
        system = messages[0].content if messages else ""
        kind = "plan" if "You plan work" in system else "edit" if "careful programmer" in system else "review"
        if not queues[kind]:
            raise AssertionError(f"the scripted model has no {kind} reply left")
        return queues[kind].pop(0)

    total = len(queues["plan"]) + len(queues["edit"]) + len(queues["review"])
    return ScriptedModel([answer] * total, **kw)
