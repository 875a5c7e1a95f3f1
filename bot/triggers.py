"""What an event asks of equitr, decided by pure functions in the feature modules.

A `Trigger` becomes a job once the requester is authorised; a `Notice` is a one-off reply (usage help for a
mistyped command, the polite refusal) that is not a job. `Seen` records an event that needs no work but is
worth remembering (installations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str
    repo: str
    number: int
    requester: str
    installation_id: int | None
    needs_permission: bool
    comment_id: int | None = None
    is_pull_request: bool = False
    dedupe_keys: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notice:
    repo: str
    number: int
    requester: str
    installation_id: int | None
    body: str
    needs_permission: bool = True
    once_key: str | None = None


@dataclass(frozen=True, slots=True)
class Installation:
    installation_id: int
    account: str
    action: str
    repos: tuple[str, ...] = ()


Decision = Trigger | Notice | Installation


@dataclass(frozen=True, slots=True)
class Identity:
    """Who equitr itself is on GitHub, so that its own comments never trigger it."""

    app_id: int | None = None
    logins: frozenset[str] = frozenset({"equitr[bot]"})


def is_from_bot(payload: dict[str, Any], identity: Identity) -> bool:
    """Bots and equitr's own App never start work (loop guard)."""
    sender = payload.get("sender") or {}
    if sender.get("type") == "Bot" or str(sender.get("login", "")).lower() in identity.logins:
        return True
    comment = payload.get("comment") or {}
    user = comment.get("user") or {}
    if user.get("type") == "Bot":
        return True
    via = comment.get("performed_via_github_app") or {}
    return identity.app_id is not None and via.get("id") == identity.app_id


def repo_name(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) and "/" in name else None


def installation_id(payload: dict[str, Any]) -> int | None:
    inst = payload.get("installation")
    value = inst.get("id") if isinstance(inst, dict) else None
    return value if isinstance(value, int) else None
