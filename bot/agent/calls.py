"""Every model call of a run goes through `Calls.ask`: the run's limits are checked first (so a run
overshoots its budget by at most one call), and the call's tokens, cost and time are recorded after.

Every call is also kept in `transcript` (the messages sent and the reply), and logged in full at DEBUG level
on the `equitr.prompts` logger: what the models were actually shown is the first thing to read when a run
goes wrong (`equitr run --transcript FILE` writes it as JSON lines).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.agent.ledger import Guard, Ledger, Role
from bot.models.client import ChatModel
from bot.models.types import Message, Reply

log = logging.getLogger("equitr.prompts")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One model call as it happened: what was sent and what came back."""

    role: Role
    purpose: str
    model: str
    messages: tuple[Message, ...]
    reply: Reply
    max_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "purpose": self.purpose,
            "model": self.reply.model or self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "reply": self.reply.content,
            "thinking": self.reply.thinking,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in self.reply.tool_calls],
            "finish_reason": self.reply.finish_reason,
            "prompt_tokens": self.reply.usage.prompt_tokens,
            "completion_tokens": self.reply.usage.completion_tokens,
        }


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
        self.transcript: list[Exchange] = []

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
        cap = min(max_tokens or self.max_tokens, self.max_tokens)
        reply = await self.model.chat(
            messages,
            model=self.names[role],
            max_tokens=cap,
            json_schema=schema,
            timeout_s=self.timeout_s,
        )
        self.ledger.record(role, reply, purpose=purpose)
        self._keep(Exchange(role, purpose, self.names[role], tuple(messages), reply, cap))
        return reply

    def _keep(self, exchange: Exchange) -> None:
        self.transcript.append(exchange)
        if log.isEnabledFor(logging.DEBUG):
            shown = "\n".join(f"--- {m.role}\n{m.content}" for m in exchange.messages)
            log.debug(
                "%s %s (%s, max %d tokens)\n%s\n--- reply (%s)\n%s",
                exchange.role,
                exchange.purpose,
                exchange.model,
                exchange.max_tokens,
                shown,
                exchange.reply.finish_reason,
                exchange.reply.content or exchange.reply.thinking,
            )
