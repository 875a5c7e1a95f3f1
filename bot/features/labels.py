"""The trigger label (default `equitr`) added to an issue means `/equitr fix`."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.features.context import Routed
from bot.triggers import Identity, Trigger, installation_id, is_from_bot, repo_name

router = Router()


@router.register("issues", action="labeled")
async def on_labeled(event: sansio.Event, routed: Routed) -> None:
    trigger = decide(event.data, label=routed.trigger_label, identity=routed.identity)
    if trigger is not None:
        routed.decisions.append(trigger)


def decide(payload: dict[str, Any], *, label: str, identity: Identity) -> Trigger | None:
    added = (payload.get("label") or {}).get("name")
    issue = payload.get("issue") or {}
    repo = repo_name(payload)
    if not isinstance(added, str) or added.casefold() != label.casefold() or repo is None:
        return None
    if not isinstance(issue.get("number"), int) or issue.get("state") == "closed" or is_from_bot(payload, identity):
        return None
    number = int(issue["number"])
    return Trigger(
        kind="fix",
        repo=repo,
        number=number,
        requester=str((payload.get("sender") or {}).get("login", "")),
        installation_id=installation_id(payload),
        # Adding a label takes only triage permission, so the labeler must be checked like a commenter.
        needs_permission=True,
        dedupe_keys=(f"label:{repo}#{number}:{issue.get('updated_at', '')}",),
        args={"text": "", "title": issue.get("title") or "", "issue_body": issue.get("body") or "", "via": "label"},
    )
