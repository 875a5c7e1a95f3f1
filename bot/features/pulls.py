"""Automatic review when a pull request is opened, marked ready for review, or gets new commits."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from bot.features.context import Routed
from bot.triggers import Fields, Identity, Trigger, installation_id, is_from_bot, repo_name

router = Router()
REVIEW_ACTIONS = frozenset({"opened", "ready_for_review", "synchronize", "reopened"})


@router.register("pull_request")
async def on_pull_request(event: sansio.Event, routed: Routed) -> None:
    trigger = decide(Fields(event.data), identity=routed.identity)
    if trigger is not None:
        routed.decisions.append(trigger)


def decide(payload: Fields, *, identity: Identity) -> Trigger | None:
    action = payload.text("action")
    if action not in REVIEW_ACTIONS:
        return None
    pr = payload.obj("pull_request")
    repo = repo_name(payload)
    number = pr.number("number")
    sha = pr.obj("head").text("sha")
    if repo is None or number is None or sha is None:
        return None
    # Drafts and bot-authored PRs (dependabot, equitr itself) are skipped by default.
    if pr.flag("draft") or pr.text("state") == "closed" or pr.obj("user").text("type") == "Bot":
        return None
    if is_from_bot(payload, identity):
        return None
    return Trigger(
        kind="review",
        repo=repo,
        number=number,
        requester=pr.obj("user").text("login") or "",
        installation_id=installation_id(payload),
        # Automatic reviews are the repository's choice (installing the App), not the author's request.
        needs_permission=False,
        is_pull_request=True,
        dedupe_keys=(f"review:{repo}#{number}@{sha}",),
        args={"head_sha": sha, "auto": True, "action": action, "title": pr.text("title") or ""},
    )
