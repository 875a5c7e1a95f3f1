"""Every model call and every interpretation-layer repair of a run, and the limits it must stay within.

Limits are checked in one place, `Guard.check`, before each model call and each step: so a run stops with
at most one call of overshoot past its budget.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from equitr.config.flags import Limits
from equitr.errors import BudgetExceeded, LimitReached
from equitr.models.types import Reply
from equitr.monitor import records as monitor
from equitr.text.money import usd

Role = Literal["supervisor", "worker"]


@dataclass(frozen=True, slots=True)
class Call:
    role: Role
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_s: float
    purpose: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the cost table: a model in a role."""

    model: str
    role: Role
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_s: float


@dataclass(slots=True)
class Ledger:
    calls: list[Call] = field(default_factory=list)
    repairs: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    reasks: int = 0
    cut_off: int = 0  # replies cut off at their output cap
    cut_off_retried: int = 0  # … asked again with more room

    def record(self, role: Role, reply: Reply, *, purpose: str = "", mode: str = "text") -> None:
        """One model call. `mode` is what the request asked for (`json_schema`, `tools`, `text`); the model
        client's own account of what it sent (`reply.mode`) wins when there is one."""
        self.calls.append(
            Call(
                role,
                reply.model,
                reply.usage.prompt_tokens,
                reply.usage.completion_tokens,
                reply.cost_usd,
                reply.duration_s,
                purpose,
            )
        )
        mon = monitor.current()  # the job's PerformanceMonitor sees every call of every ledger
        if mon is not None:
            mon.model_call(
                model=reply.model,
                role="reviewer" if purpose.startswith("review") else role,
                tokens_in=reply.usage.prompt_tokens,
                tokens_out=reply.usage.completion_tokens,
                cost_usd=reply.cost_usd,
                latency_s=reply.duration_s,
                retries=reply.retries,
                mode=reply.mode or mode,
                served_by_fallback=reply.fallback_model,
            )

    def record_repairs(self, kinds: list[str], *, fallback: bool) -> None:
        self.repairs.update(kinds)
        self.fallbacks += int(fallback)
        mon = monitor.current()
        if mon is not None:
            mon.note_repairs([k for k in kinds if k != "fallback"], fallback=fallback)

    @property
    def total_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    def rows(self) -> list[Row]:
        grouped: dict[tuple[str, Role], list[Call]] = {}
        for call in self.calls:
            grouped.setdefault((call.model, call.role), []).append(call)
        return [
            Row(
                model,
                role,
                len(cs),
                sum(c.prompt_tokens for c in cs),
                sum(c.completion_tokens for c in cs),
                sum(c.cost_usd for c in cs),
                sum(c.duration_s for c in cs),
            )
            for (model, role), cs in sorted(grouped.items(), key=lambda kv: (kv[0][1] != "supervisor", kv[0][0]))
        ]


class Guard:
    """The one place where a run's limits are checked."""

    def __init__(self, limits: Limits, ledger: Ledger, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.ledger = ledger
        self.clock = clock
        self.started = clock()
        self.steps = 0

    def remaining_s(self) -> float:
        """Wall time left before the time limit."""
        return self.limits.max_wall_s - (self.clock() - self.started)

    def check(self, before: str) -> None:
        spent = self.ledger.total_usd
        if spent >= self.limits.budget_usd:
            raise BudgetExceeded(
                f"The budget of {usd(self.limits.budget_usd)} is used up ({usd(spent, places=4)} spent) "
                f"before {before}.",
                spent_usd=spent,
                budget_usd=self.limits.budget_usd,
                hint=f"Run again with a larger budget: `--budget {suggest_budget(spent, self.limits.budget_usd)}`.",
            )
        elapsed = self.clock() - self.started
        if elapsed > self.limits.max_wall_s:
            raise LimitReached(
                f"The time limit of {self.limits.max_wall_s:.0f} s was reached before {before}.",
                limit="time",
                hint="Raise `max_minutes` in .equitr.toml, or split the task.",
            )
        if self.steps >= self.limits.max_steps:
            raise LimitReached(
                f"The step limit of {self.limits.max_steps} was reached before {before}.",
                limit="steps",
                hint="Raise `max_steps` in .equitr.toml, or split the task.",
            )

    def count_step(self) -> None:
        self.steps += 1


def suggest_budget(spent: float, budget: float) -> str:
    """A budget that would likely have been enough: twice what was needed so far, rounded up to a cent-ish."""
    needed = max(spent * 2, budget * 2, 0.05)
    return f"{needed:.2f}"
