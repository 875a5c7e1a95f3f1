"""Every model call of a run goes through `Calls.ask`: the run's limits are checked first (so a run
overshoots its budget by at most one call), and the call's tokens, cost and time are recorded after. The
reply is cut to what `max_tokens` can honestly produce before any parser sees it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.agent.ledger import Guard, Ledger, Role
from bot.models.client import ChatModel
from bot.models.types import Message, Reply, ToolCall

# A token is rarely more than a few characters; 16 leaves room for runs of indentation. A reply longer than
# this did not come from a model honouring `max_tokens`, and every parser downstream is bounded by it.
CHARS_PER_TOKEN = 16
MAX_TOOL_CALLS = 64


def clip_reply(reply: Reply, max_chars: int) -> Reply:
    """`reply` with its content, thinking and tool calls cut to `max_chars` each (and at most
    `MAX_TOOL_CALLS` calls); marked truncated (finish reason `length`) when anything was cut."""
    calls = tuple(ToolCall(c.name[:200], c.arguments[:max_chars]) for c in reply.tool_calls[:MAX_TOOL_CALLS])
    clipped = replace(reply, content=reply.content[:max_chars], thinking=reply.thinking[:max_chars], tool_calls=calls)
    if clipped == reply:
        return reply
    return replace(clipped, finish_reason="length")


class Calls:
    def __init__(
        self,
        model: ChatModel,
        *,
        supervisor: str,
        worker: str,
        guard: Guard,
        ledger: Ledger,
        max_tokens: int = 1024,
        timeout_s: float = 300.0,
    ) -> None:
        self.model = model
        self.names: dict[Role, str] = {"supervisor": supervisor, "worker": worker}
        self.guard = guard
        self.ledger = ledger
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        purpose: str,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        self.guard.check(f"the {role}'s {purpose} call")
        tokens = min(max_tokens or self.max_tokens, self.max_tokens)
        reply = await self.model.chat(
            messages,
            model=self.names[role],
            max_tokens=tokens,
            json_schema=schema,
            timeout_s=self.timeout_s,
        )
        self.ledger.record(role, reply, purpose=purpose)
        return clip_reply(reply, tokens * CHARS_PER_TOKEN)
