"""What a routed handler receives besides the event: who equitr is, and where decisions go."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.triggers import Decision, Identity


@dataclass(slots=True)
class Routed:
    identity: Identity
    trigger_label: str = "equitr"
    decisions: list[Decision] = field(default_factory=list)
