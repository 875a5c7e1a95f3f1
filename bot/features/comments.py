"""`/equitr …` commands in issue and pull-request comments."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot import commands
from bot.errors import CommandError
from bot.features.context import Routed
from bot.triggers import Decision, Identity, Notice, Trigger, installation_id, is_from_bot, repo_name

router = Router()
MARKER = "<!-- equitr:"


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, routed: Routed) -> None:
    decision = decide(event.data, delivery_id=event.delivery_id, identity=routed.identity)
    if decision is not None:
        routed.decisions.append(decision)


def decide(payload: dict[str, Any], *, delivery_id: str, identity: Identity) -> Decision | None:
    comment = payload.get("comment") or {}
    issue = payload.get("issue") or {}
    body = comment.get("body")
    repo = repo_name(payload)
    if not isinstance(body, str) or repo is None or not isinstance(issue.get("number"), int):
        return None
    if MARKER in body or is_from_bot(payload, identity) or not commands.is_command(body):
        return None
    requester = str((payload.get("sender") or comment.get("user") or {}).get("login", ""))
    number = int(issue["number"])
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
    comment_id = comment.get("id") if isinstance(comment.get("id"), int) else None
    return Trigger(
        kind=command.name,
        repo=repo,
        number=number,
        requester=requester,
        installation_id=installation_id(payload),
        needs_permission=True,
        comment_id=comment_id,
        is_pull_request=bool(issue.get("pull_request")),
        dedupe_keys=(f"comment:{comment_id}",) if comment_id else (),
        args={
            "text": command.text,
            "budget_usd": command.budget_usd,
            "model": command.model,
            "worker_model": command.worker_model,
            "title": issue.get("title") or "",
            # The issue as it was when the command came; later edits are not part of the request.
            "issue_body": issue.get("body") or "",
        },
    )
