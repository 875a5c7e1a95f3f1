"""The trigger label (default `equitr`) added to an issue means `/equitr fix`."""

from __future__ import annotations

import datetime as dt

from gidgethub import sansio
from gidgethub.routing import Router

from bot.features.context import Routed
from bot.triggers import Fields, Identity, Ignored, Trigger, installation_id, is_from_bot, repo_name

router = Router()


@router.register("issues", action="labeled")
async def on_labeled(event: sansio.Event, routed: Routed) -> None:
    trigger = decide(
        Fields(event.data), label=routed.trigger_label, identity=routed.identity, not_before=routed.not_before
    )
    if trigger is not None:
        routed.decisions.append(trigger)


def decide(
    payload: Fields, *, label: str, identity: Identity, not_before: dt.datetime | None = None
) -> Trigger | Ignored | None:
    added = payload.obj("label").text("name")
    issue = payload.obj("issue")
    repo = repo_name(payload)
    number = issue.number("number")
    if added is None or added.casefold() != label.casefold() or repo is None or number is None:
        return None
    if issue.text("state") == "closed" or is_from_bot(payload, identity):
        return None
    # Adding a label updates the issue, so `updated_at` is when the label came.
    labeled_at = issue.time("updated_at")
    if labeled_at is not None and not_before is not None and labeled_at < not_before:
        return Ignored(f"the label was added on {labeled_at:%Y-%m-%d}, before the oldest delivery equitr remembers")
    return Trigger(
        kind="fix",
        repo=repo,
        number=number,
        requester=payload.obj("sender").text("login") or "",
        installation_id=installation_id(payload),
        # Adding a label takes only triage permission, so the labeler must be checked like a commenter.
        needs_permission=True,
        dedupe_keys=(f"label:{repo}#{number}:{issue.text('updated_at') or ''}",),
        args={
            "text": "",
            "title": issue.text("title") or "",
            "issue_body": issue.text("body") or "",
            "via": "label",
            "trigger_at": issue.text("updated_at"),  # the thread the model sees ends when the label came
        },
    )
