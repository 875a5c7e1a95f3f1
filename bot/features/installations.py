"""`installation` and `installation_repositories` events are recorded, never turned into work."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.features.context import Routed
from bot.triggers import Installation

router = Router()


@router.register("installation")
@router.register("installation_repositories")
@router.register("installation_target")
async def on_installation(event: sansio.Event, routed: Routed) -> None:
    record = decide(event.data)
    if record is not None:
        routed.decisions.append(record)


def decide(payload: dict[str, Any]) -> Installation | None:
    inst = payload.get("installation") or {}
    if not isinstance(inst.get("id"), int):
        return None
    account = (inst.get("account") or payload.get("account") or {}).get("login", "")
    repos = [
        r.get("full_name", "")
        for key in ("repositories", "repositories_added")
        for r in payload.get(key) or []
        if isinstance(r, dict)
    ]
    return Installation(
        installation_id=int(inst["id"]),
        account=str(account),
        action=str(payload.get("action", "")),
        repos=tuple(r for r in repos if r),
    )
