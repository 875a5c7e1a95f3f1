"""Every model call of a run goes through `Calls.ask`: the run's limits are checked first (so a run
overshoots its budget by at most one call), and the call's tokens, cost and time are recorded after.

Each call's output cap comes from the model and what the call is for (`equitr.models.caps`). A reply cut off at
its cap is never used as if it were whole: it is asked again once with twice the room (up to the model's
ceiling) unless it was repeating itself, and a reply still cut off is handed back marked `truncated` for the
caller to refuse or reflect.

Every call is also kept in `transcript` (the messages sent and the reply), and logged in full at DEBUG level
on the `equitr.prompts` logger: what the models were actually shown is the first thing to read when a run
goes wrong (`equitr run --transcript FILE` writes it as JSON lines).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from equitr.agent.ledger import Guard, Ledger, Role
from equitr.models.caps import OutputCaps, output_caps
from equitr.models.provider import ChatModel
from equitr.models.types import ChatRequest, Message, Reply
from equitr.monitor import records as monitor

# A token is rarely more than a few characters; 16 leaves room for runs of indentation. A reply longer than
# this did not come from a model honouring `max_tokens`, and every parser downstream is bounded by it.
CHARS_PER_TOKEN = 16
MAX_TOOL_CALLS = 64


def clip_reply(reply: Reply, max_chars: int) -> Reply:
    """`reply` with its content, thinking and tool calls cut to `max_chars` each (and at most
    `MAX_TOOL_CALLS` calls); marked truncated (finish reason `length`) when anything was cut."""
    calls = tuple(
        replace(c, name=c.name[:200], arguments=c.arguments[:max_chars]) for c in reply.tool_calls[:MAX_TOOL_CALLS]
    )
    clipped = replace(reply, content=reply.content[:max_chars], thinking=reply.thinking[:max_chars], tool_calls=calls)
    if clipped == reply:
        return reply
    return replace(clipped, finish_reason="length")


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
            "messages": [_message_json(m) for m in self.messages],
            "reply": self.reply.content,
            "thinking": self.reply.thinking,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in self.reply.tool_calls],
            "finish_reason": self.reply.finish_reason,
            "prompt_tokens": self.reply.usage.prompt_tokens,
            "completion_tokens": self.reply.usage.completion_tokens,
        }


def _message_json(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def repeating(text: str, *, tail: int = 80, times: int = 3) -> bool:
    """Whether `text` ends in a loop: its last `tail` characters occur at least `times` times in it."""
    end = text.rstrip()[-tail:]
    return len(end) == tail and text.count(end) >= times


class Calls:
    def __init__(
        self,
        model: ChatModel,
        *,
        supervisor: str,
        worker: str,
        guard: Guard,
        ledger: Ledger,
        max_output_tokens: int | None = None,
        timeout_s: float = 120.0,  # EQUITR_MODEL_TIMEOUT's default
    ) -> None:
        self.model = model
        self.names: dict[Role, str] = {"supervisor": supervisor, "worker": worker}
        self.caps: dict[Role, OutputCaps] = {
            role: output_caps(name, configured=max_output_tokens) for role, name in self.names.items()
        }
        self.guard = guard
        self.ledger = ledger
        self.timeout_s = timeout_s
        self.transcript: list[Exchange] = []

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        purpose: str,
        schema: dict[str, Any] | None = None,
        tools: Sequence[dict[str, Any]] = (),
    ) -> Reply:
        caps = self.caps[role]
        cap = caps.cap(purpose)
        reply = await self._once(role, messages, purpose=purpose, schema=schema, tools=tools, cap=cap)
        if reply.truncated:
            self.ledger.cut_off += 1
            # Once more, with room: a cut-off reply is never parsed as if whole. Not when it was going round in
            # circles (small models repeat themselves until the limit): more room would buy more of the same.
            if cap < caps.ceiling and not repeating(reply.content or reply.thinking):
                self.ledger.cut_off_retried += 1
                more = min(cap * 2, caps.ceiling)
                reply = await self._once(role, messages, purpose=purpose, schema=schema, tools=tools, cap=more)
                self.ledger.cut_off += int(reply.truncated)
        return reply

    async def _once(
        self,
        role: Role,
        messages: list[Message],
        *,
        purpose: str,
        schema: dict[str, Any] | None,
        tools: Sequence[dict[str, Any]],
        cap: int,
    ) -> Reply:
        self.guard.check(f"the {role}'s {purpose} call")
        mon = monitor.current()
        if mon is not None:  # the runner parks a rate-limited job only while nothing was spent on models
            mon.model_requested()
        left = self.guard.remaining_s()
        request = ChatRequest(
            messages,
            model=self.names[role],
            max_tokens=cap,
            timeout_s=max(min(self.timeout_s, left), 1.0),
            json_schema=schema,
            tools=tools,
        )
        try:
            # One deadline for the logical call, its retries and fallback included: the job's time limit.
            async with asyncio.timeout(max(left, 0.0) + 0.01):
                reply = await self.model.chat(request)
        except TimeoutError:
            self.guard.check(f"the {role}'s {purpose} call ended")  # the time limit: LimitReached
            raise
        asked = "tools" if tools else "json_schema" if schema is not None else "text"
        self.ledger.record(role, reply, purpose=purpose, mode=asked)
        reply = clip_reply(reply, cap * CHARS_PER_TOKEN)
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
