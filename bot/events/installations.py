"""`installation` and `installation_repositories` events are recorded, never turned into work."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from equitr.events.context import Routed
from equitr.events.decisions import Fields, Installation

router = Router()


@router.register("installation")
@router.register("installation_repositories")
@router.register("installation_target")
async def on_installation(event: sansio.Event, routed: Routed) -> None:
    routed.add(decide(Fields(event.data)))


def decide(payload: Fields) -> Installation | None:
    inst = payload.obj("installation")
    inst_id = inst.number("id")
    if inst_id is None:
        return None
    account = inst.obj("account") or payload.obj("account")
    repos = [
        name
        for key in ("repositories", "repositories_added")
        for r in payload.objs(key)
        if (name := r.text("full_name"))
    ]
    return Installation(
        installation_id=inst_id,
        account=account.text("login") or "",
        action=payload.text("action") or "",
        repos=tuple(repos),
    )
