"""The trigger label (`[trigger] label` of `.equitr.toml`, default `equitr`) added to an issue means
`/equitr fix`. Which label that is depends on the repository's configuration, which a pure decision cannot
read: with no fixed label, every added label is a candidate Trigger and the dispatcher compares it with the
repository's setting before anything else (no permission check, no reply for other labels)."""

from __future__ import annotations

import datetime as dt

from gidgethub import sansio
from gidgethub.routing import Router

from equitr.events.context import Routed
from equitr.events.decisions import Fields, Identity, Ignored, Trigger, installation_id, is_from_bot, repo_name

router = Router()


@router.register("issues", action="labeled")
async def on_labeled(event: sansio.Event, routed: Routed) -> None:
    routed.add(
        decide(Fields(event.data), label=routed.trigger_label, identity=routed.identity, not_before=routed.not_before)
    )


def decide(
    payload: Fields, *, label: str | None, identity: Identity, not_before: dt.datetime | None = None
) -> Trigger | Ignored | None:
    """`label`: the trigger label, or None to compare with the repository's setting later."""
    added = payload.obj("label").text("name")
    issue = payload.obj("issue")
    repo = repo_name(payload)
    number = issue.number("number")
    if added is None or repo is None or number is None:
        return None
    if label is not None and added.casefold() != label.casefold():
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
        label=added,
        default_branch=payload.obj("repository").text("default_branch"),
        args={
            "text": "",
            "title": issue.text("title") or "",
            "issue_body": issue.text("body") or "",
            "via": "label",
            "trigger_at": issue.text("updated_at"),  # the thread the model sees ends when the label came
        },
    )
