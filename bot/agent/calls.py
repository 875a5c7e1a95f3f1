"""Every model call of a run goes through `Calls.ask`: the run's limits are checked first (so a run
overshoots its budget by at most one call), and the call's tokens, cost and time are recorded after."""

from __future__ import annotations

from typing import Any

from bot.agent.ledger import Guard, Ledger, Role
from bot.models.client import ChatModel
from bot.models.types import Message, Reply


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
        reply = await self.model.chat(
            messages,
            model=self.names[role],
            max_tokens=min(max_tokens or self.max_tokens, self.max_tokens),
            json_schema=schema,
            timeout_s=self.timeout_s,
        )
        self.ledger.record(role, reply, purpose=purpose)
        return reply
