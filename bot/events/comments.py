"""`/equitr …` commands in issue and pull-request comments."""

from __future__ import annotations

import datetime as dt

from gidgethub import sansio
from gidgethub.routing import Router

from equitr.errors import CommandError
from equitr.events import commands
from equitr.events.context import Routed
from equitr.events.decisions import (
    Decision,
    Fields,
    Identity,
    Ignored,
    Notice,
    Trigger,
    installation_id,
    is_from_bot,
    repo_name,
)

router = Router()
MARKER = "<!-- equitr:"


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, routed: Routed) -> None:
    payload = Fields(event.data)
    routed.add(decide(payload, delivery_id=event.delivery_id, identity=routed.identity, not_before=routed.not_before))


def decide(
    payload: Fields, *, delivery_id: str, identity: Identity, not_before: dt.datetime | None = None
) -> Decision | None:
    comment = payload.obj("comment")
    issue = payload.obj("issue")
    body = comment.text("body")
    repo = repo_name(payload)
    number = issue.number("number")
    if body is None or repo is None or number is None:
        return None
    if MARKER in body or is_from_bot(payload, identity) or not commands.is_command(body):
        return None
    created = comment.time("created_at")
    if created is not None and not_before is not None and created < not_before:
        return Ignored(f"the comment was made on {created:%Y-%m-%d}, before the oldest delivery equitr remembers")
    requester = payload.obj("sender").text("login") or comment.obj("user").text("login") or ""
    try:
        command = commands.parse(body)
    except CommandError as exc:
        return Notice(
            repo=repo,
            number=number,
            requester=requester,
            installation_id=installation_id(payload),
            body=f"@{requester} {exc.message}\n\n{exc.hint or ''}".strip(),
        )
    if command is None:
        return None
    comment_id = comment.number("id")
    return Trigger(
        kind=command.name,
        repo=repo,
        number=number,
        requester=requester,
        installation_id=installation_id(payload),
        needs_permission=commands.COMMANDS[command.name].needs_write,
        comment_id=comment_id,
        is_pull_request=issue.has("pull_request"),
        dedupe_keys=(f"comment:{comment_id}",) if comment_id else (),
        args={
            "text": command.text,
            "budget_usd": command.budget_usd,
            "model": command.model,
            "worker_model": command.worker_model,
            "title": issue.text("title") or "",
            # The issue as it was when the command came; later edits are not part of the request.
            "issue_body": issue.text("body") or "",
            # The thread the model sees ends here: later comments, and comments edited later, are left out.
            "trigger_at": comment.text("created_at"),
        },
    )
