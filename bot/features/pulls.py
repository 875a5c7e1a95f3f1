"""Automatic review when a pull request is opened, marked ready for review, or gets new commits."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.features.context import Routed
from bot.triggers import Identity, Trigger, installation_id, is_from_bot, repo_name

router = Router()
REVIEW_ACTIONS = frozenset({"opened", "ready_for_review", "synchronize", "reopened"})


@router.register("pull_request")
async def on_pull_request(event: sansio.Event, routed: Routed) -> None:
    trigger = decide(event.data, identity=routed.identity)
    if trigger is not None:
        routed.decisions.append(trigger)


def decide(payload: dict[str, Any], *, identity: Identity) -> Trigger | None:
    if payload.get("action") not in REVIEW_ACTIONS:
        return None
    pr = payload.get("pull_request") or {}
    repo = repo_name(payload)
    head = pr.get("head") or {}
    sha = head.get("sha")
    if repo is None or not isinstance(pr.get("number"), int) or not isinstance(sha, str):
        return None
    # Drafts and bot-authored PRs (dependabot, equitr itself) are skipped by default.
    if pr.get("draft") or pr.get("state") == "closed" or (pr.get("user") or {}).get("type") == "Bot":
        return None
    if is_from_bot(payload, identity):
        return None
    number = int(pr["number"])
    return Trigger(
        kind="review",
        repo=repo,
        number=number,
        requester=str((pr.get("user") or {}).get("login", "")),
        installation_id=installation_id(payload),
        # Automatic reviews are the repository's choice (installing the App), not the author's request.
        needs_permission=False,
        is_pull_request=True,
        dedupe_keys=(f"review:{repo}#{number}@{sha}",),
        args={"head_sha": sha, "auto": True, "action": payload.get("action"), "title": pr.get("title") or ""},
    )
