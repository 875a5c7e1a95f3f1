"""The vendored webhook payload examples (`tests/data/webhooks/`), with their event names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEBHOOKS_DIR = Path(__file__).resolve().parent.parent / "data" / "webhooks"


@dataclass(frozen=True)
class WebhookExample:
    event: str  # the X-GitHub-Event header value
    action: str | None
    path: Path

    @property
    def body(self) -> bytes:
        return self.path.read_bytes()

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def id(self) -> str:
        return f"{self.event}/{self.path.stem}"


def webhook_examples() -> list[WebhookExample]:
    """All 329 github.com examples, in the package's order (use `.id` as a pytest id)."""
    index = json.loads((WEBHOOKS_DIR / "index.json").read_text())
    return [WebhookExample(entry["event"], entry["action"], WEBHOOKS_DIR / entry["path"]) for entry in index]


def webhook_example(event: str, action: str | None = None) -> WebhookExample:
    """The first example of `event` (with `action`, when given)."""
    for example in webhook_examples():
        if example.event == event and (action is None or example.action == action):
            return example
    raise LookupError(f"no vendored example for {event} {action or ''}".strip())


def iter_payloads(event: str) -> Iterator[dict[str, Any]]:
    for example in webhook_examples():
        if example.event == event:
            yield example.payload()
