"""What a routed handler receives besides the event: who equitr is, and where decisions go."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from equitr.events.decisions import Decision, Identity


@dataclass(slots=True)
class Routed:
    identity: Identity
    trigger_label: str | None = None  # None: each repository's `[trigger] label`, checked by the dispatcher
    # Events made before this are replays: their dedupe keys have expired, so dedupe cannot tell (O2).
    not_before: dt.datetime | None = None
    decisions: list[Decision] = field(default_factory=list)

    def add(self, decision: Decision | None) -> None:
        """Keep what a handler's pure `decide` made of the event; None: the event asks for nothing."""
        if decision is not None:
            self.decisions.append(decision)
